"""Small generated rasters for the prior tests."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

UTM = CRS.from_epsg(32617)
ALBERS = CRS.from_epsg(5070)

WriteRaster = Callable[..., Path]


def write_raster(
    path: Path,
    data: np.ndarray,
    crs: CRS = UTM,
    origin: tuple[float, float] = (500_000.0, 4_400_000.0),
    resolution: float = 1.0,
    nodata: float | None = None,
) -> Path:
    """Write a single- or multi-band GeoTIFF."""
    array = data[None] if data.ndim == 2 else data
    profile = {
        'driver': 'GTiff',
        'width': array.shape[2],
        'height': array.shape[1],
        'count': array.shape[0],
        'dtype': array.dtype,
        'crs': crs,
        'transform': from_origin(*origin, resolution, resolution),
    }
    if nodata is not None:
        profile['nodata'] = nodata
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(array)
    return path


@pytest.fixture
def raster(tmp_path: Path) -> WriteRaster:
    """Write a raster named ``name`` into the test's folder."""

    def write(name: str, data: np.ndarray, **kwargs: object) -> Path:
        return write_raster(tmp_path / name, data, **kwargs)  # type: ignore[arg-type]

    return write


def blocky_codes(
    shape: tuple[int, int], block: int, codes: list[int], seed: int = 0
) -> np.ndarray:
    """Coarse-looking codes: random codes repeated in block x block squares."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(codes, size=(-(-shape[0] // block), -(-shape[1] // block)))
    fine = np.repeat(np.repeat(coarse, block, 0), block, 1)
    return np.ascontiguousarray(fine[: shape[0], : shape[1]]).astype(np.uint8)

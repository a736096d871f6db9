"""Writing small generated GeoTIFFs for tests."""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin


def write_geotiff(
    path: Path,
    data: np.ndarray,
    x: float = 500_000.0,
    y: float = 4_400_000.0,
    res: float = 1.0,
    crs: str = 'EPSG:32617',
) -> Path:
    """Write a (bands, H, W) or (H, W) array with its top-left corner at (x, y)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype,
        crs=crs,
        transform=from_origin(x, y, res, res),
    ) as dst:
        dst.write(array)
    return path

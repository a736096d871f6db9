"""A two-tile scene on disk for the generic data module's tests, and its options.

Two 150 px imagery tiles side by side (each with a nodata corner), their high-res
labels, and a 30 m NLCD raster covering both, in UTM 17N.
"""

from pathlib import Path

import numpy as np
import rasterio

from tests.rasters import write_geotiff
from torchgeo_lsr.datamodules import LSRDataModule

X0, Y0 = 500_000.0, 4_400_000.0
TILE = 150


def write(path: Path, data: np.ndarray, x: float, y: float, res: float = 1.0) -> Path:
    return write_geotiff(path, data, x, y, res)


def make_two_tiles(root: Path) -> Path:
    """Write the scene under ``root`` (``naip/``, ``lc/``, ``nlcd/``)."""
    rng = np.random.default_rng(0)
    nlcd = rng.choice(np.array([11, 21, 22, 41, 81], np.uint8), (6, 11))
    write(root / 'nlcd' / 'nlcd.tif', nlcd, X0 - 15, Y0 + 15, res=30.0)
    for i in range(2):
        x = X0 + i * TILE
        image = rng.integers(1, 255, (4, TILE, TILE), dtype=np.uint8)
        image[:, :5, :5] = 0  # nodata corner
        labels = rng.choice(np.array([10, 20, 30, 40, 70, 0], np.uint8), (TILE, TILE))
        write(root / 'naip' / f'tile_{i}.tif', image, x, Y0)
        write(root / 'lc' / f'tile_{i}.tif', labels, x, Y0)
    return root


def datamodule(scene: Path, **kwargs: object) -> LSRDataModule:
    """The data module on the scene (small blur and patches; overrides in kwargs)."""
    options: dict[str, object] = {
        'image_paths': scene / 'naip',
        'coarse_paths': scene / 'nlcd',
        'label_paths': scene / 'lc',
        'cooccurrence': 'enviroatlas-pittsburgh',
        'prior_sigma': 4.0,
        'prior_kernel_size': 9,
        'batch_size': 3,
        'patch_size': 32,
        'context': 0,
        'length': 6,
    }
    options.update(kwargs)
    return LSRDataModule(**options)  # type: ignore[arg-type]


def road_and_building_files(scene: Path, tmp_path: Path) -> dict[str, Path]:
    """A road across both tiles and a building on their shared edge, as GeoPackages."""
    import geopandas
    from shapely.geometry import LineString, box

    geopandas.GeoDataFrame(
        geometry=[LineString([(X0, Y0 - 40.5), (X0 + 2 * TILE, Y0 - 40.5)])],
        crs='EPSG:32617',
    ).to_file(tmp_path / 'roads.gpkg')
    geopandas.GeoDataFrame(
        geometry=[box(X0 + 140, Y0 - 80, X0 + 160, Y0 - 60)], crs='EPSG:32617'
    ).to_file(tmp_path / 'buildings.gpkg')
    return {'roads': tmp_path / 'roads.gpkg', 'buildings': tmp_path / 'buildings.gpkg'}


def as_rasters(scene: Path, vectors: dict[str, Path], out: Path) -> dict[str, Path]:
    """The vector layers rasterised (with the paper's rules) on each imagery tile."""
    from torchgeo_lsr.datasets.vectors import rasterize_layer

    folders = {}
    for name, path in vectors.items():
        for i in range(2):
            with rasterio.open(scene / 'naip' / f'tile_{i}.tif') as src:
                layer = rasterize_layer(
                    path, name, src.crs, src.transform, src.width, src.height
                )
                x, y = src.transform.c, src.transform.f
            write(out / name / f'tile_{i}.tif', layer, x, y)
        folders[name] = out / name
    return folders

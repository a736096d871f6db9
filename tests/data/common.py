"""Shared pieces of the fixture generators: scene tiles -> prepared-data-set tiles.

Each fixture is built from tiles of the generated scene
(:func:`torchgeo_lsr.datasets.make_scene`), so imagery, labels, NLCD and vectors are
consistent, then rewritten in a real data set's file layout.
"""

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS

from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.datasets.vectors import rasterize_layer
from torchgeo_lsr.priors.layers import labels_on_grid

#: Blur of the fixtures' stored priors (small, so tiles of 128 px have an inside).
SIGMA = 5.0
KERNEL = 21

#: Side of every fixture tile in pixels.
SIZE = 128

LAYERS = ('buildings', 'roads', 'waterways', 'waterbodies')


def scene_tiles(work: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """Generate ``count`` scene tiles side by side.

    Args:
        work: scratch folder.
        count: number of tiles.
        seed: scene seed.

    Returns:
        Per tile: ``naip``, ``lc``, ``nlcd`` (30 m) paths and the 0/1 layers
        (arrays on the tile grid, rasterised with the paper's rules) and profile.
    """
    manifest = make_scene(work, size=SIZE, tiles=count, seed=seed, calibrate=False)
    tiles = []
    for naip, lc, nlcd in zip(
        manifest.naip_paths, manifest.lc_paths, manifest.nlcd_paths, strict=True
    ):
        with rasterio.open(naip) as src:
            profile = src.profile
            layers = {
                name: rasterize_layer(
                    manifest.vector_path(name),
                    name,
                    src.crs,
                    src.transform,
                    src.width,
                    src.height,
                )
                for name in LAYERS
            }
            with (
                rasterio.open(nlcd) as coarse,
                labels_on_grid(
                    coarse, src.crs, src.transform, src.width, src.height
                ) as vrt,
            ):
                nlcd_codes = np.nan_to_num(vrt.read(1), nan=0).astype(np.uint8)
        tiles.append(
            {
                'naip': Path(naip),
                'lc': Path(lc),
                'nlcd': Path(nlcd),
                'nlcd_codes': nlcd_codes,
                'layers': layers,
                'profile': profile,
            }
        )
    return tiles


def write_band(
    path: Path, array: np.ndarray, profile: dict[str, Any], crs: CRS
) -> None:
    """Write a uint8 raster (one band or several) on a tile's grid.

    Args:
        path: output file.
        array: (H, W) or (C, H, W) uint8 data.
        profile: the tile's profile.
        crs: CRS label to write (fixtures relabel the scene's UTM zone).
    """
    data = array[None] if array.ndim == 2 else array
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {
        **profile,
        'count': data.shape[0],
        'dtype': 'uint8',
        'nodata': None,
        'crs': crs,
        'compress': 'deflate',
    }
    with rasterio.open(path, 'w', **out) as dst:
        dst.write(data.astype(np.uint8))


def copy_raster(source: Path, path: Path, crs: CRS) -> None:
    """Copy a raster, relabelling its CRS.

    Args:
        source: input raster.
        path: output file.
        crs: CRS to write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(source) as src:
        data = src.read()
        profile = {**src.profile, 'crs': crs, 'nodata': None}
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)


def write_index(path: Path, rows: list[dict[str, Any]], crs: CRS) -> None:
    """Write a TorchGeo-style ``spatial_index.geojson`` (EPSG:3857).

    Args:
        path: output file.
        rows: ``split`` and layer columns per feature, plus ``bounds`` in ``crs``.
        crs: CRS of the bounds.
    """
    import geopandas
    import shapely

    frame = geopandas.GeoDataFrame(
        [{k: v for k, v in row.items() if k != 'bounds'} for row in rows],
        geometry=[shapely.box(*row['bounds']) for row in rows],
        crs=crs,
    ).to_crs('EPSG:3857')
    frame.to_file(path, driver='GeoJSON')


def clean(path: Path) -> None:
    """Remove a folder if it exists.

    Args:
        path: the folder.
    """
    if path.exists():
        shutil.rmtree(path)


def write_stored_prior(
    path: Path, prior: np.ndarray, valid: np.ndarray, profile: dict[str, Any], crs: CRS
) -> None:
    """Write a prior as the data sets store it: uint8 floor(255 p), nodata masked.

    The priors come from :func:`tests.reference_prior.paper_prior`, an independent
    implementation of REFERENCE §2.3, so tests comparing these stored priors with
    the package's on-the-fly priors are not circular (issue 16).

    Args:
        path: output file.
        prior: (C, H, W) prior.
        valid: (H, W) validity.
        profile: the tile's profile.
        crs: CRS label to write.
    """
    scaled = np.floor(np.clip(prior, 0, 1) * 255).astype(np.uint8)
    write_band(path, scaled, profile, crs)
    with rasterio.open(path, 'r+') as dst:
        dst.write_mask(valid.astype(np.uint8) * 255)

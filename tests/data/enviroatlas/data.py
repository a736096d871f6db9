#!/usr/bin/env python3
"""Generate a small EnviroAtlas in TorchGeo's on-disk layout (``enviroatlas_lotp``).

Tiles of 128 px come from the generated scene; every layer of the real data set is
written: ``a_naip``, ``b_nlcd`` (NLCD class indices 0..16 at 1 m; test tiles have
``NODATA_ROWS`` rows of nodata on top), ``c_roads``, ``d1_waterways``,
``d2_waterbodies``, ``d_water``, ``e_buildings`` (0/1, rasterised with the paper's
rules), ``h_highres_labels`` (EnviroAtlas codes, with a patch of shrubs), and the
two stored priors (uint8 = floor(255 p), built from the scene's NLCD and layers with
the city's bundled co-occurrence matrix and a blur of ``SIGMA`` / ``KERNEL`` by the
independent reference implementation :mod:`tests.reference_prior`, not by the
package), plus ``spatial_index.geojson``. Run it to write the fixture into a
folder: ``python tests/data/enviroatlas/data.py OUT``.
"""

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS

from tests.data.common import (
    KERNEL,
    SIGMA,
    clean,
    copy_raster,
    scene_tiles,
    write_band,
    write_index,
    write_stored_prior,
)
from tests.reference_prior import prior_of_codes
from torchgeo_lsr.priors import load_cooccurrence
from torchgeo_lsr.schemes import SCHEMES

#: city -> (EPSG, seed, {split: tile count}).
CITIES = {
    'pittsburgh_pa-2010_1m': (26917, 11, {'train': 1, 'val': 1, 'test': 2, 'val5': 1}),
    'durham_nc-2012_1m': (26917, 12, {'test': 1, 'val5': 1}),
}

_SUFFIX = {
    'naip': 'a_naip',
    'nlcd': 'b_nlcd',
    'roads': 'c_roads',
    'water': 'd_water',
    'waterways': 'd1_waterways',
    'waterbodies': 'd2_waterbodies',
    'buildings': 'e_buildings',
    'lc': 'h_highres_labels',
    'prior': 'prior_from_cooccurrences_101_31',
    'prior_no_osm_no_buildings': 'prior_from_cooccurrences_101_31_no_osm_no_buildings',
}

#: Rows at the top of each test tile whose NLCD is nodata.
NODATA_ROWS = 8

_NLCD_INDEX = {code: index + 1 for index, code in enumerate(SCHEMES['nlcd'].codes)}


def generate(root: Path) -> Path:
    """Write the fixture under ``root/enviroatlas_lotp``.

    Args:
        root: the data module's ``root``.

    Returns:
        ``root``.
    """
    with warnings.catch_warnings():
        # Tiny tiles miss most buildings: "no features over the output area".
        warnings.simplefilter('ignore', UserWarning)
        return _generate(root)


def _generate(root: Path) -> Path:
    """Write the fixture (see :func:`generate`).

    Args:
        root: the data module's ``root``.

    Returns:
        ``root``.
    """
    folder = root / 'enviroatlas_lotp'
    clean(folder)
    rows = []
    for city, (epsg, seed, splits) in CITIES.items():
        crs = CRS.from_epsg(epsg)
        with tempfile.TemporaryDirectory() as work:
            tiles = scene_tiles(Path(work), sum(splits.values()), seed)
            short = city.split('_')[0]
            matrix = load_cooccurrence(f'enviroatlas-{short}')
            names = [s for s, n in splits.items() for _ in range(n)]
            for number, (split, tile) in enumerate(zip(names, tiles, strict=True)):
                sub = f'{city}-{split}_tiles-debuffered'
                stem = f'{3900000 + 10 * seed + number}_nw'
                files = {k: f'{sub}/{stem}_{v}.tif' for k, v in _SUFFIX.items()}
                paths = {k: folder / v for k, v in files.items()}
                copy_raster(tile['naip'], paths['naip'], crs)
                if split == 'test':
                    # An NLCD nodata band under the layers (REFERENCE §2.3: their
                    # evidence is added before the no-data mass is dropped).
                    tile['nlcd_codes'][:NODATA_ROWS] = 0
                index = np.vectorize(lambda c: _NLCD_INDEX.get(int(c), 0))(
                    tile['nlcd_codes']
                )
                write_band(paths['nlcd'], index, tile['profile'], crs)
                for name, array in tile['layers'].items():
                    write_band(paths[name], array, tile['profile'], crs)
                water = np.maximum(
                    tile['layers']['waterways'], tile['layers']['waterbodies']
                )
                write_band(paths['water'], water, tile['profile'], crs)
                with rasterio.open(tile['lc']) as src:
                    labels = src.read(1)
                if number == 0:
                    # A patch of shrubs: trees in priors, ignored in evaluation.
                    patch = labels[:32, :32]
                    patch[patch == 40] = 52
                write_band(paths['lc'], labels, tile['profile'], crs)
                for key, used in (
                    ('prior', tile['layers']),
                    ('prior_no_osm_no_buildings', None),
                ):
                    prior, valid = prior_of_codes(
                        tile['nlcd_codes'],
                        matrix.matrix,
                        matrix.coarse_codes,
                        SIGMA,
                        KERNEL,
                        used,
                    )
                    write_stored_prior(paths[key], prior, valid, tile['profile'], crs)
                with rasterio.open(paths['naip']) as src:
                    bounds = tuple(src.bounds)
                rows.append(
                    {'split': f'{city}-{split}', **files, 'bounds': bounds, 'crs': crs}
                )
    for crs in {row['crs'] for row in rows}:
        write_index(
            folder / f'_index_{crs.to_epsg()}.geojson',
            [
                {k: v for k, v in r.items() if k != 'crs'}
                for r in rows
                if r['crs'] == crs
            ],
            crs,
        )
    _merge_indexes(folder)
    return root


def _merge_indexes(folder: Path) -> None:
    """Merge per-CRS indexes into ``spatial_index.geojson``.

    Args:
        folder: the data set's folder.
    """
    import geopandas
    import pandas

    parts = sorted(folder.glob('_index_*.geojson'))
    frame = pandas.concat([geopandas.read_file(p) for p in parts], ignore_index=True)
    geopandas.GeoDataFrame(frame, crs='EPSG:3857').to_file(
        folder / 'spatial_index.geojson', driver='GeoJSON'
    )
    for part in parts:
        part.unlink()


if __name__ == '__main__':
    generate(Path(sys.argv[1] if len(sys.argv) > 1 else '.'))

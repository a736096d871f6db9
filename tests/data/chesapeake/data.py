#!/usr/bin/env python3
"""Generate a small ChesapeakeCVPR in TorchGeo's on-disk layout.

Tiles of 128 px come from the generated scene, per state and split
(``<state>_1m_2013_extended-debuffered-<split>_tiles/<tile>_<layer>.tif``):
``naip-new``, ``nlcd`` (raw NLCD codes at 1 m), ``lc`` (Chesapeake Conservancy codes
1-6 with roads as 6 and barren as 4), ``buildings``, and the prior extension's
``prior_from_cooccurrences_101_31_no_osm_no_buildings`` (4 bands, uint8 =
floor(255 p), NLCD-only, from co-occurrences of the state's train tiles and a blur
of ``SIGMA`` / ``KERNEL``, by the independent reference :mod:`tests.reference_prior`,
not by the package), plus ``spatial_index.geojson``. Run it to write the
fixture into a folder: ``python tests/data/chesapeake/data.py OUT``.
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
    copy_raster,
    scene_tiles,
    write_band,
    write_index,
    write_stored_prior,
)
from tests.reference_prior import prior_of_codes
from torchgeo_lsr.priors.cooccurrence import estimate_cooccurrence

#: state -> (seed, {split: tile count}); all in UTM 18N as NY, PA and DE are.
STATES = {
    'ny': (21, {'train': 1, 'val': 1, 'test': 2}),
    'pa': (22, {'train': 1, 'test': 1}),
    'de': (23, {'train': 1, 'test': 1}),
}
CRS_18N = CRS.from_epsg(26918)
PRIOR = 'prior_from_cooccurrences_101_31_no_osm_no_buildings'
LAYERS = ('naip-new', 'nlcd', 'lc', 'buildings', PRIOR)

#: EnviroAtlas code -> Chesapeake Conservancy code.
_TO_CHESAPEAKE = {10: 1, 40: 2, 52: 2, 70: 3, 30: 4, 20: 5}


def generate(root: Path) -> Path:
    """Write the fixture into ``root``.

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
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for state, (seed, splits) in STATES.items():
        with tempfile.TemporaryDirectory() as work:
            tiles = scene_tiles(Path(work), sum(splits.values()), seed)
            names = [s for s, n in splits.items() for _ in range(n)]
            written = []
            for number, (split, tile) in enumerate(zip(names, tiles, strict=True)):
                sub = f'{state}_1m_2013_extended-debuffered-{split}_tiles'
                stem = f'm_{3800000 + 10 * seed + number}_ne_18_1'
                files = {k: f'{sub}/{stem}_{k}.tif' for k in LAYERS}
                paths = {k: root / v for k, v in files.items()}
                copy_raster(tile['naip'], paths['naip-new'], CRS_18N)
                write_band(paths['nlcd'], tile['nlcd_codes'], tile['profile'], CRS_18N)
                with rasterio.open(tile['lc']) as src:
                    fine = src.read(1)
                lc = np.zeros_like(fine)
                for code, value in _TO_CHESAPEAKE.items():
                    lc[fine == code] = value
                lc[(lc == 5) & (tile['layers']['roads'] > 0)] = 6
                write_band(paths['lc'], lc, tile['profile'], CRS_18N)
                write_band(
                    paths['buildings'],
                    tile['layers']['buildings'],
                    tile['profile'],
                    CRS_18N,
                )
                with rasterio.open(paths['naip-new']) as src:
                    bounds = tuple(src.bounds)
                rows.append(
                    {
                        'split': f'{state}-{split}',
                        **{k: files[k] for k in LAYERS[:4]},
                        'bounds': bounds,
                    }
                )
                written.append((split, paths))
            matrix = estimate_cooccurrence(
                [(p['nlcd'], p['lc']) for s, p in written if s == 'train'],
                'nlcd',
                'chesapeake',
            )
            # Stored priors by the independent reference (tests.reference_prior):
            # nodata codes 0 and 128 have no column, so they are no-data.
            for (_, paths), tile in zip(written, tiles, strict=True):
                prior, valid = prior_of_codes(
                    tile['nlcd_codes'],
                    matrix.matrix,
                    matrix.coarse_codes,
                    SIGMA,
                    KERNEL,
                )
                write_stored_prior(paths[PRIOR], prior, valid, tile['profile'], CRS_18N)
    # TorchGeo's index has no prior column: the data set derives it from ``lc``.
    write_index(root / 'spatial_index.geojson', rows, CRS_18N)
    return root


if __name__ == '__main__':
    generate(Path(sys.argv[1] if len(sys.argv) > 1 else '.'))

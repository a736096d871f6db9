"""Synthetic label-super-resolution scenes, on disk in the form of real data.

:func:`make_scene` writes a georeferenced scene (UTM zone 17N, 1 m pixels) of one or
more square tiles laid side by side from west to east. Per tile:

* ``naip/tile_{i}.tif``: four-band uint8 imagery (red, green, blue, near-infrared)
  whose colours and textures follow the true classes, with the nuisances of real
  imagery: shadows of buildings and trees, illumination gradients and haze,
  per-object colour variation, textures and sensor noise;
* ``lc/tile_{i}.tif``: 1 m labels in EnviroAtlas codes (10 water, 20 impervious,
  30 barren, 40 trees, 70 grass): towns with street grids, houses and commercial
  cores, main roads, lakes and meandering streams, forests, hedgerows, fields,
  farmsteads, construction sites;
* ``nlcd/tile_{i}.tif``: 30 m NLCD codes derived from the labels by NLCD's cover
  rules (:mod:`~torchgeo_lsr.datasets._scene_nlcd`), aligned with the 1 m grid and
  covering the tile fully, with about 2 % of cells given a neighbour's class.

For the whole scene: ``buildings.gpkg``, ``roads.gpkg``, ``waterways.gpkg`` and
``waterbodies.gpkg`` (misaligned by a few metres, a few buildings missing), and
``manifest.json`` (:class:`~.scene_manifest.SceneManifest`) with the files, class
fractions and calibration figures: the accuracy of the coarse prior's argmax, and
of a simple imagery classifier that sees the labels (see
:mod:`~torchgeo_lsr.datasets._scene_calibration`).

The same seed gives the same arrays; two tiles of 2048 x 2048 take a few seconds.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from tqdm import tqdm

from ..grid import geotiff_profile
from ..io import atomic_path
from ..schemes import SCHEMES
from ._scene_calibration import measure_calibration
from ._scene_fields import scene_rng
from ._scene_geometry import layout_scene
from ._scene_nlcd import NLCD_CELL, add_label_noise, nlcd_from_labels
from ._scene_render import RenderedScene, render_scene
from ._scene_vectors import VECTOR_LAYERS, write_vectors
from .scene_manifest import SCENE_VERSION, SceneManifest, SceneTile

__all__ = ('SCENE_VERSION', 'SceneManifest', 'SceneTile', 'make_scene')

#: CRS of every scene: UTM zone 17N.
SCENE_CRS = 'EPSG:32617'

#: North-west corner of tile 0 (easting, northing), near Durham, North Carolina.
SCENE_ORIGIN = (688_000.0, 3_986_000.0)

#: Smallest tile side accepted.
MIN_SIZE = 64

#: Band names of the imagery.
BANDS = ('red', 'green', 'blue', 'nir')


def make_scene(
    out_dir: str | os.PathLike[str],
    size: int = 2048,
    tiles: int = 2,
    seed: int = 0,
    progress: bool = False,
    *,
    label_noise: float = 0.02,
    calibrate: bool = True,
) -> SceneManifest:
    """Write a synthetic scene: imagery, 1 m labels, NLCD, vectors and a manifest.

    Args:
        out_dir: folder to write into (created; existing scene files are replaced).
        size: tile side in pixels (metres), at least 64.
        tiles: number of tiles, laid side by side from west to east.
        seed: random seed (non-negative); the same seed gives the same arrays.
        progress: show a progress bar.
        label_noise: share of NLCD cells given a neighbour's class (0 for NLCD
            exactly by the rules).
        calibrate: measure the calibration figures (about half the run time for
            large scenes); without, the manifest's calibration is empty.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        TypeError: If size, tiles or seed is not an integer.
        ValueError: For a size below 64, fewer than one tile, a negative seed or a
            label noise outside [0, 1].
        NotADirectoryError: If ``out_dir`` exists and is not a folder.
    """
    _check_arguments(size, tiles, seed, label_noise)
    # Plain Python numbers for the JSON manifest (NumPy integers are accepted).
    size, tiles, seed, label_noise = (
        int(size),
        int(tiles),
        int(seed),
        float(label_noise),
    )
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f'out_dir {str(root)!r} exists and is not a directory')
    root.mkdir(parents=True, exist_ok=True)
    with tqdm(total=tiles + 4, desc='scene', unit='step', disable=not progress) as bar:
        layout = layout_scene(seed, size, tiles)
        bar.update()
        rendered = render_scene(layout, seed, size)
        bar.update()
        written = _write_tiles(root, rendered, size, tiles, seed, label_noise, bar)
        west, north = SCENE_ORIGIN
        pixel_to_map = Affine(1.0, 0.0, west, 0.0, -1.0, north)
        vectors = write_vectors(layout, root, seed, pixel_to_map, SCENE_CRS)
        bar.update()
        figures = (
            measure_calibration(
                [(root / e.nlcd, root / e.lc) for e in written.entries],
                written.labels,
                written.coarse,
                written.imagery,
                seed,
            )
            if calibrate
            else {}
        )
        bar.update()
        manifest = SceneManifest(
            root=root,
            seed=seed,
            size=size,
            tiles=tuple(written.entries),
            crs=SCENE_CRS,
            resolution=1.0,
            coarse_resolution=float(NLCD_CELL),
            label_noise=label_noise,
            changed_cells=round(written.changed / written.cells, 4),
            schemes={'fine': 'enviroatlas', 'coarse': 'nlcd'},
            vectors={name: vectors[name]['path'] for name in VECTOR_LAYERS},
            vector_shifts={
                name: (vectors[name]['shift'][0], vectors[name]['shift'][1])
                for name in VECTOR_LAYERS
            },
            class_fractions={
                'fine': _fractions(written.labels),
                'coarse': _fractions(written.coarse),
            },
            calibration=figures,
        )
        with atomic_path(root / 'manifest.json') as temporary:
            temporary.write_text(json.dumps(manifest.to_dict(), indent=2) + '\n')
        bar.update()
    return manifest


@dataclass
class _WrittenTiles:
    """The tiles :func:`_write_tiles` wrote, and their arrays for the calibration.

    Attributes:
        entries: each tile's files and bounds.
        labels: each tile's 1 m EnviroAtlas codes.
        coarse: each tile's NLCD codes (with label noise).
        imagery: each tile's (4, H, W) imagery.
        changed: NLCD cells the label noise changed, over all tiles.
    """

    entries: list[SceneTile] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    coarse: list[np.ndarray] = field(default_factory=list)
    imagery: list[np.ndarray] = field(default_factory=list)
    changed: int = 0

    @property
    def cells(self) -> int:
        """NLCD cells over all tiles."""
        return sum(codes.size for codes in self.coarse)


def _write_tiles(
    root: Path,
    rendered: RenderedScene,
    size: int,
    tiles: int,
    seed: int,
    label_noise: float,
    bar: 'tqdm[Any]',  # quoted: tqdm is generic only in its type stubs
) -> _WrittenTiles:
    """Cut the rendered scene into tiles, derive their NLCD and write them.

    Args:
        root: scene folder.
        rendered: the whole scene's rasters.
        size: tile side.
        tiles: number of tiles.
        seed: scene seed (of the label noise).
        label_noise: share of NLCD cells given a neighbour's class.
        bar: progress bar, advanced once per tile.

    Returns:
        The tiles written and their arrays.
    """
    west, north = SCENE_ORIGIN
    crs = CRS.from_string(SCENE_CRS)
    noise_rng = scene_rng(seed, 'label-noise')
    written = _WrittenTiles()
    for index in range(tiles):
        columns = slice(index * size, (index + 1) * size)
        fine = np.ascontiguousarray(rendered.labels[:, columns])
        codes, noisy = add_label_noise(
            nlcd_from_labels(
                fine, rendered.forest_type[:, columns], rendered.grass_type[:, columns]
            ),
            label_noise,
            noise_rng,
        )
        written.changed += int(noisy.sum())
        bands = np.ascontiguousarray(rendered.imagery[:, :, columns])
        left = west + index * size
        entry = _write_tile(root, index, bands, fine, codes, left, north, crs)
        written.entries.append(entry)
        written.labels.append(fine)
        written.coarse.append(codes)
        written.imagery.append(bands)
        bar.update()
    return written


def _check_arguments(size: int, tiles: int, seed: int, label_noise: float) -> None:
    """Reject arguments :func:`make_scene` cannot honour.

    Args:
        size: tile side.
        tiles: number of tiles.
        seed: random seed.
        label_noise: share of noisy NLCD cells.

    Raises:
        TypeError: If size, tiles or seed is not an integer.
        ValueError: Naming the offending argument.
    """
    for name, value, least in (
        ('size', size, MIN_SIZE),
        ('tiles', tiles, 1),
        ('seed', seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f'{name} must be an integer, got {value!r}')
        if value < least:
            raise ValueError(f'{name} must be at least {least}, got {value}')
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f'label_noise must be between 0 and 1, got {label_noise}')


def _fractions(arrays: list[np.ndarray]) -> dict[str, float]:
    """Share of each code over several arrays.

    Args:
        arrays: integer arrays.

    Returns:
        ``{code: share}`` with string keys (JSON), rounded to 5 decimals.
    """
    counts: np.ndarray = np.sum(
        [np.bincount(a.ravel(), minlength=256) for a in arrays], axis=0
    )
    total = max(int(counts.sum()), 1)
    return {str(code): round(int(n) / total, 5) for code, n in enumerate(counts) if n}


def _write_tile(
    root: Path,
    index: int,
    imagery: np.ndarray,
    labels: np.ndarray,
    codes: np.ndarray,
    left: float,
    top: float,
    crs: CRS,
) -> SceneTile:
    """Write the three rasters of one tile.

    Args:
        root: scene folder.
        index: tile index.
        imagery: (4, H, W) uint8 imagery.
        labels: (H, W) uint8 EnviroAtlas codes.
        codes: (h, w) uint8 NLCD codes.
        left: western edge (easting).
        top: northern edge (northing).
        crs: the CRS.

    Returns:
        The tile's entry.
    """
    size = labels.shape[0]
    fine = Affine(1.0, 0.0, left, 0.0, -1.0, top)
    coarse = Affine(float(NLCD_CELL), 0.0, left, 0.0, -float(NLCD_CELL), top)
    names = {kind: f'{kind}/tile_{index}.tif' for kind in ('naip', 'lc', 'nlcd')}
    _write_geotiff(root / names['naip'], imagery, fine, crs, descriptions=BANDS)
    _write_geotiff(root / names['lc'], labels[None], fine, crs, scheme='enviroatlas')
    _write_geotiff(root / names['nlcd'], codes[None], coarse, crs, scheme='nlcd')
    extent = codes.shape[1] * NLCD_CELL
    return SceneTile(
        index=index,
        naip=names['naip'],
        lc=names['lc'],
        nlcd=names['nlcd'],
        bounds=(left, top - size, left + size, top),
        nlcd_bounds=(left, top - codes.shape[0] * NLCD_CELL, left + extent, top),
    )


def _write_geotiff(
    path: Path,
    data: np.ndarray,
    transform: Affine,
    crs: CRS,
    descriptions: tuple[str, ...] = (),
    scheme: str | None = None,
) -> None:
    """Write a tiled, deflate-compressed GeoTIFF atomically.

    Args:
        path: output path.
        data: (bands, H, W) uint8 array.
        transform: pixel to map transform.
        crs: the CRS.
        descriptions: band descriptions.
        scheme: class scheme of a label raster (sets a colour table and tags).
    """
    height, width = data.shape[1:]
    profile = geotiff_profile(
        crs,
        transform,
        width,
        height,
        data.shape[0],
        str(data.dtype),
        # Deflate's default level and pixel interleave for every band count: the
        # scene's files stay byte for byte what earlier versions wrote.
        zlevel=6,
        interleave='pixel',
        BIGTIFF='IF_NEEDED',
        # Differencing helps the imagery, not the labels.
        predictor=1 if scheme else 2,
        num_threads='ALL_CPUS',
        # RGB, the other bands plain: else GDAL tags the NIR band of uint8 RGBN
        # as alpha, and readers mask every pixel whose NIR is 0 in all bands.
        **(
            {'photometric': 'RGB', 'alpha': 'UNSPECIFIED'} if data.shape[0] >= 3 else {}
        ),
    )
    with (
        atomic_path(path) as temporary,
        rasterio.open(temporary, 'w', **profile) as dst,
    ):
        dst.write(data)
        for band, description in enumerate(descriptions, start=1):
            dst.set_band_description(band, description)
        if scheme is not None:
            classes = SCHEMES[scheme]
            dst.update_tags(scheme=scheme)
            dst.write_colormap(
                1,
                {
                    code: _rgb(colour)
                    for code, colour in zip(classes.codes, classes.colors, strict=True)
                },
            )


def _rgb(colour: str) -> tuple[int, int, int, int]:
    """An opaque RGBA tuple from ``#rrggbb``.

    Args:
        colour: hex colour.

    Returns:
        (red, green, blue, 255).
    """
    value = colour.lstrip('#')
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255

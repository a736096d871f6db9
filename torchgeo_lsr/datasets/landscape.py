"""A second scene generator: landscapes of any style, sensor, resolution and scheme.

:func:`make_scene` draws one kind of place (a North Carolina town at 1 m, NAIP
bands, NLCD). :func:`make_landscape` draws the other places users bring, so that the
method can be checked on data it was never tuned on (``benchmarks/bench_suite.py``):

* styles (:data:`~._landscape_classes.STYLES`): ``rural``, ``urban``, ``arid`` and
  ``wetland`` mixes of up to eight classes (water, impervious, building, barren,
  trees, shrub, grass, crops, wetland), one of them optionally rare;
* sensors: 3 (RGB), 4 (RGB + NIR, NAIP-like, uint8) or 5 to 8 bands up to the
  short-wave infrared (Landsat- or Sentinel-like, uint16 reflectance x 10000);
* any resolution (0.5 m to 30 m): sizes are in metres, so a 30 m landscape is the
  same place seen coarser;
* coarse labels of three kinds (:mod:`._landscape_coarse`): NLCD-style rules, block
  mode, or a coarser scheme, ``coarse_factor`` pixels per cell, with label noise;
* nuisances (:class:`~._landscape_render.Nuisances`): seasonal colour shift,
  shadows, haze, illumination gradient, sensor blur and noise; optionally a corner
  of each image without data (value 0 in every band).

Per tile ``i``: ``image/tile_i.tif``, ``labels/tile_i.tif`` (fine codes 1..C, 0
nodata) and ``coarse/tile_i.tif`` (on its own grid of ``coarse_factor * resolution``
metres). Beside them: ``fine_scheme.yaml`` and ``coarse_scheme.yaml`` (class
schemes for ``torchgeo-lsr cooccurrence`` and the data module) and
``manifest.json``. Tiles are independent draws of the same style, laid west to
east with a gap: hold one out to estimate the co-occurrence matrix and to fit the
supervised reference.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import yaml
from affine import Affine
from tqdm import tqdm

from ..grid import geotiff_profile
from ..io import atomic_path
from ._landscape_classes import BAND_SETS, MATERIALS, STYLES
from ._landscape_coarse import COARSE_KINDS, CoarseKind, coarse_labels
from ._landscape_layout import layout_classes
from ._landscape_render import Nuisances, render_reflectance
from ._scene_fields import scene_rng

__all__ = (
    'BAND_SETS',
    'COARSE_KINDS',
    'STYLES',
    'LandscapeOptions',
    'Nuisances',
    'make_landscape',
)

#: Largest reflectance of uint8 imagery (brighter pixels saturate), as NAIP's range.
UINT8_FULL_SCALE = 0.4


@dataclass(frozen=True)
class LandscapeOptions:
    """What landscape to draw.

    Attributes:
        style: ``'rural'``, ``'urban'``, ``'arid'`` or ``'wetland'``.
        num_classes: classes (2 to 8): the style's first ones.
        bands: imagery bands (3 to 8).
        resolution: metres per pixel.
        coarse_kind: ``'rules'``, ``'mode'`` or ``'scheme'``.
        coarse_factor: coarse cell side in pixels.
        label_noise: share of coarse cells given a neighbour's class.
        rare_share: share of the last class (None: the style's).
        crs: CRS of the rasters.
        nodata_corner: side of a corner triangle without imagery, as a share of
            the tile side (0: none).
        nuisances: seasonal shift, shadows, haze and noise.
    """

    style: str = 'rural'
    num_classes: int = 5
    bands: int = 4
    resolution: float = 1.0
    coarse_kind: CoarseKind = 'rules'
    coarse_factor: int = 30
    label_noise: float = 0.02
    rare_share: float | None = None
    crs: str = 'EPSG:32633'
    nodata_corner: float = 0.0
    nuisances: Nuisances = field(default_factory=Nuisances)

    def __post_init__(self) -> None:
        """Check the options.

        Raises:
            ValueError: For an unknown style, kind or band count, or values out of
                range.
        """
        if self.style not in STYLES:
            raise ValueError(
                f'unknown style {self.style!r}: choose one of {sorted(STYLES)}'
            )
        if not 2 <= self.num_classes <= len(STYLES[self.style].classes):
            raise ValueError(f'num_classes must be 2 to 8, got {self.num_classes}')
        if self.bands not in BAND_SETS:
            raise ValueError(
                f'bands must be one of {sorted(BAND_SETS)}, got {self.bands}'
            )
        if self.coarse_kind not in COARSE_KINDS:
            raise ValueError(
                f'unknown coarse_kind {self.coarse_kind!r}: choose one of {COARSE_KINDS}'
            )
        if self.resolution <= 0 or self.coarse_factor < 2:
            raise ValueError('resolution must be > 0 and coarse_factor >= 2')
        if not 0 <= self.label_noise <= 1 or not 0 <= self.nodata_corner < 1:
            raise ValueError(
                'label_noise must be in [0, 1] and nodata_corner in [0, 1)'
            )
        if self.rare_share is not None and not 0 < self.rare_share < 0.5:
            raise ValueError(f'rare_share must be in (0, 0.5), got {self.rare_share}')

    @property
    def class_names(self) -> tuple[str, ...]:
        """Material names of the fine classes (codes 1, 2, ...)."""
        return STYLES[self.style].classes[: self.num_classes]


def _scheme_yaml(
    path: Path, name: str, classes: dict[int, str], nodata: list[int]
) -> None:
    """Write a class scheme as YAML (see :func:`torchgeo_lsr.schemes.load_scheme`).

    Args:
        path: the file.
        name: scheme name.
        classes: ``{code: name}``.
        nodata: nodata codes.
    """
    document = {
        'name': name,
        'classes': [{'code': code, 'name': label} for code, label in classes.items()],
        'nodata': nodata,
    }
    with atomic_path(path) as temporary:
        Path(temporary).write_text(yaml.safe_dump(document, sort_keys=False))


def _quantise(reflectance: np.ndarray) -> np.ndarray:
    """Store reflectance as a sensor would: uint8 for up to 4 bands, else uint16.

    Args:
        reflectance: (bands, H, W) in [0, 1].

    Returns:
        The stored values, never 0 (the nodata value).
    """
    if reflectance.shape[0] <= 4:
        values = np.round(reflectance / UINT8_FULL_SCALE * 255)
        return np.clip(values, 1, 255).astype(np.uint8)
    return np.clip(np.round(reflectance * 10000), 1, 10000).astype(np.uint16)


def _write(path: Path, array: np.ndarray, transform: Affine, crs: str) -> None:
    """Write a tiled, compressed GeoTIFF atomically (nodata 0).

    Args:
        path: the file.
        array: (bands, H, W) or (H, W).
        transform: pixel-to-map transform.
        crs: the CRS.
    """
    data = array if array.ndim == 3 else array[None]
    profile = geotiff_profile(
        count=data.shape[0],
        height=data.shape[1],
        width=data.shape[2],
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
        nodata=0,
        # RGB, the other bands plain: else GDAL tags a fourth uint8 band as
        # alpha, and readers mask every pixel whose fourth band is 0.
        **(
            {'photometric': 'RGB', 'alpha': 'UNSPECIFIED'} if data.shape[0] >= 3 else {}
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_path(path) as temporary,
        rasterio.open(temporary, 'w', **profile) as dst,
    ):
        dst.write(data)


def _tile(
    options: LandscapeOptions, size: int, seed: int, index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
    """Draw one tile: imagery, fine codes, coarse codes and the coarse classes.

    Args:
        options: the landscape.
        size: tile side in pixels.
        seed: random seed.
        index: tile index.

    Returns:
        Stored imagery, fine codes (1..C), coarse codes and ``{code: name}``.
    """
    style = STYLES[options.style]
    shape = (size, size)
    classes = layout_classes(
        scene_rng(seed, 'landscape-layout', index),
        style,
        options.num_classes,
        shape,
        options.resolution,
        options.rare_share,
    )
    reflectance = render_reflectance(
        scene_rng(seed, 'landscape-render', index),
        classes,
        options.class_names,
        options.bands,
        options.resolution,
        options.nuisances,
    )
    image = _quantise(reflectance)
    if options.nodata_corner > 0:
        rows, cols = np.ogrid[:size, :size]
        image[:, rows + cols < options.nodata_corner * size] = 0
    coarse, coarse_classes = coarse_labels(
        classes,
        options.class_names,
        options.coarse_factor,
        options.coarse_kind,
        options.label_noise,
        scene_rng(seed, 'landscape-coarse', index),
    )
    return image, classes + 1, coarse, coarse_classes


def make_landscape(
    out_dir: str | os.PathLike[str],
    options: LandscapeOptions | None = None,
    size: int = 512,
    tiles: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Write a generated landscape: imagery, fine and coarse labels, schemes.

    Args:
        out_dir: folder to write into (created; existing files are replaced).
        options: what to draw (default: :class:`LandscapeOptions`'s).
        size: tile side in pixels (at least 64).
        tiles: number of tiles (independent draws of the same style).
        seed: random seed; the same seed and options give the same files.
        progress: show a progress bar.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``): options, files,
        schemes and the fine class shares.

    Raises:
        ValueError: For a size below 64, fewer than one tile or a negative seed.
        NotADirectoryError: If ``out_dir`` exists and is not a folder.
    """
    options = options or LandscapeOptions()
    if size < 64 or tiles < 1 or seed < 0:
        raise ValueError(
            f'need size >= 64, tiles >= 1, seed >= 0; got {size}, {tiles}, {seed}'
        )
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f'out_dir {str(root)!r} exists and is not a directory')
    res, factor = float(options.resolution), int(options.coarse_factor)
    cells = -(-size // factor)
    # Tiles on a common grid, one coarse cell apart, so their coarse rasters meet no
    # other tile's pixels.
    step = (cells + 1) * factor * res
    west, north = 400_000.0, 5_000_000.0
    counts = np.zeros(options.num_classes, np.int64)
    files: dict[str, list[str]] = {'image': [], 'labels': [], 'coarse': []}
    coarse_classes: dict[int, str] = {}
    for index in tqdm(range(tiles), desc='landscape', disable=not progress):
        image, fine, coarse, coarse_classes = _tile(options, size, seed, index)
        left = west + index * step
        name = f'tile_{index}.tif'
        fine_transform = Affine(res, 0.0, left, 0.0, -res, north)
        coarse_transform = Affine(res * factor, 0.0, left, 0.0, -res * factor, north)
        for role, array, transform in (
            ('image', image, fine_transform),
            ('labels', fine.astype(np.uint8), fine_transform),
            ('coarse', coarse, coarse_transform),
        ):
            _write(root / role / name, array, transform, options.crs)
            files[role].append(str(root / role / name))
        counts += np.bincount(fine.ravel() - 1, minlength=options.num_classes)
    fine_classes = {i + 1: name for i, name in enumerate(options.class_names)}
    _scheme_yaml(root / 'fine_scheme.yaml', f'{options.style}-fine', fine_classes, [0])
    _scheme_yaml(
        root / 'coarse_scheme.yaml', f'{options.style}-coarse', coarse_classes, [0]
    )
    manifest = {
        'generator': 'landscape',
        'options': asdict(options),
        'size': size,
        'tiles': tiles,
        'seed': seed,
        'files': files,
        'fine_scheme': str(root / 'fine_scheme.yaml'),
        'coarse_scheme': str(root / 'coarse_scheme.yaml'),
        'class_shares': {
            name: round(float(c) / max(int(counts.sum()), 1), 5)
            for name, c in zip(options.class_names, counts, strict=True)
        },
        'materials': {name: asdict(MATERIALS[name]) for name in options.class_names},
    }
    with atomic_path(root / 'manifest.json') as temporary:
        Path(temporary).write_text(json.dumps(manifest, indent=1))
    return manifest

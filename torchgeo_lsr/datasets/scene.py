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
``manifest.json`` with the files, class fractions and calibration figures: the
accuracy of the coarse prior's argmax, and of a simple imagery classifier that sees
the labels (see :mod:`~torchgeo_lsr.datasets._scene_calibration`).

The same seed gives the same arrays; two tiles of 2048 x 2048 take a few seconds.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from tqdm import tqdm

from ..io import atomic_path
from ..schemes import SCHEMES
from ._scene_calibration import measure_calibration
from ._scene_fields import scene_rng
from ._scene_geometry import layout_scene
from ._scene_nlcd import NLCD_CELL, add_label_noise, nlcd_from_labels
from ._scene_render import render_scene
from ._scene_vectors import VECTOR_LAYERS, write_vectors

__all__ = ('SCENE_VERSION', 'SceneManifest', 'SceneTile', 'make_scene')

#: Version of the scene generator; changes whenever the same seed gives other data.
SCENE_VERSION = 1

#: CRS of every scene: UTM zone 17N.
SCENE_CRS = 'EPSG:32617'

#: North-west corner of tile 0 (easting, northing), near Durham, North Carolina.
SCENE_ORIGIN = (688_000.0, 3_986_000.0)

#: Smallest tile side accepted.
MIN_SIZE = 64

#: Band names of the imagery.
BANDS = ('red', 'green', 'blue', 'nir')


@dataclass(frozen=True)
class SceneTile:
    """Files and bounds of one tile.

    Attributes:
        index: tile number, from west to east.
        naip: imagery path, relative to the scene folder.
        lc: 1 m label path, relative to the scene folder.
        nlcd: 30 m label path, relative to the scene folder.
        bounds: (left, bottom, right, top) of the 1 m rasters.
        nlcd_bounds: (left, bottom, right, top) of the NLCD raster (a little larger
            unless the tile size is a multiple of 30).
    """

    index: int
    naip: str
    lc: str
    nlcd: str
    bounds: tuple[float, float, float, float]
    nlcd_bounds: tuple[float, float, float, float]


@dataclass(frozen=True)
class SceneManifest:
    """What :func:`make_scene` wrote, as recorded in ``manifest.json``.

    Attributes:
        root: the scene folder.
        seed: random seed.
        size: tile side in pixels (metres).
        tiles: the tiles, from west to east.
        crs: CRS of every file.
        resolution: pixel size of the imagery and labels (m).
        coarse_resolution: pixel size of the NLCD rasters (m).
        label_noise: share of NLCD cells asked to take a neighbour's class.
        changed_cells: share of NLCD cells that did.
        schemes: class scheme of the ``fine`` (1 m) and ``coarse`` (NLCD) labels.
        vectors: vector file of each layer, relative to ``root``.
        vector_shifts: global (east, north) shift of each vector layer (m).
        class_fractions: ``fine`` and ``coarse`` share of each code.
        calibration: calibration figures (prior argmax and imagery classifier).
        version: generator version.
    """

    root: Path
    seed: int
    size: int
    tiles: tuple[SceneTile, ...]
    crs: str
    resolution: float
    coarse_resolution: float
    label_noise: float
    changed_cells: float
    schemes: Mapping[str, str]
    vectors: Mapping[str, str]
    vector_shifts: Mapping[str, tuple[float, float]]
    class_fractions: Mapping[str, Mapping[str, float]]
    calibration: Mapping[str, Any] = field(default_factory=dict)
    version: int = SCENE_VERSION

    @property
    def naip_paths(self) -> list[Path]:
        """Imagery files, one per tile."""
        return [self.root / tile.naip for tile in self.tiles]

    @property
    def lc_paths(self) -> list[Path]:
        """1 m label files, one per tile."""
        return [self.root / tile.lc for tile in self.tiles]

    @property
    def nlcd_paths(self) -> list[Path]:
        """NLCD files, one per tile."""
        return [self.root / tile.nlcd for tile in self.tiles]

    def vector_path(self, name: str) -> Path:
        """Path of a vector layer.

        Args:
            name: ``buildings``, ``roads``, ``waterways`` or ``waterbodies``.

        Returns:
            The GeoPackage's path.

        Raises:
            KeyError: For an unknown layer.
        """
        if name not in self.vectors:
            raise KeyError(f'no vector layer {name!r} (layers: {sorted(self.vectors)})')
        return self.root / self.vectors[name]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``manifest.json`` (paths relative to the root).

        Returns:
            A JSON-ready dictionary.
        """
        return {
            'version': self.version,
            'seed': self.seed,
            'size': self.size,
            'tiles': len(self.tiles),
            'crs': self.crs,
            'resolution': self.resolution,
            'coarse_resolution': self.coarse_resolution,
            'label_noise': self.label_noise,
            'changed_cells': self.changed_cells,
            'schemes': dict(self.schemes),
            'files': {
                'tiles': [
                    {
                        'index': tile.index,
                        'naip': tile.naip,
                        'lc': tile.lc,
                        'nlcd': tile.nlcd,
                        'bounds': list(tile.bounds),
                        'nlcd_bounds': list(tile.nlcd_bounds),
                    }
                    for tile in self.tiles
                ],
                'vectors': dict(self.vectors),
            },
            'vector_shifts': {k: list(v) for k, v in self.vector_shifts.items()},
            'class_fractions': {k: dict(v) for k, v in self.class_fractions.items()},
            'calibration': dict(self.calibration),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], root: str | os.PathLike[str]
    ) -> 'SceneManifest':
        """Rebuild a manifest from its JSON form.

        Args:
            data: the parsed ``manifest.json``.
            root: the scene folder.

        Returns:
            The manifest.

        Raises:
            ValueError: If required entries are missing.
        """
        try:
            tiles = tuple(
                SceneTile(
                    index=int(entry['index']),
                    naip=str(entry['naip']),
                    lc=str(entry['lc']),
                    nlcd=str(entry['nlcd']),
                    bounds=_bounds(entry['bounds']),
                    nlcd_bounds=_bounds(entry['nlcd_bounds']),
                )
                for entry in data['files']['tiles']
            )
            return cls(
                root=Path(root),
                seed=int(data['seed']),
                size=int(data['size']),
                tiles=tiles,
                crs=str(data['crs']),
                resolution=float(data['resolution']),
                coarse_resolution=float(data['coarse_resolution']),
                label_noise=float(data['label_noise']),
                changed_cells=float(data['changed_cells']),
                schemes=dict(data['schemes']),
                vectors=dict(data['files']['vectors']),
                vector_shifts={
                    k: (float(v[0]), float(v[1]))
                    for k, v in data['vector_shifts'].items()
                },
                class_fractions=dict(data['class_fractions']),
                calibration=dict(data.get('calibration', {})),
                version=int(data['version']),
            )
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f'malformed scene manifest: missing {error}') from error

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> 'SceneManifest':
        """Read ``manifest.json`` of a scene.

        Args:
            path: the scene folder or its ``manifest.json``.

        Returns:
            The manifest.
        """
        file = Path(path)
        if file.is_dir():
            file = file / 'manifest.json'
        return cls.from_dict(json.loads(file.read_text()), file.parent)


def _bounds(values: Any) -> tuple[float, float, float, float]:
    """Four floats from a JSON list.

    Args:
        values: a list of four numbers.

    Returns:
        The bounds.
    """
    left, bottom, right, top = (float(v) for v in values)
    return left, bottom, right, top


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
        west, north = SCENE_ORIGIN
        crs = CRS.from_string(SCENE_CRS)
        noise_rng = scene_rng(seed, 'label-noise')
        entries, labels, coarse, imagery = [], [], [], []
        changed = 0
        for index in range(tiles):
            columns = slice(index * size, (index + 1) * size)
            fine = np.ascontiguousarray(rendered.labels[:, columns])
            codes, noisy = add_label_noise(
                nlcd_from_labels(
                    fine,
                    rendered.forest_type[:, columns],
                    rendered.grass_type[:, columns],
                ),
                label_noise,
                noise_rng,
            )
            changed += int(noisy.sum())
            bands = np.ascontiguousarray(rendered.imagery[:, :, columns])
            left = west + index * size
            entry = _write_tile(root, index, bands, fine, codes, left, north, crs)
            entries.append(entry)
            labels.append(fine)
            coarse.append(codes)
            imagery.append(bands)
            bar.update()
        pixel_to_map = Affine(1.0, 0.0, west, 0.0, -1.0, north)
        vectors = write_vectors(layout, root, seed, pixel_to_map, SCENE_CRS)
        bar.update()
        figures = (
            measure_calibration(
                [(root / e.nlcd, root / e.lc) for e in entries],
                labels,
                coarse,
                imagery,
                seed,
            )
            if calibrate
            else {}
        )
        bar.update()
        cells = sum(c.size for c in coarse)
        manifest = SceneManifest(
            root=root,
            seed=seed,
            size=size,
            tiles=tuple(entries),
            crs=SCENE_CRS,
            resolution=1.0,
            coarse_resolution=float(NLCD_CELL),
            label_noise=label_noise,
            changed_cells=round(changed / cells, 4),
            schemes={'fine': 'enviroatlas', 'coarse': 'nlcd'},
            vectors={name: vectors[name]['path'] for name in VECTOR_LAYERS},
            vector_shifts={
                name: (vectors[name]['shift'][0], vectors[name]['shift'][1])
                for name in VECTOR_LAYERS
            },
            class_fractions={'fine': _fractions(labels), 'coarse': _fractions(coarse)},
            calibration=figures,
        )
        with atomic_path(root / 'manifest.json') as temporary:
            temporary.write_text(json.dumps(manifest.to_dict(), indent=2) + '\n')
        bar.update()
    return manifest


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
    profile = {
        'driver': 'GTiff',
        'width': data.shape[2],
        'height': data.shape[1],
        'count': data.shape[0],
        'dtype': data.dtype,
        'crs': crs,
        'transform': transform,
        'tiled': True,
        'blockxsize': 256,
        'blockysize': 256,
        'compress': 'deflate',
        # Differencing helps the imagery, not the labels.
        'predictor': 1 if scheme else 2,
        'interleave': 'pixel',
        'num_threads': 'ALL_CPUS',
    }
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

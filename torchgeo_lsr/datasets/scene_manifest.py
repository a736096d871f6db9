"""What a generated scene holds: the ``manifest.json`` beside its files.

:class:`SceneManifest` records the files of every tile (:class:`SceneTile`), the
vector layers and their misalignment, class fractions and calibration figures; it
is written by :func:`~torchgeo_lsr.datasets.scene.make_scene` and read back with
:meth:`SceneManifest.load`.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ('SCENE_VERSION', 'SceneManifest', 'SceneTile')

#: Version of the scene generator; changes whenever the same seed gives other data.
SCENE_VERSION = 1


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

"""Fixtures shared by the task, CLI and export tests: tiny generated scenes."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.priors import estimate_cooccurrence


@dataclass(frozen=True)
class TinyScene:
    """A generated scene on disk and its co-occurrence matrix (CSV)."""

    root: Path
    cooccurrence: Path
    tiles: int
    size: int

    @property
    def naip(self) -> Path:
        return self.root / 'naip'

    @property
    def nlcd(self) -> Path:
        return self.root / 'nlcd'

    @property
    def lc(self) -> Path:
        return self.root / 'lc'

    def vector(self, name: str) -> Path:
        return self.root / f'{name}.gpkg'


def _scene(root: Path, size: int, tiles: int, seed: int) -> TinyScene:
    manifest = make_scene(root, size=size, tiles=tiles, seed=seed, calibrate=False)
    matrix = estimate_cooccurrence(
        list(zip(manifest.nlcd_paths, manifest.lc_paths, strict=True)),
        'nlcd',
        'enviroatlas',
    )
    matrix.to_csv(root / 'cooccurrence.csv')
    return TinyScene(root, root / 'cooccurrence.csv', tiles, size)


@pytest.fixture(scope='session')
def tiny_scene(tmp_path_factory: pytest.TempPathFactory) -> TinyScene:
    """Two 192 px tiles: enough for a few patches of 64 px per tile."""
    return _scene(tmp_path_factory.mktemp('tiny_scene'), 192, 2, 3)


@pytest.fixture(scope='session')
def one_tile_scene(tmp_path_factory: pytest.TempPathFactory) -> TinyScene:
    """One 160 px tile (whole-tile computations are exact on a single tile)."""
    return _scene(tmp_path_factory.mktemp('one_tile_scene'), 160, 1, 5)


@pytest.fixture(scope='session')
def enviroatlas_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small EnviroAtlas in TorchGeo's layout (tests/data/enviroatlas/data.py)."""
    from tests.data.enviroatlas.data import generate

    return generate(tmp_path_factory.mktemp('enviroatlas'))


@pytest.fixture(scope='session')
def chesapeake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ChesapeakeCVPR in TorchGeo's layout (tests/data/chesapeake/data.py)."""
    from tests.data.chesapeake.data import generate

    return generate(tmp_path_factory.mktemp('chesapeake'))

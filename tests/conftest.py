"""Fixtures shared by the tests: no network, and tiny generated scenes."""

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.priors import estimate_cooccurrence


def _is_local(host: object) -> bool:
    """Whether a socket address's host is this machine (loopback or a name for it)."""
    if not isinstance(host, str):
        return True  # AF_UNIX paths and other local families
    if host in ('localhost', ''):
        return True
    try:
        return ipaddress.ip_address(host.split('%')[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection and name lookup beyond this machine.

    CI has no network: a test that would reach it fails here with a clear message
    instead of hanging or passing by luck. Loopback stays open (Jupyter kernels,
    DDP's gloo rendezvous).
    """
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    lookup = socket.getaddrinfo

    def refuse(address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_local(host):
            raise OSError(f'tests must not reach the network (tried {address!r})')

    def guarded_connect(self: socket.socket, address: Any) -> None:
        refuse(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        refuse(address)
        return connect_ex(self, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local(
            host.decode() if isinstance(host, bytes) else host
        ):
            raise OSError(f'tests must not reach the network (looked up {host!r})')
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, 'connect', guarded_connect)
    monkeypatch.setattr(socket.socket, 'connect_ex', guarded_connect_ex)
    monkeypatch.setattr(socket, 'getaddrinfo', guarded_lookup)


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

"""Fixtures of the data module tests."""

from pathlib import Path

import pytest

from tests.datamodules.two_tiles import make_two_tiles


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """Two imagery tiles, their labels and a 30 m NLCD raster (see two_tiles)."""
    return make_two_tiles(tmp_path)

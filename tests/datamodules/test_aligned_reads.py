"""The fast path gives TorchGeo's samples exactly, and steps aside where it cannot."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torchgeo.datasets.utils import GeoSlice, Sample

from tests.datamodules.two_tiles import X0, Y0, datamodule, write
from torchgeo_lsr.datamodules.aligned_reads import AlignedReader
from torchgeo_lsr.datamodules.margin_dataset import MarginDataset


def raw_pair(dataset: MarginDataset, index: GeoSlice) -> tuple[Sample, Sample]:
    """The raw sample (no transform) of a query by the fast path and by TorchGeo."""
    transforms, dataset.transforms = dataset.transforms, None
    reader = dataset.reader
    try:
        fast = dataset[index]
        dataset.reader = None
        slow = dataset[index]
    finally:
        dataset.reader, dataset.transforms = reader, transforms
    return fast, slow


def assert_same(fast: Sample, slow: Sample) -> None:
    assert fast.keys() == slow.keys()
    for key in slow:
        assert fast[key].dtype == slow[key].dtype, key
        assert fast[key].shape == slow[key].shape, key
        assert torch.equal(fast[key], slow[key]), key


def query(dataset: MarginDataset, col: float, row: float, size: int) -> GeoSlice:
    """The patch whose top-left corner is ``(col, row)`` pixels from (X0, Y0)."""
    t = dataset.bounds[2]
    x0, y1 = X0 + col, Y0 - row
    return (slice(x0, x0 + size, 1.0), slice(y1 - size, y1, 1.0), t)


@pytest.mark.parametrize(
    ('col', 'row'),
    [
        (40, 40),  # inside a tile
        (140, 60),  # across the two tiles
        (-5, -5),  # overhanging the scene's corner (nodata fill)
        (280, 130),  # the far corner
    ],
)
def test_fast_reads_equal_torchgeo_reads(scene: Path, col: int, row: int) -> None:
    dm = datamodule(scene, train_labels=True, context=3)
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    assert dataset.reader is not None, dataset.slow_reason
    fast, slow = raw_pair(dataset, query(dataset, col, row, 32))
    assert_same(fast, slow)
    # Whole samples (prior built in the loader from the same codes) agree too.
    index = query(dataset, col, row, 32)
    reader, dataset.reader = dataset.reader, None
    whole_slow = dataset[index]
    dataset.reader = reader
    assert_same(dataset[index], whole_slow)


def test_off_grid_queries_fall_back(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    reader = dataset.reader
    assert reader is not None
    index = query(dataset, 40.5, 40, 32)
    assert reader.window(index[0], index[1]) is None
    fast, slow = raw_pair(dataset, index)  # read by TorchGeo both times
    assert_same(fast, slow)


def test_files_off_the_grid_use_torchgeo(scene: Path, tmp_path: Path) -> None:
    # Coarse labels offset by half an imagery pixel: no whole-block layout.
    rng = np.random.default_rng(1)
    nlcd = rng.choice(np.array([11, 21, 41], np.uint8), (6, 11))
    write(tmp_path / 'nlcd' / 'nlcd.tif', nlcd, X0 - 14.5, Y0 + 15, res=30.0)
    dm = datamodule(scene, coarse_paths=tmp_path / 'nlcd')
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    assert dataset.reader is None
    assert 'part of a pixel' in dataset.slow_reason


def test_overlapping_files_first_wins_and_nodata_fills(tmp_path: Path) -> None:
    # Two overlapping imagery files with nodata 7; the first in the index wins
    # where both have data, the second fills the first's nodata.
    first = np.full((1, 40, 40), 10, np.uint8)
    first[:, :5] = 7
    second = np.full((1, 40, 40), 20, np.uint8)
    write(tmp_path / 'naip' / 'a.tif', first, X0, Y0)
    write(tmp_path / 'naip' / 'b.tif', second, X0 + 20, Y0)
    for path in (tmp_path / 'naip').glob('*.tif'):
        with rasterio.open(path, 'r+') as dst:
            dst.nodata = 7
    write(tmp_path / 'lc' / 'lc.tif', np.ones((40, 60), np.uint8), X0, Y0)
    nlcd = np.full((3, 4), 41, np.uint8)
    write(tmp_path / 'nlcd' / 'nlcd.tif', nlcd, X0, Y0, res=30.0)
    dm = datamodule(
        tmp_path, batch_size=1, patch_size=16, prior_sigma=1.0, prior_kernel_size=3
    )
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    assert dataset.reader is not None, dataset.slow_reason
    for col, row in [(10, 0), (25, 10), (-8, 30), (50, 3)]:
        fast, slow = raw_pair(dataset, query(dataset, col, row, 16))
        assert_same(fast, slow)


def test_reader_pickles_without_handles(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    reader = dataset.reader
    assert isinstance(reader, AlignedReader)
    window = (10, 10, 20, 20)
    before = reader.read(window)
    copy = pickle.loads(pickle.dumps(reader))
    assert copy._handles == {}
    for key, value in copy.read(window).items():
        assert torch.equal(value, before[key])


def test_trimmed_native_and_block_reads(scene: Path) -> None:
    dm = datamodule(scene, train_labels=True)
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    reader = dataset.reader
    assert reader is not None
    whole = reader.read((10, 10, 40, 40))
    part = reader.read(
        (10, 10, 40, 40), trim={'image': 4}, native=True, blocks=('coarse',)
    )
    assert part['image'].dtype == torch.uint8
    assert torch.equal(part['image'].float(), whole['image'][:, 4:-4, 4:-4])
    rows, cols = part['coarse_rows'], part['coarse_cols']
    assert torch.equal(part['coarse'][rows][:, cols].long(), whole['coarse'])

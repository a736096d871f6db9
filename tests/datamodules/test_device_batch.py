"""Loader batches finished on the device equal whole samples built in the loader."""

from pathlib import Path

import pytest
import torch
from torchgeo.datasets.utils import GeoSlice

from tests.datamodules.two_tiles import (
    X0,
    Y0,
    as_rasters,
    datamodule,
    road_and_building_files,
)
from torchgeo_lsr.datamodules.device_batch import collate_samples, complete_batch
from torchgeo_lsr.datamodules.lsr import LSRDataModule
from torchgeo_lsr.datamodules.margin_dataset import MarginDataset


def queries(dataset: MarginDataset, size: int) -> list[GeoSlice]:
    """Patches inside a tile, across the two tiles and over the scene's corners."""
    t = dataset.bounds[2]
    corners = [(40, 40), (140, 60), (-5, -5), (280, 130), (130, 100)]
    return [
        (slice(X0 + c, X0 + c + size, 1.0), slice(Y0 - r - size, Y0 - r, 1.0), t)
        for c, r in corners
    ]


def check_equal(dm: LSRDataModule, dataset: MarginDataset, size: int) -> None:
    assert dataset.device_reads is not None
    index = queries(dataset, size)
    view = dataset.loader_view()
    loaded = collate_samples([view[q] for q in index])
    assert 'prior' not in loaded
    assert loaded['image'].dtype == torch.uint8
    batch = dm.on_after_batch_transfer(loaded, 0)
    whole = collate_samples([dataset[q] for q in index])
    assert batch.keys() == whole.keys()
    for key in whole:
        assert batch[key].dtype == whole[key].dtype, key
        if key == 'prior':
            torch.testing.assert_close(batch[key], whole[key], atol=1e-5, rtol=0)
        else:
            assert torch.equal(batch[key], whole[key]), key


@pytest.mark.parametrize('context', [0, 3])
def test_training_batches_equal_whole_samples(scene: Path, context: int) -> None:
    dm = datamodule(scene, train_labels=True, context=context)
    dm.setup('fit')
    assert isinstance(dm.train_dataset, MarginDataset)
    check_equal(dm, dm.train_dataset, 32)


def test_evaluation_batches_equal_whole_samples(scene: Path) -> None:
    # Samples straddle the tiles: each tile's part gets its own reflected prior.
    dm = datamodule(scene, eval_patch_size=64)
    dm.setup('test')
    assert isinstance(dm.test_dataset, MarginDataset)
    check_equal(dm, dm.test_dataset, 64)


def test_torchgeo_reads_feed_device_priors_too(scene: Path) -> None:
    dm = datamodule(scene, fast_reads=False)
    dm.setup('fit')
    assert isinstance(dm.train_dataset, MarginDataset)
    assert dm.train_dataset.reader is None
    check_equal(dm, dm.train_dataset, 32)


def test_loader_priors_where_the_device_cannot_build_them(scene: Path) -> None:
    for dm in (
        datamodule(scene, device_priors=False),
        datamodule(scene, inputs=('imagery', 'prior')),
    ):
        dm.setup('fit')
        assert isinstance(dm.train_dataset, MarginDataset)
        assert dm.train_dataset.device_reads is None
        batch = next(iter(dm.train_dataloader()))
        assert batch['image'].dtype == torch.float32
        torch.testing.assert_close(batch['prior'].sum(1), torch.ones(3, 32, 32))
        assert dm.on_after_batch_transfer(batch, 0) is batch


def test_collate_pads_blocks_and_parts() -> None:
    samples = [
        {
            'prior_mass': torch.zeros(p, 5, h, w),
            'prior_rows': torch.ones(p, 8, h),
            'prior_cols': torch.ones(p, 8, w),
            'valid': torch.ones(8, 8, dtype=torch.bool),
        }
        for h, w, p in [(2, 3, 1), (4, 1, 2)]
    ]
    batch = collate_samples(samples)
    assert batch['prior_mass'].shape == (2, 2, 5, 4, 3)
    assert batch['prior_rows'].shape == (2, 2, 8, 4)
    assert batch['prior_cols'].shape == (2, 2, 8, 3)
    # Padding has zero weight.
    assert batch['prior_rows'][0, 1].sum() == 0
    assert batch['prior_rows'][0, 0, :, 2:].sum() == 0


def test_complete_batch_scales_uint8_and_leaves_the_rest() -> None:
    batch = {'image': torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)}
    done = complete_batch(batch, None, 2, 255.0)
    assert done['image'].dtype == torch.float32
    assert bool((done['image'] == 1).all())
    floats = {'image': torch.rand(1, 3, 2, 2)}
    assert torch.equal(
        complete_batch(dict(floats), None, 2, 255.0)['image'], floats['image']
    )


@pytest.mark.parametrize('layers', ['vectors', 'rasters'])
def test_fusion_rules_on_the_device_equal_the_loader(
    scene: Path, tmp_path: Path, layers: str
) -> None:
    # A road across both tiles and a building on their shared edge: evidence at
    # tile edges, where each tile's part sees only its own layers.
    vectors = road_and_building_files(scene, tmp_path)
    paths = vectors if layers == 'vectors' else as_rasters(scene, vectors, tmp_path)
    dm = datamodule(
        scene,
        roads_paths=paths['roads'],
        buildings_paths=paths['buildings'],
        eval_patch_size=64,
    )
    assert dm.builder is not None
    assert dm.builder.rules is not None
    assert dm.builder.halo > dm.builder.kernel_size // 2  # rules reach further
    dm.setup('fit')
    assert isinstance(dm.train_dataset, MarginDataset)
    check_equal(dm, dm.train_dataset, 32)
    dm.setup('test')
    assert isinstance(dm.test_dataset, MarginDataset)
    check_equal(dm, dm.test_dataset, 64)

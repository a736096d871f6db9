"""The generic data module: batches, stages, argument checks and the old import path."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.datamodules.two_tiles import TILE, X0, Y0, datamodule, write
from torchgeo_lsr import datamodules
from torchgeo_lsr.datamodules import LSRDataModule, lsr
from torchgeo_lsr.datasets.regions import region_geometry


def test_training_batches(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert batch['image'].shape == (3, 4, 32, 32)
    assert batch['image'].dtype == torch.float32
    assert batch['image'].max() <= 1
    assert batch['prior'].shape == (3, 5, 32, 32)
    torch.testing.assert_close(batch['prior'].sum(1), torch.ones(3, 32, 32))
    assert batch['valid'].dtype == torch.bool
    # Learning from priors never reads a high-res label in training.
    assert 'mask' not in batch
    assert batch['bounds'].shape[0] == 3
    width = batch['bounds'][:, 1] - batch['bounds'][:, 0]
    torch.testing.assert_close(width, torch.full((3,), 32.0, dtype=width.dtype))


def test_training_labels_for_the_supervised_baselines(scene: Path) -> None:
    dm = datamodule(scene, train_labels=True)
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert batch['mask'].shape == (3, 32, 32)
    assert set(batch['mask'].unique().tolist()) <= {0, 1, 2, 3, 4, 5}  # 5 = ignore


def test_predict_covers_everything_and_keeps_bounds(scene: Path) -> None:
    dm = datamodule(scene, patch_size=64)
    dm.setup('predict')
    batches = list(dm.predict_dataloader())
    bounds = torch.cat([b['bounds'] for b in batches])
    # The grid covers the whole extent (TorchGeo centres it, overhanging evenly).
    assert bounds[:, 0].min() <= X0
    assert bounds[:, 1].max() >= X0 + 2 * TILE
    assert bounds[:, 4].max() >= Y0
    assert bounds[:, 3].min() <= Y0 - TILE
    # on_after_batch_transfer keeps the georeference for predict_step.
    kept = dm.on_after_batch_transfer(batches[0], 0)
    assert 'bounds' in kept
    assert 'transform' in kept


def test_bad_arguments(scene: Path) -> None:
    with pytest.raises(ValueError, match='prior_paths, or coarse_paths'):
        LSRDataModule(image_paths=scene / 'naip', coarse_paths=scene / 'nlcd')
    with pytest.raises(ValueError, match='split'):
        datamodule(scene, split='random')


def test_inputs_that_do_not_overlap(scene: Path) -> None:
    far = np.full((5, 5), 41, np.uint8)
    write(scene / 'far' / 'nlcd.tif', far, X0 + 10_000, Y0, res=30.0)
    with pytest.raises(ValueError, match='coarse labels do not overlap the imagery'):
        datamodule(scene, coarse_paths=scene / 'far').setup('fit')
    with pytest.raises(ValueError, match='high-res labels do not overlap'):
        datamodule(scene, label_paths=scene / 'far').setup('validate')


def test_old_import_paths_keep_working() -> None:
    for name in lsr.__all__:
        assert getattr(datamodules, name) is getattr(lsr, name)
    assert lsr.region_geometry is region_geometry
    assert set(lsr.__all__) == {
        'LAYER_NAMES',
        'LSRDataModule',
        'LSRSampleTransform',
        'MarginDataset',
        'Region',
        'StageInputs',
        'region_geometry',
    }


def test_components_answer_for_the_data_module(scene: Path) -> None:
    dm = datamodule(
        scene, split='tiles', val_tiles=['tile_0'], test_tiles=['tile_1'], context=3
    )
    assert dm.split == 'tiles'
    assert dm.val_tiles == ['tile_0']
    assert dm.test_tiles == ['tile_1']
    assert dm.val_region is None
    assert dm.test_region is None
    assert dm.builder is dm.prior_source.builder
    assert dm.halo == dm.prior_source.halo > 0
    assert dm.margin == dm.halo + 3
    assert dm.scheme is not None
    assert dm.num_classes == dm.scheme.num_classes == 5
    assert dm.globs == {
        'image': '*.tif',
        'coarse': '*.tif',
        'label': '*.tif',
        'prior': '*.tif',
    }
    assert [Path(p).name for p in dm.stage_inputs('fit').image] == []
    assert [Path(p).name for p in dm.stage_inputs('test').image] == ['tile_1.tif']
    assert [Path(p).name for p in dm.stage_inputs('predict').image] == [
        'tile_0.tif',
        'tile_1.tif',
    ]
    with pytest.raises(ValueError, match='context must be >= 0'):
        datamodule(scene, context=-1)


def test_num_classes_of_precomputed_priors_without_a_matrix(scene: Path) -> None:
    prior = np.full((3, TILE, TILE), 1 / 3, np.float32)
    write(scene / 'prior' / 'tile_0.tif', prior, X0, Y0)
    dm = LSRDataModule(image_paths=scene / 'naip', prior_paths=scene / 'prior')
    assert dm.builder is None
    assert dm.scheme is None
    assert dm.num_classes == 3
    assert dm.margin == dm.context == 5


def test_stage_dataset_carries_the_tiles_for_exports(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('predict')
    transform = dm.predict_dataset.transforms
    assert [Path(p).name for p in transform.tile_paths] == ['tile_0.tif', 'tile_1.tif']
    assert transform.crs == dm.predict_dataset.crs
    assert transform.tile_bounds[1][0] == X0 + TILE  # read by the demo
    assert transform.margin == dm.margin
    assert transform.builder is dm.builder
    batch = next(iter(dm.predict_dataloader()))
    assert 'mask' not in batch
    assert batch['tile'].dtype == torch.int64

"""The generic data module: batches, stages, argument checks and the old import path."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.datamodules.two_tiles import TILE, X0, Y0, datamodule, write
from tests.rasters import write_geotiff
from torchgeo_lsr import datamodules
from torchgeo_lsr.datamodules import LSRDataModule, lsr
from torchgeo_lsr.datasets.regions import region_geometry


def test_training_batches(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('fit')
    loaded = next(iter(dm.train_dataloader()))
    # The loader ships uint8 imagery and block weights; the batch's device
    # (on_after_batch_transfer) makes the float imagery and the prior.
    assert loaded['image'].dtype == torch.uint8
    assert 'prior' not in loaded
    batch = dm.on_after_batch_transfer(loaded, 0)
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


def _strip_crs(path: Path) -> None:
    """Rewrite a GeoTIFF without its CRS (same pixels and transform)."""
    with rasterio.open(path) as src:
        data, transform = src.read(), src.transform
    write_geotiff(path, data, transform.c, transform.f, transform.a, crs=None)  # type: ignore[arg-type]


@pytest.mark.parametrize('role', ['image', 'coarse', 'label', 'prior', 'layer'])
def test_rasters_without_a_crs_are_refused(scene: Path, role: str) -> None:
    """Issue 16 item 11: a raster without a CRS is an error in every role.

    Before, coarse labels, high-res labels, priors and raster layers without a CRS
    were silently assumed in the imagery's CRS, and imagery failed with a bare
    ``CRSError: CRS is invalid: None``; ``prior``, ``cooccurrence`` and
    ``evaluate`` refuse such files, so the data module does too, naming the file,
    its role and the fix.
    """
    options: dict[str, object] = {}
    if role == 'prior':
        prior = np.full((5, TILE, TILE), 0.2, np.float32)
        for i in range(2):
            write(scene / 'prior' / f'tile_{i}.tif', prior, X0 + i * TILE, Y0)
        options = {'prior_paths': scene / 'prior', 'coarse_paths': None}
    if role == 'layer':
        for i in range(2):
            buildings = np.zeros((TILE, TILE), np.uint8)
            write(scene / 'buildings' / f'tile_{i}.tif', buildings, X0 + i * TILE, Y0)
        options = {
            'buildings_paths': scene / 'buildings',
            'inputs': ['imagery', 'buildings'],
        }
    folder = {
        'image': 'naip',
        'coarse': 'nlcd',
        'label': 'lc',
        'prior': 'prior',
        'layer': 'buildings',
    }[role]
    bad = min((scene / folder).glob('*.tif'))
    _strip_crs(bad)
    what = {
        'image': 'imagery',
        'coarse': 'coarse labels',
        'label': 'high-res labels',
        'prior': 'priors',
        'layer': 'buildings layer',
    }[role]
    message = rf'{bad} \({what}\) has no CRS: .* gdal_edit.py -a_srs EPSG:'
    dm = datamodule(scene, **options)
    with pytest.raises(ValueError, match=message):
        dm.setup('validate')


def test_patch_larger_than_every_tile_is_refused_in_setup(tmp_path: Path) -> None:
    """Issue 16 item 12: a 128 px patch on a 64 px tile fails clearly in setup.

    Before, setup passed and the first training batch crashed inside TorchGeo
    (``cannot sample n_sample > prob_dist.size(-1) samples without replacement``,
    then ``Please call iter(combined_loader) first``). TorchGeo's sampler only
    draws from tiles with both sides >= patch_size px (margin and context do not
    count), so that is the limit the message states. Evaluation grids may
    overhang the tiles: 128 px validation, test and prediction patches work.
    """
    rng = np.random.default_rng(0)
    nlcd = rng.choice(np.array([11, 21, 41], np.uint8), (4, 4))
    write(tmp_path / 'nlcd' / 'nlcd.tif', nlcd, X0 - 15, Y0 + 15, res=30.0)
    image = rng.integers(1, 255, (4, 64, 64), dtype=np.uint8)
    write(tmp_path / 'naip' / 'small.tif', image, X0, Y0)
    labels = rng.choice(np.array([10, 20], np.uint8), (64, 64))
    write(tmp_path / 'lc' / 'small.tif', labels, X0, Y0)
    message = (
        r'patch_size 128 is larger than every training tile .*small\.tif '
        r'\(64 x 64 px\); set patch_size <= 64'
    )
    with pytest.raises(ValueError, match=message):
        datamodule(tmp_path, patch_size=128).setup('fit')
    dm = datamodule(tmp_path, patch_size=64, eval_patch_size=128)
    dm.setup('fit')
    assert next(iter(dm.train_dataloader()))['image'].shape == (3, 4, 64, 64)
    for stage, loader in (('validate', 'val'), ('test', 'test')):
        dm.setup(stage)
        batch = next(iter(getattr(dm, f'{loader}_dataloader')()))
        assert batch['image'].shape == (1, 4, 128, 128)


def test_tiles_too_small_to_train_on_are_named(scene: Path) -> None:
    """Issue 16 item 12: a tile TorchGeo's sampler would skip silently is named."""
    image = np.full((4, 20, 20), 9, np.uint8)
    write(scene / 'naip' / 'tiny.tif', image, X0, Y0 - TILE)
    with pytest.warns(UserWarning, match='smaller than patch_size 32 .*tiny.tif'):
        datamodule(scene).setup('fit')


def test_evaluation_batch_size_and_validation_grid(scene: Path) -> None:
    """Issue 16 item 4: eval_batch_size, and the paper's centre-cropped val grid.

    Evaluation loaders take eval_batch_size; the validation grid can be the
    paper's sparse centre crops (val_patch_size, val_stride). Before, validation, test and prediction used batch_size (the paper configs'
    128 patches of 522 px: about 36 GB of activations) and the validation grid
    was always eval_patch_size wide, tiling the extent.
    """
    dm = datamodule(
        scene, batch_size=3, eval_patch_size=64, eval_batch_size=2, val_stride=100
    )
    assert dm.eval_batch_size == 2
    assert dm.val_patch_size == 64
    dm.setup('fit')
    assert dm.train_dataloader().batch_sampler.batch_size == 3  # type: ignore[union-attr]
    for stage, loader in (
        ('validate', 'val'),
        ('test', 'test'),
        ('predict', 'predict'),
    ):
        dm.setup(stage)
        assert getattr(dm, f'{loader}_dataloader')().batch_size == 2
    # Default: the evaluation batch is the training batch (as before).
    assert datamodule(scene).eval_batch_size == 3
    dm = datamodule(scene, val_patch_size=32, val_stride=100)
    dm.setup('validate')
    bounds = torch.cat([b['bounds'] for b in dm.val_dataloader()])
    width = bounds[:, 1] - bounds[:, 0]
    assert torch.all(width == 32)
    # 300 x 150 px: 3 x 2 cells of 100 px, each scored on its 32 px centre crop.
    assert len(bounds) == 6
    steps = sorted(set(bounds[:, 0].tolist()))
    assert np.diff(steps).tolist() == [100.0, 100.0]
    with pytest.raises(ValueError, match='eval_batch_size must be >= 1'):
        datamodule(scene, eval_batch_size=0)

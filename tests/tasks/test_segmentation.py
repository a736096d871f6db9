from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.nn import functional as F

from tests.conftest import TinyScene
from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.losses import CELoss, QRLoss, implied_posterior
from torchgeo_lsr.metrics import confusion_matrix, segmentation_scores
from torchgeo_lsr.tasks import LSRSegmentation
from torchgeo_lsr.tasks.batch_checks import EMPTY_RUN_LIMIT, ValidPixelWatch


def batch(
    size: int = 20, classes: int = 5, bands: int = 4, seed: int = 0
) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    prior = torch.rand(2, classes, size, size, generator=generator)
    valid = torch.ones(2, size, size, dtype=torch.bool)
    valid[0, :3, :3] = False
    return {
        'image': torch.rand(2, bands, size, size, generator=generator),
        'prior': prior / prior.sum(1, keepdim=True),
        'valid': valid,
        'mask': torch.randint(0, classes + 1, (2, size, size), generator=generator),
        'tile': torch.zeros(2, size, size, dtype=torch.long),
    }


def task(**kwargs: Any) -> LSRSegmentation:
    options: dict[str, Any] = {'num_filters': 8}
    options.update(kwargs)
    return LSRSegmentation(**options)


def datamodule(scene: TinyScene, **kwargs: Any) -> LSRDataModule:
    options: dict[str, Any] = {
        'image_paths': scene.naip,
        'coarse_paths': scene.nlcd,
        'label_paths': scene.lc,
        'cooccurrence': scene.cooccurrence,
        'prior_sigma': 8.0,
        'prior_kernel_size': 25,
        'batch_size': 4,
        'patch_size': 48,
        'length': 8,
    }
    options.update(kwargs)
    return LSRDataModule(**options)


def test_outputs_crop_the_border_and_ignore_invalid_pixels() -> None:
    model = task(border=3)
    out = model.outputs(batch())
    assert out['log_q'].shape == (2, 5, 14, 14)
    assert out['prior'].shape == (2, 5, 14, 14)
    assert out['tile'].shape == (2, 14, 14)
    # valid[0, :3, :3] was cropped away; the target ignores invalid pixels.
    assert out['valid'].all()
    raw = batch()
    raw['valid'][1, 5, 5] = False
    out = model.outputs(raw)
    assert out['target'][1, 2, 2] == 5


def test_border_defaults() -> None:
    assert task().border == 0  # the per-pixel network sees one pixel
    assert task(model='fcn').border == 5  # half the FCN's receptive field
    assert task(model='unet', backbone='resnet18').border == 0
    assert task(border=2).border == 2
    model = task()
    model._data_context = 7  # what setup() reads from an LSRDataModule
    assert model.border == 7


def test_prior_smoothing() -> None:
    model = task(prior_smoothing=1e-4)
    prior = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]]).view(1, 5, 1, 1)
    smoothed = model.smooth_prior(prior).flatten()
    expected = (torch.tensor([1.0, 0, 0, 0, 0]) + 1e-4) / (1 + 5e-4)
    torch.testing.assert_close(smoothed, expected)


def test_losses_of_each_method() -> None:
    data = batch()
    model = task(border=0, warmup_steps=0)
    out = model.outputs(data)
    expected = QRLoss('free_energy')(out['log_q'], out['prior'], mask=out['valid'])
    torch.testing.assert_close(model._loss(out), expected)

    naive = task(method='hard_naive', border=0)
    out = naive.outputs(data)
    target = torch.where(out['valid'], out['prior'].argmax(1), 5)
    torch.testing.assert_close(
        naive._loss(out), F.nll_loss(out['log_q'], target, ignore_index=5)
    )

    hr = task(method='hr', border=0)
    out = hr.outputs(data)
    torch.testing.assert_close(
        hr._loss(out), F.nll_loss(out['log_q'], out['target'], ignore_index=5)
    )
    del out['target']
    with pytest.raises(ValueError, match='label_paths'):
        hr._loss(out)


def test_hr_aux_sees_the_prior() -> None:
    model = task(method='hr_aux')
    assert model.model is not None
    first = next(model.model.network.parameters())
    assert first.shape[1] == 4 + 5
    data = batch()
    out = model.outputs(data)
    changed = dict(data, prior=data['prior'].roll(1, dims=1))
    assert not torch.allclose(out['log_q'], model.outputs(changed)['log_q'])


def test_prior_argmax_has_no_network() -> None:
    model = task(method='prior_argmax')
    assert model.model is None
    assert model.configure_optimizers() is None
    assert model.training_step(batch(), 0) is None
    out = model.outputs(batch())
    torch.testing.assert_close(out['log_q'].exp(), out['prior'])


def test_warmup_uses_cross_entropy_first() -> None:
    model = task(warmup_steps=10, border=0)
    out = model.outputs(batch())
    ce = CELoss()(out['log_q'], out['prior'], mask=out['valid'])
    torch.testing.assert_close(model._loss(out), ce)
    model.eval()  # warm-up is for training only
    assert not torch.allclose(model._loss(out), ce)


def test_mismatches_are_named() -> None:
    with pytest.raises(ValueError, match='3 bands but the model has in_channels=4'):
        task().outputs(batch(bands=3))
    with pytest.raises(ValueError, match='prior has 4 classes but the model has'):
        task().outputs(batch(classes=4))
    with pytest.raises(ValueError, match='too small to crop a border'):
        task(border=10).outputs(batch())
    with pytest.raises(ValueError, match='unknown method'):
        task(method='magic')
    with pytest.raises(ValueError, match='2 class names for 5 classes'):
        task(class_names=['a', 'b'])


def test_data_with_other_classes_are_refused(tiny_scene: TinyScene) -> None:
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match=r'data have 5 classes .* num_classes=4'):
        trainer.fit(task(num_classes=4), datamodule(tiny_scene))


def test_init_checkpoint(tmp_path: Path, tiny_scene: TinyScene) -> None:
    hr = task(method='hr')
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match='give the data module label_paths and train'):
        trainer.fit(hr, datamodule(tiny_scene))
    trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)
    trainer.fit(hr, datamodule(tiny_scene, train_labels=True))
    path = tmp_path / 'hr.ckpt'
    trainer.save_checkpoint(path)
    qr = task(init_checkpoint=str(path))
    assert qr.model is not None
    assert hr.model is not None
    for a, b in zip(
        qr.model.network.parameters(), hr.model.network.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)
    # A plain state dict of the network works too.
    torch.save(hr.model.network.state_dict(), tmp_path / 'network.pt')
    task(init_checkpoint=str(tmp_path / 'network.pt'))
    with pytest.raises(ValueError, match='does not fit this network'):
        task(num_filters=16, init_checkpoint=str(path))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        task(init_checkpoint=str(tmp_path / 'missing.ckpt'))


def test_checkpoint_keeps_the_ema_denominator(
    tmp_path: Path, tiny_scene: TinyScene
) -> None:
    model = task(denominator='ema', momentum=0.5, warmup_steps=0)
    trainer = L.Trainer(
        max_steps=2,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule(tiny_scene))
    running = model.criterion.running_class_mass
    assert running.shape == (5,)
    trainer.save_checkpoint(tmp_path / 'ema.ckpt')
    loaded = LSRSegmentation.load_from_checkpoint(tmp_path / 'ema.ckpt')
    torch.testing.assert_close(loaded.criterion.running_class_mass, running)
    assert loaded.hparams['denominator'] == 'ema'


@pytest.mark.parametrize('method', ['lsr', 'prior_argmax'])
def test_whole_tile_posterior_equals_the_reference(
    one_tile_scene: TinyScene, method: str
) -> None:
    """Test metrics with r from whole-tile totals, against a whole-tile computation.

    ``'prior_argmax'`` guards issue 16 item 8: the old first pass skipped models
    without a network, so their r used batch totals while reported as whole-tile.
    """
    import rasterio

    torch.manual_seed(0)
    model = task(num_filters=4, method=method)
    dm = datamodule(one_tile_scene, patch_size=64, eval_patch_size=64)
    trainer = L.Trainer(logger=False, enable_progress_bar=False)
    trainer.test(model, dm, verbose=False)
    results = model.test_results

    # Reference: the network on the whole tile (zero padding at its edges, like the
    # nodata context outside it), r with the tile's class totals, scored directly.
    dm.setup('test')
    size = one_tile_scene.size
    x, y, _ = dm.test_dataset.bounds
    whole = dm.test_dataset[x.start : x.start + size, y.stop - size : y.stop]
    assert whole['image'].shape[-1] == size + 2 * dm.context
    with torch.no_grad():
        out = model.outputs({k: v[None] for k, v in whole.items() if k != 'crs'})
    log_q, prior, valid = out['log_q'], out['prior'], out['valid']
    assert log_q.shape[-1] == size
    log_r = implied_posterior(log_q, prior, mask=valid)
    with rasterio.open(next(one_tile_scene.lc.glob('*.tif'))) as src:
        codes = src.read(1)
    scheme = dm.scheme
    assert scheme is not None
    labels = torch.from_numpy(scheme.to_index(codes)).long()
    labels[labels < 0] = 5
    labels = torch.where(valid[0], labels, 5)
    names = list(scheme.names)
    for key, maps in (('q', log_q), ('r', log_r), ('prior_argmax', prior)):
        expected = segmentation_scores(
            confusion_matrix(maps[0].argmax(0), labels, 5, ignore_index=5), names
        )
        assert results[key]['pixels'] == expected['pixels']
        assert results[key]['accuracy'] == pytest.approx(expected['accuracy'], abs=1e-4)
        assert results[key]['miou'] == pytest.approx(expected['miou'], abs=1e-4)
    # The whole-tile totals are dropped after the test. That batch totals
    # (posterior_totals='batch') give another r, and whole-tile r the one from
    # per-tile totals by hand: tests/tasks/test_posterior_totals.py.
    assert model._tile_log_mass is None


def test_training_improves_over_the_prior(tiny_scene: TinyScene) -> None:
    """A short seeded QR run already beats the prior's argmax (r, class-mean IoU)."""
    L.seed_everything(0)
    model = task(
        model='fcn', num_filters=16, lr=3e-3, warmup_steps=10, plot_every_n_epochs=0
    )
    dm = datamodule(tiny_scene, batch_size=8, patch_size=64, length=8 * 60)
    trainer = L.Trainer(
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(model, dm)
    trainer.test(model, dm, verbose=False)
    results = model.test_results
    assert results['r']['miou'] > results['prior_argmax']['miou'] + 0.03


@pytest.mark.filterwarnings('ignore:You are trying to `self.log')
def test_test_batches_without_tiles_are_refused() -> None:
    """Guards issue 16 item 8: without ``tile``, r silently used batch totals.

    The old test step scored r with the batch's totals while reporting it as
    whole-tile r (posterior_totals='tile'); now it names the fix.
    """
    data = batch()
    del data['tile']
    with pytest.raises(ValueError, match="posterior_totals='tile' needs each test"):
        task().test_step(data, 0)
    # Batch totals need no tiles.
    task(posterior_totals='batch').test_step(data, 0)


@pytest.mark.parametrize('bad', [0.0, float('nan'), -1.0])
def test_an_unusable_prior_at_a_valid_pixel_is_refused(bad: float) -> None:
    """Guards issue 16 item 8: an all-zero (or NaN) prior at a valid pixel.

    The old smoothing turned it into a uniform prior (so the losses' own check
    could never fire) and the task trained on it; now it is a data error, named.
    """
    data = batch()
    data['prior'][1, :, 10, 10] = 0.0
    data['prior'][1, 2, 10, 10] = bad
    model = task(border=3)
    with pytest.raises(ValueError, match=r'prior is unusable at 1 valid pixel'):
        model.outputs(data)
    with pytest.raises(ValueError, match=r'prior is unusable at 1 valid pixel'):
        task(method='prior_argmax').outputs(data)
    # The same pixel marked invalid (nodata) is fine.
    data['valid'][1, 10, 10] = False
    assert not model.outputs(data)['valid'][1, 7, 7]


def test_batches_without_validity_are_refused() -> None:
    """Guards issue 16 item 8: a batch without ``valid`` was taken as all valid."""
    data = batch()
    del data['valid']
    with pytest.raises(ValueError, match="the batch has no 'valid' key"):
        task().outputs(data)


@pytest.mark.filterwarnings('ignore:You are trying to `self.log')
def test_a_run_of_batches_without_a_valid_pixel_stops_training() -> None:
    """Guards issue 16 item 9: all-invalid batches give loss 0 and train nothing.

    The old task trained on such batches forever; now 20 in a row raise, naming the
    likely causes, while a few at the edge of a region are accepted.
    """
    empty = batch()
    empty['valid'][:] = False
    model = task()
    for step in range(EMPTY_RUN_LIMIT - 1):
        loss = model.training_step(empty, step)
        assert loss is not None
        assert float(loss.detach()) == 0.0
    model.training_step(batch(), EMPTY_RUN_LIMIT - 1)  # one valid batch: fine
    for step in range(EMPTY_RUN_LIMIT - 1):
        model.training_step(empty, step)
    with pytest.raises(ValueError, match='20 training batches in a row had no valid'):
        model.training_step(empty, 0)


def test_an_epoch_without_a_valid_pixel_stops_training() -> None:
    """Guards issue 16 item 9: a short epoch of empty batches also trains nothing."""
    watch = ValidPixelWatch()
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    watch.update(empty)
    watch.update(~empty)
    watch.update(empty)
    watch.check(epoch_end=True)  # a valid batch in the epoch: fine
    for _ in range(3):
        watch.update(empty)
    with pytest.raises(ValueError, match='4 training batches in a row had no valid'):
        watch.check(epoch_end=True)

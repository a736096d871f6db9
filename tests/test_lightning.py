"""The LightningCLI subcommands, driven by the shipped conf/synthetic.yaml."""

import json
import math
from pathlib import Path

import pytest
import rasterio
import torch

from tests.conftest import TinyScene
from torchgeo_lsr.cli import main, run_lightning
from torchgeo_lsr.tasks import LSRSegmentation

CONFIG = Path(__file__).parents[1] / 'conf' / 'synthetic.yaml'


def scene_args(scene: TinyScene, root: Path) -> list[str]:
    """Point conf/synthetic.yaml at a tiny scene, with small, fast settings."""
    data = {
        'image_paths': scene.naip,
        'coarse_paths': scene.nlcd,
        'label_paths': scene.lc,
        'cooccurrence': scene.cooccurrence,
        'prior_sigma': 6,
        'prior_kernel_size': 19,
        'buildings_paths': scene.vector('buildings'),
        'roads_paths': scene.vector('roads'),
        'waterways_paths': scene.vector('waterways'),
        'waterbodies_paths': scene.vector('waterbodies'),
        'batch_size': 2,
        'patch_size': 48,
        'eval_patch_size': 96,
        'length': 4,
    }
    args = ['--config', str(CONFIG)]
    for key, value in data.items():
        args += [f'--data.init_args.{key}', str(value)]
    return [
        *args,
        '--model.init_args.num_filters',
        '4',
        '--trainer.default_root_dir',
        str(root),
        '--trainer.enable_progress_bar',
        'false',
    ]


@pytest.mark.parametrize(
    'options',
    [
        ['--model.init_args.loss', 'qr'],
        ['--model.init_args.loss', 'qr', '--model.init_args.qr_form', 'kl'],
        ['--model.init_args.loss', 'rq', '--model.init_args.denominator', 'ema'],
        ['--model.init_args.loss', 'ce'],
        ['--model.init_args.loss', 'nll_union'],
        ['--model.init_args.method', 'hard_naive'],
        ['--model.init_args.method', 'hr', '--data.init_args.train_labels', 'true'],
        ['--model.init_args.method', 'hr_aux', '--data.init_args.train_labels', 'true'],
        ['--model.init_args.method', 'prior_argmax'],
    ],
    ids=[
        'qr',
        'qr-kl',
        'rq-ema',
        'ce',
        'nll-union',
        'hard-naive',
        'hr',
        'hr-aux',
        'prior-argmax',
    ],
)
def test_fit_fast_dev_run(
    tiny_scene: TinyScene, tmp_path: Path, options: list[str]
) -> None:
    # Each run trains one step of its method: the options reached the task, the
    # loss is finite and the step changed the network (not only "did not crash").
    args = [*scene_args(tiny_scene, tmp_path), *options, '--trainer.fast_dev_run']
    before = run_lightning([*args, 'true'], run=False).model
    cli = run_lightning(['fit', *args, 'true'])
    model = cli.model
    assert isinstance(model, LSRSegmentation)
    assert cli.trainer.state.finished
    given = dict(zip(options[::2], options[1::2], strict=True))
    for key, value in given.items():
        if key.startswith('--model.init_args.'):
            assert model.hparams[key.removeprefix('--model.init_args.')] == value
    if model.hparams['method'] == 'prior_argmax':
        assert model.model is None  # nothing to train
        assert before.model is None
        return
    assert cli.trainer.global_step == 1
    assert math.isfinite(float(cli.trainer.callback_metrics['train_loss']))
    trained = dict(model.named_parameters())
    changed = [
        name
        for name, value in before.named_parameters()
        if not torch.equal(value, trained[name])
    ]
    assert changed, 'one training step changed no weight'


def test_fit_validate_test_predict(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = scene_args(tiny_scene, tmp_path)
    main(['fit', *args, '--trainer.max_steps', '2', '--trainer.limit_val_batches', '1'])
    checkpoint = tmp_path / 'lightning_logs' / 'version_0' / 'checkpoints' / 'last.ckpt'
    if not checkpoint.exists():  # ModelCheckpoint writes under default_root_dir
        checkpoint = next(tmp_path.rglob('last.ckpt'))
    assert (tmp_path / 'lightning_logs' / 'version_0' / 'config.yaml').exists()
    loaded = LSRSegmentation.load_from_checkpoint(checkpoint)  # the checkpoint loads
    assert loaded.hparams['num_filters'] == 4
    validated = run_lightning(['validate', *args, '--ckpt_path', str(checkpoint)])
    metrics = {k: float(v) for k, v in validated.trainer.callback_metrics.items()}
    assert math.isfinite(metrics['val_loss'])
    for output in ('q', 'r'):
        for name in ('accuracy', 'miou'):
            assert 0 <= metrics[f'val_{output}_{name}'] <= 1
    # The checkpoint's weights were validated, not a fresh network's.
    torch.testing.assert_close(
        validated.model.state_dict(), loaded.state_dict(), check_device=False
    )
    results = tmp_path / 'results.json'
    main(['test', *args, '--ckpt_path', str(checkpoint), '--results', str(results)])
    printed = capsys.readouterr().out
    assert 'QR (q)' in printed
    assert 'QR (r)' in printed
    assert 'prior argmax' in printed
    scores = json.loads(results.read_text())
    assert set(scores) >= {'q', 'r', 'prior_argmax'}
    for key in ('q', 'r', 'prior_argmax'):
        assert set(scores[key]) >= {'accuracy', 'miou', 'per_class_iou'}
        assert 0 <= scores[key]['accuracy'] <= 1
        assert 0 <= scores[key]['miou'] <= 1
        assert set(scores[key]['per_class_iou']) == {
            'Water',
            'Impervious Surface',
            'Soil and Barren',
            'Trees and Forest',
            'Grass',
        }
    # TorchGeo's predict: q and r probabilities of every sample.
    predicted = run_lightning(['predict', *args, '--ckpt_path', str(checkpoint)])
    predictions = predicted.trainer.predict_loop.predictions
    assert predictions
    for batch in predictions:
        for key in ('q', 'r'):
            assert batch[key].shape[1] == 5
            total = batch[key].sum(1)
            torch.testing.assert_close(total, torch.ones_like(total))
    maps = tmp_path / 'maps'
    main(
        [
            'predict',
            *args,
            '--ckpt_path',
            str(checkpoint),
            '--out',
            str(maps),
            '--products',
            '[q, r]',
            '--window',
            '64',
        ]
    )
    assert sorted(p.name for p in maps.glob('*.tif')) == [
        'tile_0.tif',
        'tile_0_q.tif',
        'tile_0_r.tif',
        'tile_1.tif',
        'tile_1_q.tif',
        'tile_1_r.tif',
    ]
    with rasterio.open(maps / 'tile_0.tif') as src:
        left, top = src.bounds.left, src.bounds.top
    region = f'{left + 150},{top - 100},{left + 250},{top - 20}'
    main(
        [
            'predict',
            *args,
            '--ckpt_path',
            str(checkpoint),
            '--out',
            str(tmp_path / 'region.tif'),
            '--region',
            region,
        ]
    )
    with rasterio.open(tmp_path / 'region.tif') as src:
        assert (src.width, src.height) == (100, 80)
        assert (src.bounds.left, src.bounds.top) == (left + 150, top - 20)
    labels = sorted(tiny_scene.lc.glob('*.tif'))
    args = ['evaluate', '--pred', *map(str, sorted(maps.glob('tile_?.tif')))]
    main([*args, '--labels', *map(str, labels)])
    assert 'mIoU' in capsys.readouterr().out


def test_hard_naive_results_carry_their_entry(
    tiny_scene: TinyScene, tmp_path: Path
) -> None:
    args = scene_args(tiny_scene, tmp_path)
    results = tmp_path / 'naive.json'
    main(
        [
            'test',
            *args,
            '--model.init_args.method',
            'hard_naive',
            '--results',
            str(results),
        ]
    )
    scores = json.loads(results.read_text())
    assert scores['method'] == 'hard_naive'
    assert scores['hard_naive'] == scores['q']


def test_unknown_class_or_key_is_lightnings_error(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = scene_args(tiny_scene, tmp_path)
    with pytest.raises(SystemExit) as raised:
        main(['fit', *args, '--model.class_path', 'NoSuchTask'])
    assert raised.value.code != 0
    assert 'NoSuchTask' in capsys.readouterr().err
    bad = tmp_path / 'bad.yaml'
    bad.write_text(
        CONFIG.read_text().replace('    warmup_steps: 30', '    warmup_stepz: 30')
    )
    with pytest.raises(SystemExit) as raised:
        main(['fit', *args, '--config', str(bad)])
    assert raised.value.code != 0
    assert 'warmup_stepz' in capsys.readouterr().err


@pytest.mark.parametrize('name', ['block_size', 'window'])
def test_predict_block_size_keeps_its_old_name(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # --window, the option's older name, works on the command line and in a config
    # saved before; the saved config now uses block_size.
    saved = tmp_path / 'saved.yaml'
    saved.write_text(f'{name}: 32\n')
    args = ['predict', *scene_args(tiny_scene, tmp_path)]
    for options, value in (([f'--{name}', '64'], 64), (['--config', str(saved)], 32)):
        with pytest.raises(SystemExit) as raised:
            main([*args, *options, '--print_config'])
        assert raised.value.code == 0
        printed = capsys.readouterr().out
        assert f'block_size: {value}\n' in printed
        assert 'window:' not in printed

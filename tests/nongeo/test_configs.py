"""The non-geo configs run through ``torchgeo-lsr fit`` / ``test``."""

import re
from pathlib import Path

import pytest

from torchgeo_lsr.cli import main

CONF = Path(__file__).parents[2] / 'conf' / 'nongeo'


@pytest.mark.parametrize(
    ('config', 'extra'),
    [
        ('negative_labels_mnist', ['--model.init_args.loss', 'rq']),
        ('negative_labels_mnist', ['--model.init_args.loss', 'nll_union']),
        ('ranked_pairs_mnist', []),
    ],
)
def test_config_fit_and_test_on_a_slice_of_mnist(
    config: str,
    extra: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    small = [
        '--data.init_args.train_size',
        '512',
        '--data.init_args.test_size',
        '256',
        '--trainer.max_epochs',
        '1',
        '--trainer.enable_progress_bar',
        'false',
        *extra,
    ]
    path = str(CONF / f'{config}.yaml')
    main(['fit', '--config', path, *small])
    ckpt = tmp_path / 'outputs' / config / 'checkpoints' / 'last.ckpt'
    assert ckpt.is_file()
    capsys.readouterr()
    main(['test', '--config', path, *small, '--ckpt_path', str(ckpt)])
    assert 'test accuracy:' in capsys.readouterr().out


def test_cifar10_config_names_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing CIFAR-10 batch ends the run with one line naming the file."""
    with pytest.raises(SystemExit) as stop:
        main(
            [
                'fit',
                '--config',
                str(CONF / 'negative_labels_cifar10.yaml'),
                '--data.init_args.root',
                str(tmp_path),
                '--trainer.fast_dev_run',
                'true',
            ]
        )
    assert stop.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r'torchgeo-lsr fit: error: no CIFAR-10 batch .*data_batch_1', last
    )

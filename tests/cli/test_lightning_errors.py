"""Errors of fit / validate / test / predict end with one line and exit status 2.

Guards issue 16 item 13: LightningCLI used to end a bad run with jsonargparse's
70-line union dump whose last line was ``Given value: Namespace(...)``, the real
message buried in the middle (or, for errors while building a class, a traceback).
"""

from pathlib import Path

import jsonargparse
import pytest

from tests.conftest import TinyScene
from tests.test_lightning import CONFIG, scene_args
from torchgeo_lsr._config_errors import closest, summarize
from torchgeo_lsr.cli import command as command_module
from torchgeo_lsr.cli import main
from torchgeo_lsr.cli.errors import root_cause, user_error_message

WARMUP_TYPO = (
    "unknown key 'model.init_args.warmup_stepz' (LSRSegmentation takes no such "
    "argument): did you mean 'model.init_args.warmup_steps'?"
)


def last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.rstrip('\n').splitlines()[-1]


def fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run main, which must exit with status 2; the last line of standard error."""
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    return last_line(capsys)


def test_missing_cooccurrence_while_building_the_data_module(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # jsonargparse wraps the data module's ValueError in its union error.
    missing = tmp_path / 'scene' / 'cooccurrence.csv'
    args = [*scene_args(tiny_scene, tmp_path), '--data.init_args.cooccurrence']
    line = fails(['fit', *args, str(missing)], capsys)
    assert line == (
        f"torchgeo-lsr fit: error: no co-occurrence matrix '{missing}': give a CSV "
        'file or one of enviroatlas-austin, enviroatlas-durham, '
        'enviroatlas-phoenix, enviroatlas-pittsburgh'
    )


def test_debug_keeps_the_traceback(
    tiny_scene: TinyScene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / 'no.csv')
    args = [*scene_args(tiny_scene, tmp_path), '--data.init_args.cooccurrence']
    with pytest.raises(ValueError, match='Does not validate') as raised:
        main(['fit', '--debug', *args, missing])
    assert 'no co-occurrence matrix' in str(raised.value.__cause__)
    monkeypatch.setenv('TORCHGEO_LSR_DEBUG', '1')
    with pytest.raises(ValueError, match='Does not validate'):
        main(['validate', *args, missing])


def test_error_in_fit(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The task's ValueError raised in the first training step, not while parsing.
    args = [*scene_args(tiny_scene, tmp_path), '--trainer.fast_dev_run', 'true']
    line = fails(['fit', *args, '--model.init_args.in_channels', '3'], capsys)
    assert line == (
        'torchgeo-lsr fit: error: the imagery has 4 bands but the model has '
        'in_channels=3: set --model.init_args.in_channels 4'
    )


@pytest.mark.parametrize(
    ('replace', 'expected'),
    [
        (('    warmup_steps: 30', '    warmup_stepz: 30'), WARMUP_TYPO),
        (
            ('    batch_size: 8', '    batch_sise: 8'),
            (
                "unknown key 'data.init_args.batch_sise' (LSRDataModule takes no "
                "such argument): did you mean 'data.init_args.batch_size'?"
            ),
        ),
        (
            ('  max_epochs: 1', '  max_epochz: 1'),
            "unknown key 'trainer.max_epochz': did you mean 'trainer.max_epochs'?",
        ),
        (
            ('seed_everything: 0', 'seed_everythin: 0'),
            "unknown key 'seed_everythin': did you mean 'seed_everything'?",
        ),
    ],
    ids=['model', 'data', 'trainer', 'top-level'],
)
def test_a_typo_in_the_config_names_the_key_and_the_closest(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    replace: tuple[str, str],
    expected: str,
) -> None:
    bad = tmp_path / 'bad.yaml'
    text = CONFIG.read_text()
    assert replace[0] in text
    bad.write_text(text.replace(*replace))
    with pytest.raises(SystemExit) as raised:
        main(['fit', '--config', str(bad)])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.rstrip().splitlines()[-1] == f'torchgeo-lsr fit: error: {expected}'
    # jsonargparse's own message comes first, without the 70-line usage.
    assert 'not accept' in err or 'is not accepted' in err
    assert '[--trainer.' not in err


@pytest.mark.parametrize(
    ('options', 'expected'),
    [
        (
            ['--model.init_args.lr', 'abc'],
            "model.init_args.lr: expected float, got 'abc'",
        ),
        (
            ['--data.init_args.batch_size', 'x'],
            "data.init_args.batch_size: expected int, got 'x'",
        ),
        (
            ['--model.init_args.loss', 'qq'],
            (
                "model.init_args.loss: expected one of 'qr', 'rq', 'ce', "
                "'nll_union', got 'qq'"
            ),
        ),
        (['--model.init_args.warmup_stepz', '3'], WARMUP_TYPO),
        (
            ['--trainer.max_epochz', '3'],
            "unknown key 'trainer.max_epochz': did you mean 'trainer.max_epochs'?",
        ),
    ],
    ids=['float', 'int', 'literal', 'model-key', 'trainer-key'],
)
def test_a_wrong_value_on_the_command_line(
    capsys: pytest.CaptureFixture[str], options: list[str], expected: str
) -> None:
    line = fails(['fit', '--config', str(CONFIG), *options], capsys)
    assert line == f'torchgeo-lsr fit: error: {expected}'


def test_test_options_are_known_keys(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(['test', '--config', str(CONFIG), '--resultz', 'r.json'], capsys)
    assert (
        line
        == "torchgeo-lsr test: error: unknown key 'resultz': did you mean 'results'?"
    )


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: list[str]) -> None:
        raise KeyError('a bug')

    monkeypatch.setattr(command_module, 'run_lightning', broken)
    with pytest.raises(KeyError, match='a bug'):
        main(['fit', '--config', str(CONFIG)])


class Broken:
    def __init__(self, x: int = 0) -> None:
        raise TypeError('a bug in __init__')


class Refusing:
    def __init__(self, x: int = 0) -> None:
        raise FileNotFoundError(f'no file {x}: give one')


@pytest.mark.parametrize(
    ('klass', 'message'), [(Broken, None), (Refusing, 'no file 3: give one')]
)
def test_root_cause_unwraps_jsonargparse(klass: type, message: str | None) -> None:
    # Through jsonargparse's own union error, as LightningCLI builds its
    # ``BaseTask | None`` and ``BaseDataModule | None``.
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_argument('--thing', type=klass | None)
    config = parser.parse_args(
        ['--thing', f'{__name__}.{klass.__name__}', '--thing.x', '3']
    )
    with pytest.raises(ValueError, match='Does not validate') as raised:
        parser.instantiate_classes(config)
    assert type(root_cause(raised.value)) is (
        TypeError if message is None else FileNotFoundError
    )
    assert user_error_message(raised.value) == message


def test_summarize_without_a_parser() -> None:
    assert summarize('something odd\n  happened') == 'something odd happened'
    assert closest('warmup_stepz', ['lr', 'warmup_steps']) == 'warmup_steps'
    assert closest('zzz', ['lr', 'warmup_steps']) is None

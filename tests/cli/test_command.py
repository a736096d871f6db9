import argparse
import re
import subprocess
import sys

import pytest

from torchgeo_lsr import __version__
from torchgeo_lsr.cli import (
    LIGHTNING_COMMANDS,
    SUBCOMMANDS,
    Subcommand,
    build_parser,
    main,
)


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand, by name."""
    parser = build_parser()
    (commands,) = (
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return dict(commands.choices)


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert 'usage: torchgeo-lsr' in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['--version'])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['frobnicate'])
    assert exit_info.value.code == 2
    assert 'invalid choice' in capsys.readouterr().err


@pytest.mark.parametrize('module', ['torchgeo_lsr', 'torchgeo_lsr.cli'])
def test_module_entry_point(module: str) -> None:
    result = subprocess.run(
        [sys.executable, '-m', module, '--help'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'demo' in result.stdout
    assert 'fit' in result.stdout


def test_the_table_covers_every_subcommand_in_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    help_text = capsys.readouterr().out
    listed = re.findall(r'^    (\S+)', help_text, flags=re.MULTILINE)
    expected = [*LIGHTNING_COMMANDS, *(subcommand.name for subcommand in SUBCOMMANDS)]
    assert listed == expected
    assert set(subparsers()) == set(expected)
    for subcommand in SUBCOMMANDS:
        assert subcommand.help.split()[0] in help_text


@pytest.mark.parametrize('subcommand', SUBCOMMANDS, ids=lambda s: s.name)
def test_help_of_each_subcommand_lists_its_options(
    subcommand: Subcommand, capsys: pytest.CaptureFixture[str]
) -> None:
    name = subcommand.name
    with pytest.raises(SystemExit) as exit_info:
        main([name, '--help'])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert f'usage: torchgeo-lsr {name}' in help_text
    for action in subparsers()[name]._actions:
        for option in action.option_strings:
            assert option in help_text


def test_options_are_snake_case_first_with_kebab_case_aliases() -> None:
    for name, parser in subparsers().items():
        for action in parser._actions:
            options = [o for o in action.option_strings if o.startswith('--')]
            if not options:
                continue
            assert '-' not in options[0][2:], f'{name} {options}: snake_case first'
            for option in options:
                snake = '--' + option[2:].replace('-', '_')
                kebab = '--' + option[2:].replace('_', '-')
                assert {snake, kebab} <= set(options), f'{name} {options}'

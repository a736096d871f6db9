import argparse
import dataclasses

import pytest

from torchgeo_lsr.cli import Subcommand
from torchgeo_lsr.cli.subcommand import option_names


def test_option_names() -> None:
    assert option_names('out') == ['--out']
    assert option_names('kernel_size') == ['--kernel_size', '--kernel-size']
    assert option_names('block_size', 'window_size', 'window') == [
        '--block_size',
        '--block-size',
        '--window_size',
        '--window-size',
        '--window',
    ]


def test_subcommand_is_frozen() -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--x')

    def run(args: argparse.Namespace) -> int:
        return 0

    subcommand = Subcommand('x', 'help', 'description', add_arguments, run)
    with pytest.raises(dataclasses.FrozenInstanceError):
        subcommand.name = 'y'  # type: ignore[misc]

"""What a plain subcommand of ``torchgeo-lsr`` is: its help, its options, its run.

Each subcommand module of :mod:`torchgeo_lsr.cli` defines one
:class:`Subcommand`; :mod:`torchgeo_lsr.cli.command` lists them in a table and
builds the parser from it. Options are spelled in snake_case, as LightningCLI
spells the options of ``fit``, ``validate``, ``test`` and ``predict``; their
kebab-case spellings stay accepted (see :func:`option_names`).
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ('Subcommand', 'option_names')


@dataclass(frozen=True)
class Subcommand:
    """A plain (argparse) subcommand of ``torchgeo-lsr``.

    Attributes:
        name: the subcommand's name on the command line.
        help: one line for the list of subcommands in ``torchgeo-lsr --help``.
        description: the paragraph of ``torchgeo-lsr <name> --help``.
        add_arguments: adds the subcommand's options to its parser.
        run: runs the subcommand on the parsed arguments; returns the exit status.
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def option_names(name: str, *aliases: str) -> list[str]:
    """The option strings of an option: snake_case first, then kebab-case.

    The first string names the parsed attribute and comes first in ``--help``.

    Args:
        name: the option's name in snake_case, without dashes (``'block_size'``).
        *aliases: other names of the same option (``'window_size'``), each also in
            both spellings.

    Returns:
        The option strings, e.g. ``['--block_size', '--block-size']``.
    """
    strings: list[str] = []
    for each in (name, *aliases):
        for spelling in (each, each.replace('_', '-')):
            if f'--{spelling}' not in strings:
                strings.append(f'--{spelling}')
    return strings

"""The ``torchgeo-lsr`` command: the table of subcommands, the parser, the entry point.

``fit``, ``validate``, ``test`` and ``predict`` go to LightningCLI whole (it parses
its own options, see :mod:`torchgeo_lsr._lightning`); every other subcommand is a
:class:`~torchgeo_lsr.cli.subcommand.Subcommand` in :data:`SUBCOMMANDS`.
"""

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._lightning import LIGHTNING_COMMANDS, run_lightning
from .cooccurrence import COOCCURRENCE
from .demo import DEMO
from .errors import DEBUG_ENV, DEBUG_FLAG, debug_requested, run_reporting_errors
from .evaluate import EVALUATE
from .make_scene import MAKE_SCENE
from .prior import PRIOR
from .subcommand import Subcommand
from .toy import TOY

__all__ = ('LIGHTNING_HELP', 'SUBCOMMANDS', 'build_parser', 'main')

#: One line per LightningCLI subcommand for ``torchgeo-lsr --help``.
LIGHTNING_HELP: dict[str, str] = {
    'fit': 'train a task (LightningCLI; --config conf/<name>.yaml)',
    'validate': 'validate a checkpoint (LightningCLI)',
    'test': 'test a checkpoint: q / r / prior-argmax scores (--results JSON)',
    'predict': 'predict maps with a checkpoint (--out)',
}

#: The plain subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[Subcommand, ...] = (
    DEMO,
    TOY,
    COOCCURRENCE,
    PRIOR,
    EVALUATE,
    MAKE_SCENE,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with all subcommands.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog='torchgeo-lsr',
        description=(
            'Label super-resolution from coarse or partial labels with implicit '
            'posterior models (QR/RQ), built on TorchGeo.'
        ),
        epilog=(
            'Errors in the input end with one line "torchgeo-lsr COMMAND: error: '
            f'..." (exit status 2); {DEBUG_FLAG} or {DEBUG_ENV}=1 keeps the full '
            'traceback.'
        ),
    )
    parser.add_argument('--version', action='version', version=__version__)
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in LIGHTNING_COMMANDS:
        # Listed for --help only: main() hands these to LightningCLI before argparse.
        commands.add_parser(name, help=LIGHTNING_HELP[name], add_help=False)
    for subcommand in SUBCOMMANDS:
        subparser = commands.add_parser(
            subcommand.name, help=subcommand.help, description=subcommand.description
        )
        subcommand.add_arguments(subparser)
        subparser.set_defaults(handler=subcommand.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchgeo-lsr`` console script.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status (0 on success).

    Raises:
        SystemExit: With status 2 after an error in the input (the last line of
            standard error says which, see :mod:`torchgeo_lsr.cli.errors`).
    """
    debug, arguments = debug_requested(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in LIGHTNING_COMMANDS:

        def lightning() -> int:
            run_lightning(arguments)
            return 0

        return run_reporting_errors(arguments[0], lightning, debug)
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return 0
    return run_reporting_errors(args.command, lambda: int(args.handler(args)), debug)

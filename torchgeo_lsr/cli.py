"""The ``torchgeo-lsr`` command line.

Subcommands so far:

* ``demo``: the toy demonstration of QR/RQ resolving coarse priors
  (:mod:`torchgeo_lsr.toy`).

Training and prediction (``fit``, ``validate``, ``test``, ``predict``) and the data
tools (``prior``, ``cooccurrence``, ``make-scene``, ``evaluate``) join here as they
land.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__

__all__ = ('build_parser', 'main')


def _run_demo(args: argparse.Namespace) -> int:
    """Run the toy demo and print its table.

    Args:
        args: parsed arguments (``out``, ``seed``, ``steps``).

    Returns:
        Exit status.
    """
    from .toy import TOY_LOSS_NAMES, TOY_LOSSES, run_toy_demo

    out = Path(args.out)
    print(
        'Toy label super-resolution: points in coarse cells, supervised only by '
        'per-cell priors from a co-occurrence matrix.\nThe last class is a '
        'minority in most cells (like roads in a 30 m pixel).\n'
    )
    results = run_toy_demo(out, seed=args.seed, steps=args.steps)
    header = f'{"method":38s} {"accuracy":>9s} {"rare-class recall":>18s}'
    print(header)
    print('-' * len(header))
    rows: list[tuple[str, object]] = [('prior argmax', results['prior_argmax'])]
    for name in TOY_LOSSES:
        entry = results[name]
        assert isinstance(entry, dict)
        rows.append((f'{TOY_LOSS_NAMES[name]}: argmax q', entry['q']))
        rows.append((f'{TOY_LOSS_NAMES[name]}: argmax r', entry['r']))
    for label, scores in rows:
        assert isinstance(scores, dict)
        print(f'{label:38s} {scores["accuracy"]:9.1%} {scores["rare_recall"]:18.1%}')
    print(f'\nWrote {out / "toy_results.json"} and {out / "toy.png"}')
    return 0


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
    )
    parser.add_argument('--version', action='version', version=__version__)
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    demo = commands.add_parser(
        'demo',
        help='toy demonstration: QR and RQ resolving coarse priors',
        description='Train small models on a toy problem with CE, QR and RQ and '
        'compare them with the prior (a few seconds on a CPU).',
    )
    demo.add_argument(
        '--out', default='outputs/demo', help='output folder (default: %(default)s)'
    )
    demo.add_argument('--seed', type=int, default=0, help='random seed')
    demo.add_argument('--steps', type=int, default=400, help='training steps per model')
    demo.set_defaults(handler=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchgeo-lsr`` console script.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status (0 on success).
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command is None:
        parser.print_help()
        return 0
    status: int = args.handler(args)
    return status


if __name__ == '__main__':
    sys.exit(main())

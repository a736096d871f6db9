"""``torchgeo-lsr toy``: the toy demonstration of QR/RQ (:mod:`torchgeo_lsr.toy`)."""

import argparse
from pathlib import Path

from ..results import toy_results_table
from ..toy import TOY_LOSS_NAMES, TOY_LOSSES, run_toy_demo
from .subcommand import Subcommand

__all__ = ('TOY', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the toy demo's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument(
        '--out', default='outputs/toy', help='output folder (default: %(default)s)'
    )
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--steps', type=int, default=400, help='training steps per model'
    )


def run(args: argparse.Namespace) -> int:
    """Run the toy demo and print its table.

    Args:
        args: parsed arguments (``out``, ``seed``, ``steps``).

    Returns:
        Exit status.
    """
    out = Path(args.out)
    print(
        'Toy label super-resolution: points in coarse cells, supervised only by '
        'per-cell priors from a co-occurrence matrix.\nThe last class is a '
        'minority in most cells (like roads in a 30 m pixel).\n'
    )
    results = run_toy_demo(out, seed=args.seed, steps=args.steps)
    print(
        toy_results_table(results, {loss: TOY_LOSS_NAMES[loss] for loss in TOY_LOSSES})
    )
    print(f'\nWrote {out / "toy_results.json"} and {out / "toy.png"}')
    return 0


TOY = Subcommand(
    name='toy',
    help='toy demonstration: QR and RQ resolving coarse priors (seconds)',
    description='Train small models on a toy problem with CE, QR and RQ and '
    'compare them with the prior (a few seconds on a CPU).',
    add_arguments=add_arguments,
    run=run,
)

"""``torchgeo-lsr demo``: the land-cover demonstration (:mod:`torchgeo_lsr.demo`)."""

import argparse

from ..demo import run_demo
from .subcommand import Subcommand

__all__ = ('DEMO', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument(
        '--out', default='outputs/demo', help='output folder (default: %(default)s)'
    )
    parser.add_argument(
        '--scene', default='data/scene', help='scene folder (default: %(default)s)'
    )
    parser.add_argument(
        '--config',
        default='conf/synthetic.yaml',
        help='config of the runs (default: %(default)s)',
    )


def run(args: argparse.Namespace) -> int:
    """Run the land-cover demo (scene, priors, QR and hard naive, table).

    Args:
        args: parsed arguments (``out``, ``scene``, ``config``).

    Returns:
        Exit status.
    """
    run_demo(args.out, scene=args.scene, config=args.config)
    return 0


DEMO = Subcommand(
    name='demo',
    help='land-cover demo: generated scene, QR vs hard naive vs prior (CPU)',
    description='Write the generated scene if missing, estimate its NLCD '
    'co-occurrence, fit and test QR and the hard-naive baseline with the config, '
    'and print the q / r / prior-argmax / hard-naive table (no download).',
    add_arguments=add_arguments,
    run=run,
)

"""``torchgeo-lsr make-scene``: write a synthetic georeferenced scene."""

import argparse

from ..datasets import make_scene
from .subcommand import Subcommand

__all__ = ('MAKE_SCENE', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the scene's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--size', type=int, default=2048, help='tile side in pixels')
    parser.add_argument('--tiles', type=int, default=2, help='number of tiles')
    parser.add_argument('--seed', type=int, default=0, help='random seed')


def run(args: argparse.Namespace) -> int:
    """Write a synthetic scene (:func:`torchgeo_lsr.datasets.make_scene`).

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    manifest = make_scene(
        args.out_dir, size=args.size, tiles=args.tiles, seed=args.seed, progress=True
    )
    print(f'Wrote a {args.tiles}-tile scene of {args.size} px tiles to {args.out_dir}')
    calibration = manifest.to_dict().get('calibration') or {}
    if calibration:
        print(f'calibration: {calibration}')
    return 0


MAKE_SCENE = Subcommand(
    name='make-scene',
    help='write a synthetic georeferenced scene (imagery, labels, NLCD, vectors)',
    description='Write NAIP-like imagery, 1 m labels, 30 m NLCD and vector layers '
    'with a manifest, deterministic for a seed.',
    add_arguments=add_arguments,
    run=run,
)

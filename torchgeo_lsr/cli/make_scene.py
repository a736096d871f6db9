"""``torchgeo-lsr make-scene``: write a synthetic georeferenced scene.

Two generators: ``town`` (the default: :func:`torchgeo_lsr.datasets.make_scene`, a
1 m NAIP-like town with NLCD and vector layers) and ``landscape``
(:func:`torchgeo_lsr.datasets.make_landscape`: other styles, sensors,
resolutions, class counts and coarse-label kinds, for checking a recipe on data it
was not tuned on).
"""

import argparse

from ..datasets import make_scene
from ..datasets.landscape import (
    BAND_SETS,
    COARSE_KINDS,
    STYLES,
    LandscapeOptions,
    Nuisances,
    make_landscape,
)
from .subcommand import Subcommand, option_names

__all__ = ('MAKE_SCENE', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the scene's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument(
        '--generator',
        choices=('town', 'landscape'),
        default='town',
        help='town: the embedded 1 m scene; landscape: any style, sensor, resolution',
    )
    parser.add_argument(
        '--size', type=int, default=None, help='tile side in pixels (2048 / 512)'
    )
    parser.add_argument('--tiles', type=int, default=2, help='number of tiles')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    land = parser.add_argument_group('landscape generator')
    land.add_argument('--style', choices=sorted(STYLES), default='rural')
    land.add_argument('--classes', type=int, default=5, help='2 to 8 classes')
    land.add_argument('--bands', type=int, choices=sorted(BAND_SETS), default=4)
    land.add_argument('--resolution', type=float, default=1.0, help='metres / pixel')
    land.add_argument(
        *option_names('coarse_kind'), choices=COARSE_KINDS, default='rules'
    )
    land.add_argument(
        *option_names('coarse_factor'),
        type=int,
        default=30,
        help='pixels per coarse cell side',
    )
    land.add_argument(*option_names('label_noise'), type=float, default=0.02)
    land.add_argument(*option_names('rare_share'), type=float, default=None)
    land.add_argument('--crs', default='EPSG:32633')
    land.add_argument('--season', type=float, default=0.3, help='senescence, 0-1')
    land.add_argument(*option_names('no_shadows'), action='store_true')
    land.add_argument(*option_names('nodata_corner'), type=float, default=0.0)


def run(args: argparse.Namespace) -> int:
    """Write a synthetic scene with the chosen generator.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    if args.generator == 'landscape':
        options = LandscapeOptions(
            style=args.style,
            num_classes=args.classes,
            bands=args.bands,
            resolution=args.resolution,
            coarse_kind=args.coarse_kind,
            coarse_factor=args.coarse_factor,
            label_noise=args.label_noise,
            rare_share=args.rare_share,
            crs=args.crs,
            nodata_corner=args.nodata_corner,
            nuisances=Nuisances(season=args.season, shadows=not args.no_shadows),
        )
        size = args.size or 512
        manifest = make_landscape(
            args.out_dir,
            options,
            size=size,
            tiles=args.tiles,
            seed=args.seed,
            progress=True,
        )
        print(
            f'Wrote a {args.tiles}-tile {args.style} landscape of {size} px tiles to '
            f'{args.out_dir} (schemes: {manifest["fine_scheme"]}, '
            f'{manifest["coarse_scheme"]})'
        )
        print(f'class shares: {manifest["class_shares"]}')
        return 0
    size = args.size or 2048
    scene = make_scene(
        args.out_dir, size=size, tiles=args.tiles, seed=args.seed, progress=True
    )
    print(f'Wrote a {args.tiles}-tile scene of {size} px tiles to {args.out_dir}')
    calibration = scene.to_dict().get('calibration') or {}
    if calibration:
        print(f'calibration: {calibration}')
    return 0


MAKE_SCENE = Subcommand(
    name='make-scene',
    help='write a synthetic georeferenced scene (imagery, labels, coarse labels)',
    description='Write imagery, high-resolution labels and coarse labels (the town '
    'generator adds NLCD, vector layers and a manifest), deterministic for a seed.',
    add_arguments=add_arguments,
    run=run,
)

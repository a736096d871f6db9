"""``torchgeo-lsr cooccurrence``: estimate P(fine class | coarse code) as CSV."""

import argparse

from ..io import check_output_file
from ..priors import estimate_cooccurrence
from .subcommand import Subcommand, option_names

__all__ = ('COOCCURRENCE', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the co-occurrence estimate's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument(
        '--coarse',
        required=True,
        nargs='+',
        help='coarse label raster (one for all fine rasters, or one per fine raster)',
    )
    parser.add_argument('--fine', required=True, nargs='+', help='fine label raster(s)')
    parser.add_argument(
        *option_names('coarse_scheme'),
        default='nlcd',
        metavar='SCHEME',
        help='scheme name or YAML (default: nlcd)',
    )
    parser.add_argument(
        *option_names('fine_scheme'),
        default='enviroatlas',
        metavar='SCHEME',
        help='scheme name or YAML (default: enviroatlas)',
    )
    parser.add_argument(
        *option_names('block_size', 'window_size'),
        type=int,
        default=2048,
        metavar='PX',
        help='side of the blocks read at a time, in pixels (default: %(default)s)',
    )
    parser.add_argument('--out', required=True, help='output CSV')


def _raster_pairs(coarse: list[str], fine: list[str]) -> list[tuple[str, str]]:
    """Pair the coarse rasters with the fine ones.

    Args:
        coarse: one coarse raster for all fine rasters, or one per fine raster.
        fine: the fine rasters.

    Returns:
        The (coarse, fine) pairs.

    Raises:
        ValueError: If the counts do not pair up.
    """
    if len(coarse) == 1:
        return [(coarse[0], each) for each in fine]
    if len(coarse) == len(fine):
        return list(zip(coarse, fine, strict=True))
    raise ValueError(
        f'give one coarse raster for all fine rasters, or one per fine raster '
        f'(got {len(coarse)} coarse and {len(fine)} fine)'
    )


def run(args: argparse.Namespace) -> int:
    """Estimate a co-occurrence matrix and write it as CSV.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    check_output_file(args.out, '--out')
    matrix = estimate_cooccurrence(
        _raster_pairs(args.coarse, args.fine),
        args.coarse_scheme,
        args.fine_scheme,
        window_size=args.block_size,
    )
    matrix.to_csv(args.out)
    empty = [
        code
        for code, informative in zip(
            matrix.coarse_codes, matrix.informative, strict=True
        )
        if not informative
    ]
    print(
        f'Wrote {args.out}: P({matrix.fine.name} class | coarse code), '
        f'{matrix.matrix.shape[0]} x {matrix.matrix.shape[1]}'
        + (f'; coarse codes never seen with labels: {empty}' if empty else '')
    )
    return 0


COOCCURRENCE = Subcommand(
    name='cooccurrence',
    help='estimate P(fine class | coarse code) from label rasters',
    description='Pool joint pixel counts of a coarse label raster (read on the '
    'fine grid, nearest) and fine label rasters; write the column-normalised '
    'matrix as CSV.',
    add_arguments=add_arguments,
    run=run,
)

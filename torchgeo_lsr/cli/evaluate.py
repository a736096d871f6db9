"""``torchgeo-lsr evaluate``: score class maps against label rasters."""

import argparse

from ..evaluate import evaluate_maps
from ..io import check_output_file, open_raster
from ..results import evaluation_table, write_results_json
from .subcommand import Subcommand, option_names

__all__ = ('EVALUATE', 'add_arguments', 'run')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluation's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument('--pred', required=True, nargs='+', help='class map(s)')
    parser.add_argument(
        '--labels', required=True, nargs='+', help='label raster(s), one per map'
    )
    parser.add_argument(
        '--scheme',
        help='scheme of the label codes (default: the one the map names in its tags)',
    )
    parser.add_argument(
        *option_names('map_scheme'),
        metavar='SCHEME',
        help='scheme of the map codes (default: the map holds class indices, as '
        'exported maps do)',
    )
    parser.add_argument('--results', help='also write the scores as JSON')


def _label_scheme(args: argparse.Namespace) -> str:
    """The scheme of the label codes: ``--scheme``, else the one the map names.

    Args:
        args: parsed arguments.

    Returns:
        The scheme's name (or YAML file).

    Raises:
        ValueError: If neither names one.
    """
    if args.scheme is not None:
        return str(args.scheme)
    with open_raster(args.pred[0], 'map raster (--pred)') as src:
        scheme = src.tags().get('scheme')
    if scheme is None:
        raise ValueError(
            f'{args.pred[0]} does not name its class scheme: pass --scheme'
        )
    return str(scheme)


def run(args: argparse.Namespace) -> int:
    """Score maps against labels and print (and optionally write) the scores.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.

    Raises:
        ValueError: If the maps and labels do not pair up, or no scheme is known.
    """
    if len(args.pred) != len(args.labels):
        raise ValueError(
            f'give one label raster per map ({len(args.pred)} maps, '
            f'{len(args.labels)} label rasters)'
        )
    if args.results:
        check_output_file(args.results, '--results')
    scores = evaluate_maps(
        list(zip(args.pred, args.labels, strict=True)),
        _label_scheme(args),
        args.map_scheme,
    )
    print(evaluation_table(scores))
    if scores.get('unpredicted'):
        print(
            f'({scores["unpredicted"]:,} of them have no class in the map and count '
            'as wrong)'
        )
    if args.results:
        write_results_json(args.results, scores)
        print(f'Wrote {args.results}')
    return 0


EVALUATE = Subcommand(
    name='evaluate',
    help='score class maps against label rasters (accuracy, mIoU, per-class IoU)',
    description="Read the labels onto each map's grid (nearest) window by "
    'window and pool the confusion over all pairs, as the test scores do.',
    add_arguments=add_arguments,
    run=run,
)

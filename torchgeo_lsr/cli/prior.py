"""``torchgeo-lsr prior``: write a prior GeoTIFF from coarse labels and layers."""

import argparse

from ..priors import PriorBuilder, write_prior
from ..schemes import get_scheme
from .subcommand import Subcommand, option_names

__all__ = ('LAYERS', 'PRIOR', 'add_arguments', 'run')

#: The auxiliary layers with an option of their own (the default rules' layers).
LAYERS = ('buildings', 'roads', 'waterways', 'waterbodies')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the prior's options.

    Args:
        parser: the subcommand's parser.
    """
    parser.add_argument('--coarse', required=True, help='coarse label raster')
    parser.add_argument(
        '--cooccurrence',
        required=True,
        help='CSV file or bundled name (enviroatlas-pittsburgh, -durham, -austin, '
        '-phoenix)',
    )
    parser.add_argument('--like', help='raster whose grid the output takes')
    parser.add_argument('--sigma', type=float, default=31.0, help='blur sigma (px)')
    parser.add_argument(
        *option_names('kernel_size'),
        type=int,
        default=101,
        metavar='PX',
        help='blur kernel (px)',
    )
    for name in LAYERS:
        parser.add_argument(f'--{name}', help=f'{name} layer (raster or vector file)')
    parser.add_argument(
        '--layer',
        action='append',
        metavar='NAME=FILE',
        help='another auxiliary layer for custom rules (repeatable)',
    )
    parser.add_argument(
        '--rules', help='fusion rules YAML (default with layers: enviroatlas)'
    )
    parser.add_argument(
        *option_names('coarse_nodata'),
        type=float,
        nargs='+',
        metavar='CODE',
        help='coarse codes meaning nodata',
    )
    parser.add_argument(
        *option_names('coarse_scheme'),
        metavar='SCHEME',
        help='scheme of the coarse codes (adds its nodata codes)',
    )
    parser.add_argument('--dtype', choices=('float32', 'uint8'), default='float32')
    parser.add_argument(
        *option_names('block_size'),
        type=int,
        default=2048,
        metavar='PX',
        help='side of the blocks written at a time, in pixels (default: %(default)s)',
    )
    parser.add_argument('--out', required=True, help='output GeoTIFF')


def _layers(args: argparse.Namespace) -> dict[str, str]:
    """The auxiliary layers given: their own options, then ``--layer NAME=FILE``.

    Args:
        args: parsed arguments.

    Returns:
        Layer files by name.

    Raises:
        SystemExit: If a ``--layer`` is not ``NAME=FILE``.
    """
    layers = {
        name: path for name in LAYERS if (path := getattr(args, name)) is not None
    }
    for item in args.layer or []:
        name, _, path = item.partition('=')
        if not path:
            raise SystemExit(f'--layer expects NAME=FILE, got {item!r}')
        layers[name] = path
    return layers


def _coarse_nodata(args: argparse.Namespace) -> list[float]:
    """The coarse nodata codes: those given and those of ``--coarse_scheme``.

    Args:
        args: parsed arguments.

    Returns:
        The sorted, distinct codes.
    """
    nodata = list(args.coarse_nodata or [])
    if args.coarse_scheme is not None:
        nodata += list(get_scheme(args.coarse_scheme).nodata)
    return sorted(set(nodata))


def run(args: argparse.Namespace) -> int:
    """Build a prior GeoTIFF.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    layers = _layers(args)
    builder = PriorBuilder(
        args.cooccurrence,
        sigma=args.sigma,
        kernel_size=args.kernel_size,
        rules=args.rules or ('enviroatlas' if layers else None),
        coarse_nodata=_coarse_nodata(args),
    )
    if builder.rules is not None and not args.rules:
        # The default rules use whichever of their layers were given.
        builder.rules = builder.rules.restricted_to(set(layers))
    write_prior(
        builder,
        args.coarse,
        args.out,
        like=args.like,
        layers=layers,
        dtype=args.dtype,
        block_size=args.block_size,
    )
    print(
        f'Wrote {args.out}: {builder.scheme.num_classes} bands '
        f'({", ".join(builder.scheme.names)}), {args.dtype}'
    )
    return 0


PRIOR = Subcommand(
    name='prior',
    help='write a prior GeoTIFF from coarse labels (+ auxiliary layers)',
    description='Remap coarse labels with a co-occurrence matrix, blur, fuse '
    'auxiliary layers and write a tiled, compressed GeoTIFF with one band per '
    'class.',
    add_arguments=add_arguments,
    run=run,
)

"""The ``torchgeo-lsr`` command line.

* ``fit``, ``validate``, ``test``, ``predict``: TorchGeo-style LightningCLI runs
  driven by a config (``--config conf/<name>.yaml``, any key overridable as
  ``--model.init_args.lr 1e-3``); short class names of our tasks and data modules
  (and TorchGeo's) resolve. ``test --results PATH`` writes the q / r /
  prior-argmax scores as JSON; ``predict --out PATH`` writes maps.
* ``demo``: the land-cover demonstration (scene, priors, QR and hard naive, table);
* ``toy``: the toy demonstration of QR/RQ resolving coarse priors;
* ``cooccurrence``: estimate P(fine | coarse) from label rasters;
* ``prior``: write a prior GeoTIFF from coarse labels and auxiliary layers;
* ``make-scene``: write a synthetic scene (:func:`torchgeo_lsr.datasets.make_scene`);
* ``evaluate``: score class maps against label rasters (:mod:`torchgeo_lsr.evaluate`).
"""

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__

__all__ = ('LIGHTNING_COMMANDS', 'build_parser', 'main', 'run_lightning')

#: Subcommands run by LightningCLI.
LIGHTNING_COMMANDS = ('fit', 'validate', 'test', 'predict')


def run_lightning(args: Sequence[str], run: bool = True) -> Any:
    """Run a LightningCLI subcommand (``fit``, ``validate``, ``test``, ``predict``).

    Args:
        args: the subcommand and its arguments, as on the command line; with
            ``run=False``, the arguments only (no subcommand).
        run: run the subcommand; else only instantiate the model, data module and
            trainer from the arguments.

    Returns:
        The LightningCLI object (its ``model``, ``datamodule`` and ``trainer``).
    """
    import warnings

    from ._lightning import LSRLightningCLI

    with warnings.catch_warnings():
        # Our own command line hands its arguments over on purpose.
        warnings.filterwarnings(
            'ignore', message="LightningCLI's args parameter is intended"
        )
        return LSRLightningCLI(args=list(args), run=run)


def results_json(results: dict[str, Any]) -> str:
    """Scores as JSON, with NaN (a class never seen) written as null.

    Args:
        results: nested scores.

    Returns:
        The JSON text.
    """

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    return json.dumps(clean(results), indent=2)


def _run_demo(args: argparse.Namespace) -> int:
    """Run the land-cover demo (scene, priors, QR and hard naive, table).

    Args:
        args: parsed arguments (``out``, ``scene``, ``config``).

    Returns:
        Exit status.
    """
    from .demo import run_demo

    run_demo(args.out, scene=args.scene, config=args.config)
    return 0


def _run_toy(args: argparse.Namespace) -> int:
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


def _run_cooccurrence(args: argparse.Namespace) -> int:
    """Estimate a co-occurrence matrix and write it as CSV.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    from .priors import estimate_cooccurrence

    if len(args.coarse) == 1:
        pairs = [(args.coarse[0], fine) for fine in args.fine]
    elif len(args.coarse) == len(args.fine):
        pairs = list(zip(args.coarse, args.fine, strict=True))
    else:
        raise ValueError(
            f'give one coarse raster for all fine rasters, or one per fine raster '
            f'(got {len(args.coarse)} coarse and {len(args.fine)} fine)'
        )
    matrix = estimate_cooccurrence(
        pairs, args.coarse_scheme, args.fine_scheme, window_size=args.window_size
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


def _run_prior(args: argparse.Namespace) -> int:
    """Build a prior GeoTIFF.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    from .priors import PriorBuilder, write_prior
    from .schemes import get_scheme

    layers = {
        name: path
        for name in ('buildings', 'roads', 'waterways', 'waterbodies')
        if (path := getattr(args, name)) is not None
    }
    for item in args.layer or []:
        name, _, path = item.partition('=')
        if not path:
            raise SystemExit(f'--layer expects NAME=FILE, got {item!r}')
        layers[name] = path
    nodata = list(args.coarse_nodata or [])
    if args.coarse_scheme is not None:
        nodata += list(get_scheme(args.coarse_scheme).nodata)
    rules = args.rules or ('enviroatlas' if layers else None)
    builder = PriorBuilder(
        args.cooccurrence,
        sigma=args.sigma,
        kernel_size=args.kernel_size,
        rules=rules,
        coarse_nodata=sorted(set(nodata)),
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


def _run_make_scene(args: argparse.Namespace) -> int:
    """Write a synthetic scene.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.
    """
    from .datasets import make_scene

    manifest = make_scene(
        args.out_dir, size=args.size, tiles=args.tiles, seed=args.seed, progress=True
    )
    print(f'Wrote a {args.tiles}-tile scene of {args.size} px tiles to {args.out_dir}')
    calibration = manifest.to_dict().get('calibration') or {}
    if calibration:
        print(f'calibration: {calibration}')
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    """Score maps against labels and print (and optionally write) the scores.

    Args:
        args: parsed arguments.

    Returns:
        Exit status.

    Raises:
        ValueError: If the maps and labels do not pair up, or no scheme is known.
    """
    import rasterio

    from .evaluate import evaluate_maps
    from .io import atomic_path
    from .metrics import format_scores_table

    if len(args.pred) != len(args.labels):
        raise ValueError(
            f'give one label raster per map ({len(args.pred)} maps, '
            f'{len(args.labels)} label rasters)'
        )
    scheme = args.scheme
    if scheme is None:
        with rasterio.open(args.pred[0]) as src:
            scheme = src.tags().get('scheme')
        if scheme is None:
            raise ValueError(
                f'{args.pred[0]} does not name its class scheme: pass --scheme'
            )
    scores = evaluate_maps(
        list(zip(args.pred, args.labels, strict=True)), scheme, args.map_scheme
    )
    print(format_scores_table({'map': scores}))
    print(f'({scores["pixels"]:,} labelled pixels)')
    if args.results:
        with atomic_path(args.results) as temporary:
            temporary.write_text(results_json(scores) + '\n')
        print(f'Wrote {args.results}')
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
    for name, text in (
        ('fit', 'train a task (LightningCLI; --config conf/<name>.yaml)'),
        ('validate', 'validate a checkpoint (LightningCLI)'),
        ('test', 'test a checkpoint: q / r / prior-argmax scores (--results JSON)'),
        ('predict', 'predict maps with a checkpoint (--out)'),
    ):
        # Listed for --help only: main() hands these to LightningCLI before argparse.
        commands.add_parser(name, help=text, add_help=False)
    demo = commands.add_parser(
        'demo',
        help='land-cover demo: generated scene, QR vs hard naive vs prior (CPU)',
        description='Write the generated scene if missing, estimate its NLCD '
        'co-occurrence, fit and test QR and the hard-naive baseline with the config, '
        'and print the q / r / prior-argmax / hard-naive table (no download).',
    )
    demo.add_argument(
        '--out', default='outputs/demo', help='output folder (default: %(default)s)'
    )
    demo.add_argument(
        '--scene', default='data/scene', help='scene folder (default: %(default)s)'
    )
    demo.add_argument(
        '--config',
        default='conf/synthetic.yaml',
        help='config of the runs (default: %(default)s)',
    )
    demo.set_defaults(handler=_run_demo)

    toy = commands.add_parser(
        'toy',
        help='toy demonstration: QR and RQ resolving coarse priors (seconds)',
        description='Train small models on a toy problem with CE, QR and RQ and '
        'compare them with the prior (a few seconds on a CPU).',
    )
    toy.add_argument(
        '--out', default='outputs/toy', help='output folder (default: %(default)s)'
    )
    toy.add_argument('--seed', type=int, default=0, help='random seed')
    toy.add_argument('--steps', type=int, default=400, help='training steps per model')
    toy.set_defaults(handler=_run_toy)

    cooccurrence = commands.add_parser(
        'cooccurrence',
        help='estimate P(fine class | coarse code) from label rasters',
        description='Pool joint pixel counts of a coarse label raster (read on the '
        'fine grid, nearest) and fine label rasters; write the column-normalised '
        'matrix as CSV.',
    )
    cooccurrence.add_argument(
        '--coarse',
        required=True,
        nargs='+',
        help='coarse label raster (one for all fine rasters, or one per fine raster)',
    )
    cooccurrence.add_argument(
        '--fine', required=True, nargs='+', help='fine label raster(s)'
    )
    cooccurrence.add_argument(
        '--coarse-scheme', default='nlcd', help='scheme name or YAML (default: nlcd)'
    )
    cooccurrence.add_argument(
        '--fine-scheme',
        default='enviroatlas',
        help='scheme name or YAML (default: enviroatlas)',
    )
    cooccurrence.add_argument('--window-size', type=int, default=2048)
    cooccurrence.add_argument('--out', required=True, help='output CSV')
    cooccurrence.set_defaults(handler=_run_cooccurrence)

    prior = commands.add_parser(
        'prior',
        help='write a prior GeoTIFF from coarse labels (+ auxiliary layers)',
        description='Remap coarse labels with a co-occurrence matrix, blur, fuse '
        'auxiliary layers and write a tiled, compressed GeoTIFF with one band per '
        'class.',
    )
    prior.add_argument('--coarse', required=True, help='coarse label raster')
    prior.add_argument(
        '--cooccurrence',
        required=True,
        help='CSV file or bundled name (enviroatlas-pittsburgh, -durham, -austin, '
        '-phoenix)',
    )
    prior.add_argument('--like', help='raster whose grid the output takes')
    prior.add_argument('--sigma', type=float, default=31.0, help='blur sigma (px)')
    prior.add_argument('--kernel-size', type=int, default=101, help='blur kernel (px)')
    for name in ('buildings', 'roads', 'waterways', 'waterbodies'):
        prior.add_argument(f'--{name}', help=f'{name} layer (raster or vector file)')
    prior.add_argument(
        '--layer',
        action='append',
        metavar='NAME=FILE',
        help='another auxiliary layer for custom rules (repeatable)',
    )
    prior.add_argument(
        '--rules', help='fusion rules YAML (default with layers: enviroatlas)'
    )
    prior.add_argument(
        '--coarse-nodata', type=float, nargs='+', help='coarse codes meaning nodata'
    )
    prior.add_argument(
        '--coarse-scheme', help='scheme of the coarse codes (adds its nodata codes)'
    )
    prior.add_argument('--dtype', choices=('float32', 'uint8'), default='float32')
    prior.add_argument('--block-size', type=int, default=2048)
    prior.add_argument('--out', required=True, help='output GeoTIFF')
    prior.set_defaults(handler=_run_prior)

    evaluate = commands.add_parser(
        'evaluate',
        help='score class maps against label rasters (accuracy, mIoU, per-class IoU)',
        description="Read the labels onto each map's grid (nearest) window by "
        'window and pool the confusion over all pairs, as the test scores do.',
    )
    evaluate.add_argument('--pred', required=True, nargs='+', help='class map(s)')
    evaluate.add_argument(
        '--labels', required=True, nargs='+', help='label raster(s), one per map'
    )
    evaluate.add_argument(
        '--scheme',
        help='scheme of the label codes (default: the one the map names in its tags)',
    )
    evaluate.add_argument(
        '--map-scheme',
        help='scheme of the map codes (default: the map holds class indices, as '
        'exported maps do)',
    )
    evaluate.add_argument('--results', help='also write the scores as JSON')
    evaluate.set_defaults(handler=_run_evaluate)

    scene = commands.add_parser(
        'make-scene',
        help='write a synthetic georeferenced scene (imagery, labels, NLCD, vectors)',
        description='Write NAIP-like imagery, 1 m labels, 30 m NLCD and vector layers '
        'with a manifest, deterministic for a seed.',
    )
    scene.add_argument('out_dir', help='output folder')
    scene.add_argument('--size', type=int, default=2048, help='tile side in pixels')
    scene.add_argument('--tiles', type=int, default=2, help='number of tiles')
    scene.add_argument('--seed', type=int, default=0, help='random seed')
    scene.set_defaults(handler=_run_make_scene)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchgeo-lsr`` console script.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status (0 on success).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments and arguments[0] in LIGHTNING_COMMANDS:
        run_lightning(arguments)
        return 0
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = args.handler(args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        parser.exit(2, f'torchgeo-lsr {args.command}: error: {error}\n')
    return status


if __name__ == '__main__':
    sys.exit(main())

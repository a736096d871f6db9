"""The land-cover demonstration behind ``torchgeo-lsr demo`` (the README's main job).

On the embedded generated scene, with no download and no GPU:

1. write the scene (``torchgeo-lsr make-scene``) if it is missing;
2. estimate the NLCD -> land-cover co-occurrence matrix from it (as the paper did
   per city), the only place the high-res labels inform the prior;
3. fit and test QR with ``conf/synthetic.yaml`` (priors built on the fly from the
   30 m NLCD: the "NLCD-only" prior of the paper's Chesapeake experiments; the
   config shows how to fuse the scene's roads, buildings and water vectors);
4. fit and test the hard-naive baseline (cross-entropy on the prior's argmax) with
   the same config;
5. print the table of the prior's argmax, hard naive (q, r) and QR (q, r), and
   write ``results.json``;
6. export the QR model's maps of the whole scene as Cloud-Optimized GeoTIFFs
   (``torchgeo-lsr predict --out``: class map from r with whole-tile totals, and
   its confidence) and a figure of a crop.
"""

import json
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import rasterio
import rasterio.windows
import torch

from ._lightning import run_lightning
from .datasets import SceneManifest, make_scene
from .io import atomic_path
from .plot import plot_class_maps
from .priors import estimate_cooccurrence
from .results import demo_table, write_results_json
from .tasks import LSRSegmentation

__all__ = ('demo_table', 'run_demo')

#: Runs of the demo: name -> extra command-line options. The hard-naive baseline
#: trains on hard labels, so it takes the smoothing of hard-label models (1e-8, as
#: the paper's) rather than the QR run's floor on q: with a 1% floor, cross-entropy
#: barely moves a class whose softmax fell below 1%.
RUNS: dict[str, list[str]] = {
    'qr': [],
    'hard_naive': [
        '--model.init_args.method',
        'hard_naive',
        '--model.init_args.output_smoothing',
        'null',
    ],
}


def _prepare_scene(scene: Path) -> Path:
    """Write the scene and its co-occurrence matrix if missing.

    Args:
        scene: scene folder.

    Returns:
        The co-occurrence CSV.
    """
    manifest_path = scene / 'manifest.json'
    if manifest_path.exists():
        manifest = SceneManifest.load(manifest_path)
        print(f'Using the scene in {scene}')
    else:
        print(f'Writing the generated scene to {scene}')
        manifest = make_scene(scene, progress=True)
    matrix_path = scene / 'cooccurrence.csv'
    if not matrix_path.exists():
        pairs = list(zip(manifest.nlcd_paths, manifest.lc_paths, strict=True))
        estimate_cooccurrence(pairs, 'nlcd', 'enviroatlas').to_csv(matrix_path)
        print(f'Wrote {matrix_path} (NLCD -> land cover, from the scene)')
    return matrix_path


def _last_checkpoint(root: Path) -> Path:
    """The newest ``last.ckpt`` under a run folder.

    Args:
        root: the run's ``default_root_dir``.

    Returns:
        The checkpoint.

    Raises:
        FileNotFoundError: If the run wrote none.
    """
    found = sorted(root.rglob('last.ckpt'), key=os.path.getmtime)
    if not found:
        raise FileNotFoundError(f'no last.ckpt under {root}')
    return found[-1]


def _fit_and_test(
    name: str, common: list[str], options: list[str], root: Path
) -> dict[str, Any]:
    """Fit one run of the demo and test its last checkpoint.

    Args:
        name: the run's name (see :data:`RUNS`).
        common: the runs' common options (config and overrides).
        options: the run's own options.
        root: the run's folder.

    Returns:
        The run's test results (as ``test --results`` writes them).
    """
    run = [*common, *options, '--trainer.default_root_dir', str(root)]
    print(f'\n=== {name}: fit ===')
    run_lightning(['fit', *run])
    checkpoint = _last_checkpoint(root)
    print(f'\n=== {name}: test ({checkpoint}) ===')
    path = root / 'results.json'
    run_lightning(
        ['test', *run, '--ckpt_path', str(checkpoint), '--results', str(path)]
    )
    results: dict[str, Any] = json.loads(path.read_text())
    return results


def _export_maps(common: list[str], root: Path, maps: Path) -> Path:
    """Export the maps of the whole scene with a run's last checkpoint.

    Args:
        common: the runs' common options (config and overrides).
        root: the run's folder.
        maps: the maps' folder.

    Returns:
        The checkpoint used.
    """
    checkpoint = _last_checkpoint(root)
    run_lightning(
        [
            'predict',
            *common,
            '--trainer.default_root_dir',
            str(root),
            '--ckpt_path',
            str(checkpoint),
            '--out',
            str(maps),
            '--products',
            '[confidence]',
        ]
    )
    return checkpoint


def run_demo(
    out: str | os.PathLike[str],
    scene: str | os.PathLike[str] = 'data/scene',
    config: str | os.PathLike[str] = 'conf/synthetic.yaml',
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    """Run the land-cover demonstration.

    Args:
        out: output folder (runs, checkpoints, results, figure).
        scene: scene folder (written if missing); the config's data paths must
            point into it (they do for the default ``data/scene``).
        config: the LightningCLI config of the QR run.
        extra_args: more command-line options for every run (e.g. overrides).

    Returns:
        ``{'q', 'r', 'prior_argmax', 'hard_naive', 'hard_naive_r'}`` scores.

    Raises:
        FileNotFoundError: If the config does not exist.
    """
    out, scene, config = Path(out), Path(scene), Path(config)
    if not config.exists():
        raise FileNotFoundError(
            f'config {config} not found: run the demo from the repository root or '
            'pass --config'
        )
    matrix = _prepare_scene(scene)
    common = [
        '--config',
        str(config),
        '--data.init_args.cooccurrence',
        str(matrix),
        *(extra_args or []),
    ]
    scores = {
        name: _fit_and_test(name, common, options, out / name)
        for name, options in RUNS.items()
    }
    results = {
        'q': scores['qr']['q'],
        'r': scores['qr']['r'],
        'prior_argmax': scores['qr']['prior_argmax'],
        'hard_naive': scores['hard_naive']['q'],
        'hard_naive_r': scores['hard_naive']['r'],
    }
    write_results_json(out / 'results.json', results)
    table = demo_table(results)
    print(f'\nLand cover from 30 m NLCD priors, scored on the 1 m labels\n{table}')
    print('\n=== qr: maps of the whole scene ===')
    checkpoint = _export_maps(common, out / 'qr', out / 'maps')
    figure = _figure(out, common, checkpoint)
    print(f'\nWrote {out / "results.json"}, {figure} and the maps in {out / "maps"}')
    return results


def _middle_crop(dataset: Any) -> tuple[float, float, float, float]:
    """A crop of up to 512 px in the middle of the first tile, on its pixel grid.

    Args:
        dataset: the test dataset (its first tile's bounds and resolution).

    Returns:
        The crop's ``(left, bottom, right, top)`` in the dataset's CRS.
    """
    minx, miny, maxx, maxy = dataset.transforms.tile_bounds[0]
    res = dataset.res[0]
    size = min(512 * res, maxx - minx, maxy - miny)
    left = minx + round((maxx - minx - size) / 2 / res) * res
    top = maxy - round((maxy - miny - size) / 2 / res) * res
    return left, top - size, left + size, top


def _read_class_map(path: Path, bounds: tuple[float, float, float, float]) -> Any:
    """The window of an exported class map within some bounds.

    Args:
        path: the class map GeoTIFF.
        bounds: ``(left, bottom, right, top)`` in the map's CRS.

    Returns:
        The (H, W) int64 class indices.
    """
    with rasterio.open(path) as src:
        window = (
            rasterio.windows.from_bounds(*bounds, src.transform)
            .round_offsets()
            .round_lengths()
        )
        return torch.from_numpy(src.read(1, window=window).astype('int64'))


def _figure(out: Path, common: list[str], checkpoint: Path) -> Path:
    """A figure of a crop of the first tile: image, prior, hard naive, QR q / r, labels.

    QR r is read from the exported class map (whole-tile class totals, as the test
    scores); the other panels are computed on the crop.

    Args:
        out: output folder.
        common: the runs' common options (config and overrides).
        checkpoint: the QR checkpoint.

    Returns:
        The PNG's path.
    """
    # Instantiate the config's data module without running anything.
    datamodule = run_lightning(common, run=False).datamodule
    datamodule.setup('test')
    qr = LSRSegmentation.load_from_checkpoint(checkpoint, map_location='cpu')
    naive = LSRSegmentation.load_from_checkpoint(
        _last_checkpoint(out / 'hard_naive'), map_location='cpu'
    )
    dataset = datamodule.test_dataset
    left, bottom, right, top = bounds = _middle_crop(dataset)
    sample = dataset[left:right, bottom:top]
    exported = out / 'maps' / f'{Path(dataset.transforms.tile_paths[0]).stem}.tif'
    batch = {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
    with torch.no_grad():
        for model in (qr, naive):
            model.eval()
            model._data_context = datamodule.context
        qr_out = qr.outputs(batch)
        naive_out = naive.outputs(batch)
    maps = {
        'prior (argmax)': qr_out['prior'][0].argmax(0),
        'hard naive q': naive_out['log_q'][0].argmax(0),
        'QR q': qr_out['log_q'][0].argmax(0),
        'QR r (exported map)': _read_class_map(exported, bounds),
    }
    if 'target' in qr_out:
        maps['1 m labels'] = qr_out['target'][0]
    b = datamodule.context
    image = sample['image'][:, b:-b, b:-b] if b else sample['image']
    fig = plot_class_maps(image, maps, datamodule.scheme, title='generated scene')
    path = out / 'demo.png'
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=90)
    plt.close(fig)
    return path

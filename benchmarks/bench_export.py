"""Export throughput against the bare model forward, and export memory by raster size.

1. Throughput: exports a generated tile (class map from r with whole-tile totals,
   prior built on the fly) with :func:`torchgeo_lsr.export.export_maps` and times
   the bare network forward over the same pixels in the same blocks, in one run;
   prints MPix/s of both and their ratio (target: export >= 0.8x the forward).
2. Memory: exports a 4096^2 and a 16384^2 raster (random imagery, 30 m NLCD-like
   codes), each in a fresh child process that reports its own peak resident memory;
   prints both and their ratio (target: growth <= 1.3x).

Run: ``.venv/bin/python benchmarks/bench_export.py [--filters 16 128]
[--skip-throughput] [--skip-memory]``
"""

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.export import ExportOptions, export_maps
from torchgeo_lsr.priors import estimate_cooccurrence
from torchgeo_lsr.tasks import LSRSegmentation

X0, Y0 = 500_000.0, 4_400_000.0


def forward_time(task: LSRSegmentation, image: torch.Tensor, window: int) -> float:
    """Seconds of the bare network over an image, in the export's blocks + context."""
    context = task.border
    padded = torch.nn.functional.pad(image, (context,) * 4)
    height, width = image.shape[-2:]
    start = time.perf_counter()
    with torch.no_grad():
        for row in range(0, height, window):
            for col in range(0, width, window):
                h, w = min(window, height - row), min(window, width - col)
                task(
                    padded[
                        None,
                        :,
                        row : row + h + 2 * context,
                        col : col + w + 2 * context,
                    ]
                )
    return time.perf_counter() - start


def throughput(size: int, filters: list[int], window: int) -> None:
    """Part 1 (see the module documentation)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scene = make_scene(root, size=size, tiles=1, calibrate=False)
        pairs = list(zip(scene.nlcd_paths, scene.lc_paths, strict=True))
        estimate_cooccurrence(pairs).to_csv(root / 'matrix.csv')
        with rasterio.open(scene.naip_paths[0]) as src:
            image = torch.from_numpy(src.read().astype(np.float32) / 255)
        megapixels = size * size / 1e6
        for count in filters:
            torch.manual_seed(0)
            task = LSRSegmentation(num_filters=count)
            dm = LSRDataModule(
                root / 'naip',
                coarse_paths=root / 'nlcd',
                cooccurrence=str(root / 'matrix.csv'),
            )
            task.adopt_data(dm)
            task.eval()
            bare = forward_time(task, image, window)
            start = time.perf_counter()
            export_maps(
                task,
                dm,
                root / f'map_{count}.tif',
                ExportOptions(window=window, overwrite=True),
                progress=False,
            )
            export = time.perf_counter() - start
            print(
                f'{size}^2 px, FCN-{count}: bare forward {megapixels / bare:.2f} MPix/s, '
                f'export (prior on the fly, whole-tile r, COG) '
                f'{megapixels / export:.2f} MPix/s = {bare / export:.2f}x the forward'
            )


def write_big_raster(root: Path, size: int) -> None:
    """Random 4-band imagery (written in strips) and 30 m codes covering it."""
    rng = np.random.default_rng(0)
    profile = {
        'driver': 'GTiff',
        'width': size,
        'height': size,
        'count': 4,
        'dtype': 'uint8',
        'crs': 'EPSG:32617',
        'transform': from_origin(X0, Y0, 1, 1),
        'tiled': True,
        'blockxsize': 512,
        'blockysize': 512,
    }
    (root / 'naip').mkdir(parents=True)
    with rasterio.open(root / 'naip' / 'big.tif', 'w', **profile) as dst:
        for row in range(0, size, 512):
            rows = min(512, size - row)
            strip = rng.integers(1, 255, (4, rows, size), dtype=np.uint8)
            dst.write(strip, window=((row, row + rows), (0, size)))
    cells = -(-size // 30)
    codes = rng.choice(np.array([11, 21, 22, 41, 71, 81], np.uint8), (cells, cells))
    codes = np.repeat(np.repeat(codes[::4, ::4], 4, 0), 4, 1)[:cells, :cells]
    (root / 'nlcd').mkdir()
    with rasterio.open(
        root / 'nlcd' / 'nlcd.tif',
        'w',
        driver='GTiff',
        width=cells,
        height=cells,
        count=1,
        dtype='uint8',
        crs='EPSG:32617',
        transform=from_origin(X0, Y0, 30, 30),
    ) as dst:
        dst.write(codes, 1)


def child(size: int, window: int) -> None:
    """Export one raster of ``size``^2 px and print the peak resident memory (MB)."""
    # Linux carries the resident high-water mark across fork and exec: without a
    # reset, this process would report the parent's peak (the throughput part).
    with contextlib.suppress(OSError):
        Path('/proc/self/clear_refs').write_text('5')
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_big_raster(root, size)
        torch.manual_seed(0)
        task = LSRSegmentation(num_filters=4)
        dm = LSRDataModule(
            root / 'naip', coarse_paths=root / 'nlcd', cooccurrence='enviroatlas-durham'
        )
        start = time.perf_counter()
        export_maps(task, dm, root / 'map.tif', ExportOptions(window=window), False)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({'size': size, 'peak_mb': peak, 'seconds': seconds}))


def memory(sizes: list[int], window: int) -> None:
    """Part 2 (see the module documentation)."""
    peaks = []
    for size in sizes:
        result = subprocess.run(
            [sys.executable, __file__, '--child', str(size), '--window', str(window)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        peaks.append(figures['peak_mb'])
        print(
            f'export of a {size}^2 px raster: peak RSS {figures["peak_mb"]:.0f} MB, '
            f'{figures["seconds"]:.0f} s ({size * size / 1e6 / figures["seconds"]:.2f} '
            'MPix/s with FCN-4)'
        )
    print(f'peak RSS growth {sizes[-1]}^2 / {sizes[0]}^2: {peaks[-1] / peaks[0]:.2f}x')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=2048)
    parser.add_argument('--filters', type=int, nargs='+', default=[16, 128])
    parser.add_argument('--window', type=int, default=1024)
    parser.add_argument('--memory-sizes', type=int, nargs='+', default=[4096, 16384])
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--skip-throughput', action='store_true')
    parser.add_argument('--child', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.window)
        return
    print(f'{torch.get_num_threads()} threads, blocks of {args.window} px')
    if not args.skip_throughput:
        throughput(args.size, args.filters, args.window)
    if not args.skip_memory:
        memory(args.memory_sizes, args.window)


if __name__ == '__main__':
    main()

"""Prior generation speed against a straightforward reference, and peak memory.

Speed: MPix/s of the full NLCD -> 5-class prior at 1 m (sigma 31, kernel 101) with
:class:`~torchgeo_lsr.priors.PriorBuilder`, against a reference that blurs the 17
one-hot NLCD channels (nodata + 16 classes) one by one with
``scipy.ndimage.correlate1d`` along both axes (mirror padding, as torchvision's reflect)
and then remaps with the paper's 6 x 17 matrix, drops the nodata row and normalises.
Both run on the same generated NLCD-like codes in one run; their outputs must agree to
1e-4.

Memory (``--memory``): runs ``torchgeo-lsr prior`` on a generated 30 m NLCD raster
whose output grid (``--like``) is ``--memory-size`` pixels square at 1 m, and prints
the peak resident memory of that process.

Run: ``.venv/bin/python benchmarks/bench_priors.py [--size 2048] [--memory]``
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import scipy.ndimage as ndi
from rasterio.transform import from_origin

from torchgeo_lsr.priors import PriorBuilder, gaussian_kernel1d, load_cooccurrence

NLCD_CODES = [0, 11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95]


def nlcd_like(size: int, seed: int = 0, block: int = 30) -> np.ndarray:
    """Blocks of random NLCD codes: ``block=30`` is like 30 m NLCD resampled to 1 m."""
    rng = np.random.default_rng(seed)
    blocks = -(-size // block)
    coarse = rng.choice(NLCD_CODES[1:], size=(blocks, blocks))
    coarse[rng.random((blocks, blocks)) < 0.02] = 0  # a little nodata
    codes = np.repeat(np.repeat(coarse, block, 0), block, 1)[:size, :size]
    return np.ascontiguousarray(codes, dtype=np.uint8)


def reference_prior(codes: np.ndarray, matrix6: np.ndarray) -> np.ndarray:
    """Blur the 17 one-hot channels one by one, remap, drop nodata, normalise."""
    kernel = gaussian_kernel1d(31, 101)
    blurred = np.empty((17, *codes.shape))
    for index, code in enumerate(NLCD_CODES):
        onehot = (codes == code).astype(np.float64)
        rows = ndi.correlate1d(onehot, kernel, axis=0, mode='mirror')
        blurred[index] = ndi.correlate1d(rows, kernel, axis=1, mode='mirror')
    raw = np.tensordot(matrix6, blurred, axes=1)[1:]
    total = raw.sum(0)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 1e-6)


def measure_speed(size: int) -> None:
    """Time both implementations on one generated scene and compare outputs."""
    codes = nlcd_like(size)
    matrix = load_cooccurrence('enviroatlas-pittsburgh')
    # The paper's 6 x 17 form: a nodata row and column around the 5 x 16 matrix.
    matrix6 = np.zeros((6, 17))
    matrix6[1:, 1:] = matrix.matrix
    matrix6[0, 0] = 1.0
    matrix6[0, 1:] = 1.0 - matrix.matrix.sum(0)
    builder = PriorBuilder(matrix, sigma=31, kernel_size=101, coarse_nodata=[0])
    builder(codes[:256, :256])  # warm-up

    start = time.perf_counter()
    ours, valid = builder(codes)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = reference_prior(codes, matrix6)
    reference_seconds = time.perf_counter() - start

    difference = float(np.abs(ours - reference).max())
    megapixels = size * size / 1e6
    print(f'scene: {size} x {size} px NLCD-like codes, sigma 31, kernel 101, 5 classes')
    print(f'{"implementation":44s} {"s":>7s} {"MPix/s":>8s}')
    print(
        f'{"reference (scipy correlate1d, 17 one-hot)":44s} '
        f'{reference_seconds:7.2f} {megapixels / reference_seconds:8.2f}'
    )
    print(
        f'{"torchgeo-lsr PriorBuilder":44s} '
        f'{ours_seconds:7.2f} {megapixels / ours_seconds:8.2f}'
    )
    print(f'speed-up: {reference_seconds / ours_seconds:.1f}x')
    print(f'max abs difference: {difference:.2e} (valid pixels: {valid.mean():.1%})')
    if difference > 1e-4:
        raise SystemExit('outputs differ by more than 1e-4')


def measure_memory(size: int) -> None:
    """Peak RSS of `torchgeo-lsr prior` for a size x size 1 m output."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        nlcd_size = -(-size // 30)
        profile = {'driver': 'GTiff', 'count': 1, 'crs': 'EPSG:32617', 'tiled': True}
        with rasterio.open(
            root / 'nlcd.tif',
            'w',
            width=nlcd_size,
            height=nlcd_size,
            dtype='uint8',
            transform=from_origin(500_000, 4_400_000, 30, 30),
            **profile,
        ) as dst:
            # One code per 30 m pixel (the 1 m scene above is this, upsampled).
            dst.write(nlcd_like(nlcd_size, seed=1, block=1), 1)
        # An empty (sparse) 1 m grid to take the output grid from.
        with rasterio.open(
            root / 'like.tif',
            'w',
            width=size,
            height=size,
            dtype='uint8',
            transform=from_origin(500_000, 4_400_000, 1, 1),
            sparse_ok=True,
            **profile,
        ):
            pass
        # The child reports its own peak. Linux carries the resident high-water
        # mark across fork and exec (so RUSAGE_CHILDREN, and even the child's own
        # RUSAGE_SELF, would include this process); the child resets it first.
        command = [
            sys.executable,
            '-c',
            (
                'import contextlib, resource, sys\n'
                'with contextlib.suppress(OSError):\n'
                "    open('/proc/self/clear_refs', 'w').write('5')\n"
                'from torchgeo_lsr.cli import main; '
                'status = main(sys.argv[1:]); '
                'print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); '
                'sys.exit(status)'
            ),
            'prior',
            '--coarse',
            str(root / 'nlcd.tif'),
            '--cooccurrence',
            'enviroatlas-pittsburgh',
            '--coarse-nodata',
            '0',
            '--like',
            str(root / 'like.tif'),
            '--out',
            str(root / 'prior.tif'),
        ]
        start = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = int(result.stdout.strip().splitlines()[-1]) / 1024
        print(
            f'torchgeo-lsr prior, {size} x {size} px output: {seconds:.0f} s '
            f'({size * size / 1e6 / seconds:.1f} MPix/s end to end), '
            f'peak RSS {peak:.0f} MB'
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=2048)
    parser.add_argument('--memory', action='store_true')
    parser.add_argument('--memory-size', type=int, default=20_000)
    args = parser.parse_args()
    measure_speed(args.size)
    if args.memory:
        measure_memory(args.memory_size)


if __name__ == '__main__':
    main()

"""Data loading throughput of LSRDataModule against the model's training step.

Loading must never be the bottleneck: this prints training batches per second of the
data module (prior built on the fly from 30 m coarse labels, and precomputed priors)
and training steps per second of the paper's FCN (5 x conv3x3 with 128 filters and
LeakyReLU, then a 1x1 head; forward, QR loss, backward, Adam step) on the same batch
size, and their ratio, in one run on the CPU.

Run: ``.venv/bin/python benchmarks/bench_loading.py [--batch 16 --patch 128]``
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.losses import build_loss
from torchgeo_lsr.models import build_segmentation_model
from torchgeo_lsr.priors import PriorBuilder, write_prior

X0, Y0 = 500_000.0, 4_400_000.0


def write(path: Path, data: np.ndarray, x: float, y: float, res: float) -> None:
    """Write a GeoTIFF in UTM 17N."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype,
        crs='EPSG:32617',
        transform=from_origin(x, y, res, res),
        tiled=True,
        compress='deflate',
    ) as dst:
        dst.write(array)


def make_scene(root: Path, size: int, tiles: int) -> None:
    """Random imagery tiles and a 30 m NLCD-like raster covering them."""
    rng = np.random.default_rng(0)
    codes = np.array([11, 21, 22, 23, 41, 42, 71, 81, 82], np.uint8)
    cells = -(-size * tiles // 30)
    write(root / 'nlcd' / 'nlcd.tif', rng.choice(codes, (cells, cells)), X0, Y0, 30)
    for i in range(tiles):
        image = rng.integers(0, 255, (4, size, size), dtype=np.uint8)
        write(root / 'naip' / f'tile_{i}.tif', image, X0 + i * size, Y0, 1)


def loader_rate(dm: LSRDataModule, batches: int) -> float:
    """Training batches per second of a data module (after one warm-up batch)."""
    dm.setup('fit')
    iterator = iter(dm.train_dataloader())
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - start)


def model_rate(batch: int, patch: int, steps: int) -> float:
    """Training steps per second of the paper's FCN with the QR loss."""
    model = build_segmentation_model('fcn', 4, 5, num_filters=128)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = build_loss('qr', qr_form='free_energy')  # the task's own factory
    images = torch.rand(batch, 4, patch, patch)
    prior = torch.rand(batch, 5, patch, patch).softmax(1)

    def step() -> None:
        optimiser.zero_grad()
        loss_fn(model(images).log_softmax(1), prior).backward()
        optimiser.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--patch', type=int, default=128)
    parser.add_argument('--batches', type=int, default=10)
    parser.add_argument('--num-workers', type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_scene(root, size=1024, tiles=2)
        common = {
            'image_paths': root / 'naip',
            'cooccurrence': 'enviroatlas-pittsburgh',
            'batch_size': args.batch,
            'patch_size': args.patch,
            'length': args.batch * (args.batches + 2),
        }
        if args.num_workers is not None:
            common['num_workers'] = args.num_workers
        builder = PriorBuilder('enviroatlas-pittsburgh', coarse_nodata=[0])
        for i in range(2):
            write_prior(
                builder,
                root / 'nlcd' / 'nlcd.tif',
                root / 'prior' / f'tile_{i}.tif',
                like=root / 'naip' / f'tile_{i}.tif',
                progress=False,
            )
        on_the_fly = LSRDataModule(coarse_paths=root / 'nlcd', **common)
        precomputed = LSRDataModule(prior_paths=root / 'prior', **common)
        workers = on_the_fly.num_workers
        rates = {
            'data module, prior on the fly': loader_rate(on_the_fly, args.batches),
            'data module, precomputed prior': loader_rate(precomputed, args.batches),
        }
        model = model_rate(args.batch, args.patch, max(3, args.batches // 3))
    print(
        f'batch {args.batch} x {args.patch}^2, {torch.get_num_threads()} threads, '
        f'{workers} data-loader workers'
    )
    print(f'{"paper FCN train step (QR loss)":34s} {model:7.2f} steps/s')
    for name, rate in rates.items():
        print(f'{name:34s} {rate:7.2f} batches/s = {rate / model:5.1f}x the model')


if __name__ == '__main__':
    main()

"""Training data path throughput against the raw read of the same pixels.

In one run on a generated scene (imagery + 30 m coarse labels, prior built on the fly,
the default data module), on the same training queries of the data module's sampler,
one process, one thread of work per loader (``num_workers=0``):

- **raw read**: rasterio windowed reads, from files opened once, of each patch's
  imagery (patch + context) and the coarse cells its prior needs (patch + blur halo,
  at 30 m): the I/O limit of the data path;
- **data module** (default: aligned reads + priors built on the batch's device): the
  training loader, and its device step (priors from block weights) on the CPU;
- **data module, TorchGeo reads + loader priors** (``fast_reads=False,
  device_priors=False``: the data path before the fast path);
- **TorchGeo peer**: TorchGeo's own ``RasterDataset`` (imagery) & ``RasterDataset``
  (coarse labels) in a ``DataLoader``, reading the same patches (no margin, no prior).

Every path reads the same patches (drawn once from the data module's
``RandomBatchGeoSampler``), after one untimed pass that warms GDAL's block cache.

MPix/s count the patch pixels delivered (context and halo not counted). It also times
the old CPU prior builder against the device prior step on the CPU, per batch.

Run: ``.venv/bin/python benchmarks/bench_loading.py [--batch 16 --batches 20]``
"""

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import rasterio
import torch
from affine import Affine
from rasterio.io import DatasetReader
from rasterio.windows import Window, from_bounds
from torch.utils.data import DataLoader
from torchgeo.datasets import RasterDataset, stack_samples
from torchgeo.datasets.utils import GeoSlice

from torchgeo_lsr.datamodules import LSRDataModule, LSRSampleTransform
from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.priors import estimate_cooccurrence


class Imagery(RasterDataset):
    """The scene's imagery, as a user of TorchGeo alone would open it."""

    filename_glob = '*.tif'
    is_image = True


class Coarse(RasterDataset):
    """The scene's coarse labels, as a user of TorchGeo alone would open them."""

    filename_glob = '*.tif'
    is_image = False


def timed(batches: Iterator[object], count: int) -> float:
    """Seconds to draw ``count`` batches (after one warm-up batch)."""
    next(batches)
    start = time.perf_counter()
    for _ in range(count):
        next(batches)
    return time.perf_counter() - start


def raw_read(
    root: Path, queries: list[tuple[slice, slice, slice]], context: int, halo: int
) -> float:
    """Seconds to read the imagery and coarse windows of the queries, plainly.

    Args:
        root: the scene.
        queries: patch queries of the data module's sampler.
        context: imagery pixels read around each patch.
        halo: imagery pixels of coarse labels the prior needs around each patch.

    Returns:
        The seconds.
    """
    images = [rasterio.open(path) for path in sorted((root / 'naip').glob('*.tif'))]
    coarse = [rasterio.open(path) for path in sorted((root / 'nlcd').glob('*.tif'))]

    def first(files: list[DatasetReader], x: float, y: float) -> DatasetReader:
        return next(
            f
            for f in files
            if f.bounds.left <= x < f.bounds.right
            and f.bounds.bottom < y <= f.bounds.top
        )

    start = time.perf_counter()
    for x, y, _ in queries:
        src = first(images, x.start, y.stop)
        col = round((x.start - src.bounds.left) / src.res[0]) - context
        row = round((src.bounds.top - y.stop) / src.res[1]) - context
        side = round((x.stop - x.start) / src.res[0]) + 2 * context
        src.read(window=Window(col, row, side, side))
        reach = halo * src.res[0]
        labels = first(coarse, x.start, y.stop)
        window = (
            from_bounds(
                x.start - reach,
                y.start - reach,
                x.stop + reach,
                y.stop + reach,
                labels.transform,
            )
            .round_offsets()
            .round_lengths()
        )
        labels.read(1, window=window)
    return time.perf_counter() - start


def loader_seconds(dm: LSRDataModule, batches: list[list[GeoSlice]]) -> float:
    """Seconds for the data module's training loader to deliver the given batches.

    The loader is the one ``train_dataloader`` builds (its dataset's loader view,
    its collate function), with the given patches instead of fresh random ones.
    """
    loader = dm.train_dataloader()
    fixed = DataLoader(
        loader.dataset, batch_sampler=batches, collate_fn=loader.collate_fn
    )
    return timed(iter(fixed), len(batches) - 1)


def device_step_seconds(dm: LSRDataModule, batches: list[list[GeoSlice]]) -> float:
    """Seconds per batch of building the priors of loader batches on the CPU."""
    view = dm.train_dataloader().dataset
    loaded = [dm.collate_fn([view[q] for q in b]) for b in batches]
    assert 'prior_mass' in loaded[0]
    dm.on_after_batch_transfer(dict(loaded[0]), 0)
    start = time.perf_counter()
    for batch in loaded[1:]:
        dm.on_after_batch_transfer(dict(batch), 0)
    return (time.perf_counter() - start) / (len(loaded) - 1)


def builder_seconds(dm: LSRDataModule, batches: list[list[GeoSlice]]) -> float:
    """Seconds per batch of the loader's CPU prior builder (FFT blur, per sample)."""
    dataset = dm.train_dataset
    transform = dataset.transforms
    assert isinstance(transform, LSRSampleTransform)
    assert transform.spec.priors is not None
    priors, tiles, halo = transform.spec.priors, transform.spec.tiles, transform.halo
    dataset.transforms = None
    raws = [[dataset[q] for q in b] for b in batches]
    dataset.transforms = transform
    start = time.perf_counter()
    for raw in raws:
        for sample in raw:
            raw_transform = Affine(*(float(v) for v in sample['transform'][:6]))
            codes = priors.codes(sample['coarse'].numpy())
            shape = (codes.shape[0] - 2 * halo, codes.shape[1] - 2 * halo)
            windows = tiles.windows(
                raw_transform @ Affine.translation(halo, halo), shape
            )
            priors.build(codes, raw_transform, tiles, windows, lambda r, c: {})
    return (time.perf_counter() - start) / len(raws)


def data_module(root: Path, args: argparse.Namespace, **options: bool) -> LSRDataModule:
    """The default data module on the scene (with ``options``), set up for fit."""
    dm = LSRDataModule(
        root / 'naip',
        coarse_paths=root / 'nlcd',
        cooccurrence=str(root / 'matrix.csv'),
        batch_size=args.batch,
        patch_size=args.patch,
        context=args.context,
        length=args.batch * (args.batches + 1),
        **options,
    )
    dm.setup('fit')
    return dm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=2048, help='scene tile side')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--patch', type=int, default=128)
    parser.add_argument('--context', type=int, default=5)
    parser.add_argument('--batches', type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scene = make_scene(root, size=args.size, tiles=2, calibrate=False)
        pairs = list(zip(scene.nlcd_paths, scene.lc_paths, strict=True))
        estimate_cooccurrence(pairs).to_csv(root / 'matrix.csv')
        pixels = args.batch * args.patch**2 * args.batches / 1e6

        fast = data_module(root, args)
        # The same patches for every path, drawn once from the data module's sampler.
        batches = list(fast.train_batch_sampler)[: args.batches + 1]
        queries = [q for b in batches[1:] for q in b]
        raw_read(root, queries, fast.context, fast.halo)  # GDAL's cache warm for all
        seconds: dict[str, float] = {
            'raw read': raw_read(root, queries, fast.context, fast.halo)
        }
        seconds['data module'] = loader_seconds(fast, batches)
        device_step = device_step_seconds(fast, batches)

        old = data_module(root, args, fast_reads=False, device_priors=False)
        seconds['data module, TorchGeo reads + loader priors'] = loader_seconds(
            old, batches
        )
        old_prior = builder_seconds(old, batches[:5])

        imagery = Imagery(root / 'naip')
        peer = imagery & Coarse(root / 'nlcd', crs=imagery.crs, res=imagery.res)
        peer_loader = DataLoader(peer, batch_sampler=batches, collate_fn=stack_samples)
        seconds['TorchGeo peer (RasterDataset & RasterDataset, no prior)'] = timed(
            iter(peer_loader), args.batches
        )
    print(
        f'{args.batches} batches of {args.batch} x {args.patch}^2 (+{args.context} px context), '
        f'tiles {args.size}^2, 1 thread, 0 workers'
    )
    raw = pixels / seconds['raw read']
    ours = pixels / seconds['data module']
    for name, value in seconds.items():
        rate = pixels / value
        print(f'{name:58s} {rate:7.2f} MPix/s = {rate / raw:6.3f}x the raw read')
    peer_rate = (
        pixels / seconds['TorchGeo peer (RasterDataset & RasterDataset, no prior)']
    )
    before = pixels / seconds['data module, TorchGeo reads + loader priors']
    print(
        f'data module against the TorchGeo peer:        {ours / peer_rate:6.1f}x (target >= 10x)'
    )
    print(
        f'data module against the raw read:             {ours / raw:6.3f}x (target >= 0.5x)'
    )
    print(f'data module against the data path before:     {ours / before:6.1f}x')
    print(
        f'prior per batch on the CPU: loader builder (FFT blur, per sample) {1000 * old_prior:.1f} ms, '
        f'device step (block weights) {1000 * device_step:.1f} ms = {old_prior / device_step:.1f}x faster'
    )


if __name__ == '__main__':
    main()

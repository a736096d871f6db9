"""Can the data path feed an accelerator? Training, loading and export rates on one device.

In one run on a generated scene, on ``--device`` (default: ``cuda`` when there is one):

- training MPix/s of the paper's FCN (5 x 3x3 conv, 128 filters) and a U-Net with a
  ResNet-18 encoder, QR loss, at the paper's batch (128 patches of 128^2), in float32
  and under bf16 autocast;
- the QR loss's share of a training step (its forward and backward alone);
- training-loader MPix/s with 0 / 4 / 8 workers, each batch moved to the device and
  finished there (priors built on the device), and its ratio to the FCN's training
  rate (target with 8 workers: >= 1.5x);
- the share of a real training loop's time spent waiting for data (FCN-128,
  8 workers);
- export MPix/s (``q``, ``r`` and the map of every tile);
- peak device memory of the paper configurations' training batch (128 x 128^2) and
  evaluation batch (8 x 512^2, no gradients).

``--quick`` shrinks everything (tiny scene, batch, filters, worker counts 0 / 2) so
that it runs in about a minute on a CPU: the test suite runs it that way so that the
script cannot rot. The full run takes under 8 minutes on one current GPU.

Run: ``.venv/bin/python benchmarks/bench_gpu.py [--device cuda] [--quick]``
"""

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.export import export_maps
from torchgeo_lsr.priors import estimate_cooccurrence
from torchgeo_lsr.tasks import LSRSegmentation


@dataclass(frozen=True)
class Sizes:
    """The run's sizes (full or ``--quick``)."""

    scene: int
    batch: int
    patch: int
    eval_batch: int
    eval_patch: int
    filters: int
    steps: int
    workers: tuple[int, ...]
    loader_batches: int


FULL = Sizes(2048, 128, 128, 8, 512, 128, 10, (0, 4, 8), 20)
QUICK = Sizes(256, 4, 64, 2, 128, 16, 2, (0, 2), 3)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timings must include it)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager[Any]:
    """bf16 autocast on the device, or nothing."""
    if not bf16:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def timed(function: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds per call after one warm-up call."""
    function()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def random_batch(sizes: Sizes, device: torch.device) -> dict[str, torch.Tensor]:
    """A training batch shaped like the data module's (priors normalised)."""
    shape = (sizes.batch, sizes.patch, sizes.patch)
    return {
        'image': torch.rand(sizes.batch, 4, *shape[1:], device=device),
        'prior': torch.rand(sizes.batch, 5, *shape[1:], device=device).softmax(1),
        'valid': torch.ones(shape, dtype=torch.bool, device=device),
    }


def task(model: str, sizes: Sizes, device: torch.device) -> LSRSegmentation:
    """A QR task with the named network on the device."""
    options: dict[str, Any] = {'model': model, 'num_filters': sizes.filters}
    if model == 'unet':
        options = {'model': 'unet', 'backbone': 'resnet18', 'weights': None}
    return LSRSegmentation(
        **options, in_channels=4, num_classes=5, warmup_steps=0, border=0
    ).to(device)


def train_step(
    lsr: LSRSegmentation, batch: dict[str, torch.Tensor], bf16: bool
) -> Callable[[], None]:
    """One training step: forward, QR loss, backward, Adam."""
    optimiser = torch.optim.Adam(lsr.parameters(), lr=1e-4)
    device = batch['image'].device

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with autocast(device, bf16):
            loss = lsr._loss(lsr.outputs(batch))
        loss.backward()
        optimiser.step()

    return step


def loss_alone(
    lsr: LSRSegmentation, batch: dict[str, torch.Tensor]
) -> Callable[[], None]:
    """Forward and backward of the QR loss on fixed network outputs."""
    with torch.no_grad():
        outputs = lsr.outputs(batch)
    log_q = outputs['log_q'].detach().requires_grad_()

    def run() -> None:
        log_q.grad = None
        lsr.criterion(log_q, outputs['prior'], mask=outputs['valid']).backward()

    return run


def datamodule(root: Path, sizes: Sizes, workers: int) -> LSRDataModule:
    """The default data module on the scene."""
    dm = LSRDataModule(
        root / 'naip',
        coarse_paths=root / 'nlcd',
        cooccurrence=str(root / 'matrix.csv'),
        batch_size=sizes.batch,
        patch_size=sizes.patch,
        eval_patch_size=sizes.eval_patch,
        eval_batch_size=sizes.eval_batch,
        context=0,
        length=sizes.batch * (sizes.loader_batches + 4),
        num_workers=workers,
    )
    dm.setup('fit')
    return dm


def device_batches(
    dm: LSRDataModule, device: torch.device
) -> Iterator[dict[str, torch.Tensor]]:
    """Training batches moved to the device and finished there, as Lightning does."""
    for batch in dm.train_dataloader():
        moved = {
            k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }
        yield dm.on_after_batch_transfer(moved, 0)


def loader_rate(dm: LSRDataModule, sizes: Sizes, device: torch.device) -> float:
    """MPix/s of training batches delivered on the device."""
    batches = device_batches(dm, device)
    next(batches)  # workers start
    synchronize(device)
    start = time.perf_counter()
    for _ in range(sizes.loader_batches):
        next(batches)
    synchronize(device)
    pixels = sizes.loader_batches * sizes.batch * sizes.patch**2
    return pixels / (time.perf_counter() - start) / 1e6


def waiting_share(dm: LSRDataModule, sizes: Sizes, device: torch.device) -> float:
    """Share of a training loop's time spent waiting for the next batch."""
    lsr = task('fcn', sizes, device)
    optimiser = torch.optim.Adam(lsr.parameters(), lr=1e-4)
    waiting = total = 0.0
    batches = device_batches(dm, device)
    next(batches)
    start = time.perf_counter()
    for _ in range(sizes.loader_batches):
        before = time.perf_counter()
        batch = next(batches)
        synchronize(device)
        waiting += time.perf_counter() - before
        optimiser.zero_grad(set_to_none=True)
        lsr._loss(lsr.outputs(batch)).backward()
        optimiser.step()
    synchronize(device)
    total = time.perf_counter() - start
    return waiting / total


def peak_memory(
    model: str, sizes: Sizes, device: torch.device, eval_batch: bool
) -> str:
    """Peak device memory of one training step or one evaluation batch."""
    if device.type != 'cuda':
        return 'n/a (not a CUDA device)'
    lsr = task(model, sizes, device)
    torch.cuda.reset_peak_memory_stats(device)
    if eval_batch:
        side = sizes.eval_patch
        batch = random_batch(
            dataclasses.replace(sizes, batch=sizes.eval_batch, patch=side), device
        )
        with torch.no_grad():
            lsr.eval().outputs(batch)
    else:
        train_step(lsr, random_batch(sizes, device), bf16=False)()
    synchronize(device)
    return f'{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB'


def export_rate(root: Path, sizes: Sizes, device: torch.device) -> float:
    """MPix/s of ``q``, ``r`` and map exports of the scene's tiles."""
    dm = datamodule(root, sizes, 0)
    lsr = task('fcn', sizes, device).eval()
    start = time.perf_counter()
    export_maps(lsr, dm, root / 'maps', progress=False)
    synchronize(device)
    return 2 * sizes.scene**2 / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu'
    )
    parser.add_argument('--quick', action='store_true', help='tiny sizes (smoke test)')
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = QUICK if args.quick else FULL
    print(
        f'device {device}, batch {sizes.batch} x {sizes.patch}^2, scene 2 x {sizes.scene}^2'
    )
    pixels = sizes.batch * sizes.patch**2 / 1e6
    batch = random_batch(sizes, device)
    train: dict[str, float] = {}
    for model in ('fcn', 'unet'):
        for bf16 in (False, True):
            name = f'{"FCN-" + str(sizes.filters) if model == "fcn" else "U-Net ResNet-18"}'
            seconds = timed(
                train_step(task(model, sizes, device), batch, bf16), device, sizes.steps
            )
            train[f'{model}{"-bf16" if bf16 else ""}'] = pixels / seconds
            print(
                f'train {name:18s} {"bf16" if bf16 else "fp32"}: {pixels / seconds:8.2f} MPix/s'
            )
    fcn = task('fcn', sizes, device)
    step = timed(train_step(fcn, batch, False), device, sizes.steps)
    loss = timed(loss_alone(fcn, batch), device, sizes.steps)
    print(f'QR loss (forward + backward): {100 * loss / step:.1f}% of an FCN step')
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scene = make_scene(root, size=sizes.scene, tiles=2, calibrate=False)
        pairs = list(zip(scene.nlcd_paths, scene.lc_paths, strict=True))
        estimate_cooccurrence(pairs).to_csv(root / 'matrix.csv')
        rates = {}
        for workers in sizes.workers:
            rates[workers] = loader_rate(
                datamodule(root, sizes, workers), sizes, device
            )
            ratio = rates[workers] / train['fcn']
            print(
                f'loader, {workers} workers: {rates[workers]:8.2f} MPix/s = '
                f'{ratio:.2f}x the FCN training rate'
            )
        most = max(sizes.workers)
        share = waiting_share(datamodule(root, sizes, most), sizes, device)
        print(
            f'training loop, {most} workers: {100 * share:.1f}% of the time waiting for data'
        )
        print(
            f'loader with {most} workers / FCN training rate: '
            f'{rates[most] / train["fcn"]:.2f}x (target >= 1.5x)'
        )
        print(f'export (q, r, map): {export_rate(root, sizes, device):.2f} MPix/s')
    print(f'peak memory, training batch: {peak_memory("fcn", sizes, device, False)}')
    print(f'peak memory, evaluation batch: {peak_memory("fcn", sizes, device, True)}')


if __name__ == '__main__':
    main()

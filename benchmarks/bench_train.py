"""Training-step throughput of the FCN with QR against CE, and data loading.

In one run, on the same batches, times full training steps of
:class:`~torchgeo_lsr.tasks.LSRSegmentation` (forward with output smoothing, border
crop, loss, backward, Adam step) with the QR loss (free-energy form) and with
soft cross-entropy on the prior (the baseline), interleaved; reports MPix/s and the
QR loss's own share of the step (its forward + backward on the network's output).
Then times training batches of :class:`~torchgeo_lsr.datamodules.LSRDataModule`
(prior built on the fly, as ``conf/synthetic.yaml``) on a generated scene against
the step.

Run: ``.venv/bin/python benchmarks/bench_train.py [--filters 128 --batch 16]``
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.datasets import make_scene
from torchgeo_lsr.priors import estimate_cooccurrence
from torchgeo_lsr.tasks import LSRSegmentation


def batch(size: int, patch: int, context: int) -> dict[str, torch.Tensor]:
    """A random batch shaped like the data module's."""
    side = patch + 2 * context
    prior = torch.rand(size, 5, side, side).softmax(1)
    return {
        'image': torch.rand(size, 4, side, side),
        'prior': prior,
        'valid': torch.ones(size, side, side, dtype=torch.bool),
    }


def step_function(
    loss: str, filters: int, data: dict[str, torch.Tensor], context: int
) -> Callable[[], None]:
    """One training step of the task with a loss."""
    torch.manual_seed(0)
    task = LSRSegmentation(num_filters=filters, loss=loss, border=context)  # type: ignore[arg-type]
    optimiser = torch.optim.Adam(task.parameters(), lr=1e-4)

    def step() -> None:
        optimiser.zero_grad()
        task._loss(task.outputs(data)).backward()
        optimiser.step()

    return step


def loss_function(data: dict[str, torch.Tensor], context: int) -> Callable[[], None]:
    """Forward + backward of the QR loss alone, on the network's output."""
    task = LSRSegmentation(num_filters=4, border=context)
    with torch.no_grad():
        outputs = task.outputs(data)
    log_q = outputs['log_q'].detach().requires_grad_()

    def run() -> None:
        log_q.grad = None
        task.criterion(log_q, outputs['prior'], mask=outputs['valid']).backward()

    return run


def interleaved(
    functions: dict[str, Callable[[], None]], rounds: int
) -> dict[str, float]:
    """Median seconds per call of each function, timed in interleaved rounds."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def loading_rate(batch_size: int, patch: int, batches: int) -> float:
    """Training batches per second of the data module on a generated scene."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scene = make_scene(root, size=1024, tiles=2, calibrate=False)
        pairs = list(zip(scene.nlcd_paths, scene.lc_paths, strict=True))
        estimate_cooccurrence(pairs).to_csv(root / 'matrix.csv')
        dm = LSRDataModule(
            root / 'naip',
            coarse_paths=root / 'nlcd',
            label_paths=root / 'lc',
            cooccurrence=str(root / 'matrix.csv'),
            batch_size=batch_size,
            patch_size=patch,
            length=batch_size * (batches + 1),
        )
        dm.setup('fit')
        iterator = iter(dm.train_dataloader())
        next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        return batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--filters', type=int, nargs='+', default=[128, 16])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--patch', type=int, default=128)
    parser.add_argument('--context', type=int, default=5)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--batches', type=int, default=10)
    args = parser.parse_args()
    data = batch(args.batch, args.patch, args.context)
    pixels = args.batch * args.patch**2 / 1e6
    print(
        f'batch {args.batch} x {args.patch}^2 (+{args.context} px context), '
        f'{torch.get_num_threads()} threads'
    )
    steps = {}
    for filters in args.filters:
        functions = {
            f'FCN-{filters} + QR': step_function('qr', filters, data, args.context),
            f'FCN-{filters} + CE': step_function('ce', filters, data, args.context),
        }
        if filters == args.filters[0]:
            functions['QR loss alone'] = loss_function(data, args.context)
        timed = interleaved(functions, args.rounds)
        loss_time = timed.pop('QR loss alone', None) or steps.get('loss', 0.0)
        steps['loss'] = loss_time
        qr, ce = timed[f'FCN-{filters} + QR'], timed[f'FCN-{filters} + CE']
        steps[filters] = qr
        print(
            f'FCN-{filters}: QR step {qr:.3f} s = {pixels / qr:.3f} MPix/s, '
            f'CE step {ce:.3f} s = {pixels / ce:.3f} MPix/s, QR/CE {qr / ce:.3f}; '
            f'the QR loss (forward + backward) is {100 * loss_time / qr:.1f}% of the '
            'QR step'
        )
    rate = loading_rate(args.batch, args.patch, args.batches)
    print(f'data module (prior on the fly, 0 workers): {rate:.2f} batches/s')
    for filters in args.filters:
        print(
            f'  = {rate * steps[filters]:.1f}x the FCN-{filters} QR step rate '
            f'({1 / steps[filters]:.2f} steps/s)'
        )


if __name__ == '__main__':
    main()

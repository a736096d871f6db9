"""Forward + backward time of the prior losses against plain cross-entropy.

Times, in one run and on the same inputs, soft-target cross-entropy
(``torch.nn.functional.cross_entropy`` on logits: the baseline), our QR (both forms),
RQ, CE and NLL-union, and TorchGeo's ``QRLoss`` and ``RQLoss``. Every variant starts
from the same logits and includes its (log-)softmax, so the ratios are like for like.

Run: ``.venv/bin/python benchmarks/bench_losses.py [--batch 16 --classes 5 --size 128]``
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torchgeo.losses import QRLoss as TorchGeoQRLoss
from torchgeo.losses import RQLoss as TorchGeoRQLoss

from torchgeo_lsr.losses import ce_loss, nll_union_loss, qr_loss, rq_loss

LossFn = Callable[[Tensor, Tensor], Tensor]


def time_losses(
    variants: dict[str, LossFn], logits: Tensor, prior: Tensor, rounds: int
) -> dict[str, float]:
    """Median seconds per forward + backward pass from logits, for each variant.

    Variants are timed in interleaved rounds (each round runs every variant a few
    times), so drift in machine speed affects all of them alike.
    """
    leaf = logits.detach().requires_grad_()

    def step(fn: LossFn) -> None:
        leaf.grad = None
        fn(leaf, prior).backward()

    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up
        step(fn)
        step(fn)
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            for _ in range(3):
                step(fn)
            samples[name].append((time.perf_counter() - start) / 3)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--classes', type=int, default=5)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--rounds', type=int, default=25)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    shape = (args.batch, args.classes, args.size, args.size)
    logits = torch.randn(shape)
    prior = torch.rand(shape).softmax(1)
    torchgeo_qr, torchgeo_rq = TorchGeoQRLoss(), TorchGeoRQLoss()
    variants: dict[str, LossFn] = {
        'CE (F.cross_entropy, baseline)': lambda x, p: F.cross_entropy(x, p),
        'ours ce_loss': lambda x, p: ce_loss(x.log_softmax(1), p),
        'ours nll_union_loss': lambda x, p: nll_union_loss(x.log_softmax(1), p),
        'ours qr_loss kl': lambda x, p: qr_loss(x.log_softmax(1), p, 'kl'),
        'ours qr_loss free_energy': lambda x, p: qr_loss(
            x.log_softmax(1), p, 'free_energy'
        ),
        'ours rq_loss': lambda x, p: rq_loss(x.log_softmax(1), p),
        'TorchGeo QRLoss': lambda x, p: torchgeo_qr(x.softmax(1), p),
        'TorchGeo RQLoss': lambda x, p: torchgeo_rq(x.softmax(1), p),
    }
    timings = time_losses(variants, logits, prior, args.rounds)
    baseline = timings['CE (F.cross_entropy, baseline)']
    print(
        f'B={args.batch} C={args.classes} {args.size}x{args.size}, '
        f'{args.threads} threads, torch {torch.__version__}; forward+backward, median'
    )
    print(f'{"variant":34s} {"ms":>8s} {"x CE":>7s}')
    for name, seconds in timings.items():
        print(f'{name:34s} {seconds * 1e3:8.2f} {seconds / baseline:7.2f}')
    ratio = timings['TorchGeo RQLoss'] / timings['ours rq_loss']
    print(f'ours rq_loss is {ratio:.1f}x faster than TorchGeo RQLoss')
    ratio = timings['TorchGeo QRLoss'] / timings['ours qr_loss free_energy']
    print(f'ours qr_loss free_energy is {ratio:.1f}x as fast as TorchGeo QRLoss')


if __name__ == '__main__':
    main()

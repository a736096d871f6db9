"""Whole-tile class totals of q: the first of the paper's two evaluation passes.

The implied posterior ``r`` divides q by its class totals ``S_l``. The paper
evaluates with the totals of each pixel's **whole tile** (REFERENCE §1.6), so a
first pass sums q per tile and class, and a second computes r with those totals.
:class:`TileTotals` is that first pass, shared by the task's test
(:meth:`~torchgeo_lsr.tasks.LSRSegmentation.on_test_epoch_start`, tiles numbered by
the batches' ``tile`` key) and by :mod:`torchgeo_lsr.export` (one output grid, one
tile). Totals are float64: a tile has up to billions of pixels.
"""

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.utilities import move_data_to_device
from torch import Tensor
from torch.nn import functional as F

from ..losses import implied_posterior

__all__ = (
    'TileTotals',
    'batches_within_limits',
    'first_pass_log_mass',
    'log_posterior',
    'pixel_log_mass',
    'require_tiles',
    'whole_tile_log_mass',
)


class TileTotals:
    """Per-tile class totals of q, accumulated over batches or blocks.

    Attributes:
        sums: (tiles, C) float64 totals on the CPU; row ``t`` is tile ``t``
            (zeros for a tile not seen).
        device: the device of reductions under DDP (see :meth:`__init__`).
    """

    def __init__(
        self, num_classes: int, device: torch.device | str | None = None
    ) -> None:
        """Start with no tile.

        Args:
            num_classes: classes C.
            device: the device of the process group's reductions under DDP when it
                is a CUDA device (NCCL reduces CUDA tensors only); the totals
                themselves always live on the CPU (float64 is not available on
                every accelerator, e.g. Apple's MPS).
        """
        self.device = None if device is None else torch.device(device)
        self.sums = torch.zeros((0, num_classes), dtype=torch.float64)

    @property
    def tiles(self) -> int:
        """Number of tiles (the largest tile index seen plus one)."""
        return int(self.sums.shape[0])

    def _grow(self, tiles: int) -> None:
        """Make room for ``tiles`` tiles (never shrinks)."""
        if tiles > self.tiles:
            self.sums = F.pad(self.sums, (0, 0, 0, tiles - self.tiles))

    def add(self, q: Tensor, valid: Tensor, tile: Tensor | None = None) -> None:
        """Add probabilities to the totals of their tiles.

        Args:
            q: (B, C, H, W) probabilities.
            valid: (B, H, W) pixels to count.
            tile: (B, H, W) tile index of each pixel (-1: no tile, not counted);
                None: every pixel is in tile 0.
        """
        # To the CPU first, then float64: accelerators without float64 (MPS) never
        # see a float64 tensor.
        if tile is None:
            self._grow(1)
            self.sums[0] += q.movedim(1, 0)[:, valid].cpu().double().sum(1)
            return
        keep = valid & (tile >= 0)
        values = q.permute(0, 2, 3, 1)[keep].cpu().double()
        index = tile[keep].cpu()
        self._grow(int(index.max()) + 1 if index.numel() else 0)
        self.sums.index_add_(0, index, values)

    def reduce(self) -> None:
        """Sum the totals of every process (nothing to do in a single process).

        Processes may have seen different tiles: every one pads its totals to the
        largest tile count first. Every process must call this, also one that saw
        no batch at all, or the others wait for it forever.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return
        cuda = self.device is not None and self.device.type == 'cuda'
        device = self.device if cuda else torch.device('cpu')
        size = torch.tensor([self.tiles], device=device)
        dist.all_reduce(size, op=dist.ReduceOp.MAX)
        self._grow(int(size))
        sums = self.sums.to(device)
        dist.all_reduce(sums)
        self.sums = sums.cpu()

    def log(self) -> Tensor:
        """Log totals, for :func:`~torchgeo_lsr.losses.implied_posterior`.

        Only ratios within a tile matter, so totals and means give the same r.

        Returns:
            (tiles, C) float32 ``log S``, floored at ``log 1e-30`` (tiles without a
            valid pixel).
        """
        return self.sums.clamp_min(1e-30).log().float()


def pixel_log_mass(log_totals: Tensor, tile: Tensor) -> Tensor:
    """Each pixel's tile's log totals, the ``log_class_mass`` of the implied posterior.

    Args:
        log_totals: (tiles, C) from :meth:`TileTotals.log`.
        tile: (B, H, W) tile index of each pixel (-1, outside every tile, takes
            tile 0's: such pixels are not valid).

    Returns:
        (B, C, H, W) log totals.
    """
    return log_totals[tile.clamp_min(0)].permute(0, 3, 1, 2)


def batches_within_limits(
    loaders: Any, limits: Sequence[float | None]
) -> Iterator[Any]:
    """The batches of a trainer's test data loaders, up to its batch limits.

    Args:
        loaders: ``trainer.test_dataloaders`` (one loader or several).
        limits: ``trainer.num_test_batches`` (one per loader; inf: all).

    Yields:
        The batches, loader by loader.
    """
    loader_list = loaders if isinstance(loaders, list | tuple) else [loaders]
    for loader, limit in zip(loader_list, limits, strict=False):
        if limit is not None and not math.isinf(limit):
            yield from itertools.islice(loader, int(limit))
        else:
            yield from loader


def whole_tile_log_mass(
    batches: Iterable[dict[str, Any]],
    outputs: Callable[[dict[str, Any]], Mapping[str, Tensor]],
    num_classes: int,
    device: torch.device,
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Tensor | None:
    """The first pass of a test: log class totals of every tile of the batches.

    Every process reduces the totals (:meth:`TileTotals.reduce`), also one that
    had no batch.

    Args:
        batches: the test batches, each with ``tile``.
        outputs: the task's :meth:`~torchgeo_lsr.tasks.LSRSegmentation.outputs`
            (``log_q``, ``valid``, ``tile``; run without gradients).
        num_classes: classes C.
        device: the task's device (batches are moved there).
        finish: what Lightning does to a batch after moving it (the data
            module's ``on_after_batch_transfer``: priors built on the device).

    Returns:
        (tiles, C) log totals from :meth:`TileTotals.log` on ``device``, or None
        if no tile was seen (no batch, or no valid pixel in a tile).

    Raises:
        ValueError: If a batch has no ``tile`` key (whole-tile totals cannot be
            computed without it, and batch totals would be reported as whole-tile).
    """
    totals = TileTotals(num_classes, device=device)
    for batch in batches:
        require_tiles(batch)
        batch = move_data_to_device(batch, device)
        if finish is not None:
            batch = finish(batch)
        out = outputs(batch)
        totals.add(out['log_q'].exp(), out['valid'], out['tile'])
    totals.reduce()
    return totals.log().to(device) if totals.tiles else None


def first_pass_log_mass(task: Any) -> Tensor | None:
    """The first pass of a Lightning test: whole-tile totals of the test loaders.

    Runs the task over its trainer's test batches (within ``limit_test_batches``)
    in eval mode without gradients, as :func:`whole_tile_log_mass`.

    Args:
        task: the task (its ``trainer``, ``outputs``, ``hparams`` and ``device``).

    Returns:
        (tiles, C) log totals, or None without test loaders or tiles.

    Raises:
        ValueError: If a test batch has no ``tile``.
    """
    loaders = task.trainer.test_dataloaders
    if loaders is None:
        return None
    was_training = task.training
    task.eval()
    try:
        with torch.no_grad():
            return whole_tile_log_mass(
                batches_within_limits(loaders, task.trainer.num_test_batches),
                task.outputs,
                task.hparams['num_classes'],
                task.device,
                lambda batch: _after_transfer(task, batch),
            )
    finally:
        task.train(was_training)


def _after_transfer(task: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """The ``on_after_batch_transfer`` Lightning runs: the data module's, else the task's."""
    datamodule = getattr(task.trainer, 'datamodule', None)
    hooks = datamodule if datamodule is not None else task
    result: dict[str, Any] = hooks.on_after_batch_transfer(batch, 0)
    return result


def require_tiles(batch: Mapping[str, Any]) -> None:
    """Refuse a test batch without ``tile`` when r needs whole-tile totals.

    Args:
        batch: the batch.

    Raises:
        ValueError: If it has no ``tile`` key.
    """
    if 'tile' not in batch:
        raise ValueError(
            "posterior_totals='tile' needs each test batch's 'tile' (the tile index "
            "of every pixel): use LSRDataModule, or set posterior_totals='batch'"
        )


def log_posterior(outputs: Mapping[str, Tensor], log_totals: Tensor | None) -> Tensor:
    """The implied posterior ``log r`` of a batch's outputs (no gradient).

    Args:
        outputs: the task's outputs (``log_q``, ``prior``, ``valid`` and, with
            ``log_totals``, ``tile``).
        log_totals: (tiles, C) whole-tile log totals from the first pass, or
            None for the batch's own totals (summed over processes).

    Returns:
        (B, C, H, W) log-probabilities.
    """
    mass = None
    if log_totals is not None:
        mass = pixel_log_mass(log_totals, outputs['tile'])
    with torch.no_grad():
        return implied_posterior(
            outputs['log_q'].detach(),
            outputs['prior'],
            mask=outputs['valid'],
            log_class_mass=mass,
            # Whole-tile totals are complete already: nothing to sum.
            distributed=False if mass is not None else None,
        )

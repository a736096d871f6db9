"""Refusing batches the task cannot learn from or score honestly.

:class:`~torchgeo_lsr.tasks.LSRSegmentation` needs three things of every batch that
it cannot guess without silently changing what it computes:

* ``valid`` (:func:`batch_validity`): which pixels have data. Taking a batch
  without it as all valid would train on the zero-filled nodata of the rasters, so
  it is required (every :class:`~torchgeo_lsr.datamodules.LSRDataModule` batch has
  it).
* a usable prior at every valid pixel (:func:`check_prior`): a prior row that sums
  to zero, or holds NaN, negative or infinite values, would be smoothed into a
  uniform prior and trained on without a word. Evaluation checks every batch;
  training a sample of its steps (:func:`checked_step`), so that the other steps
  run without a host synchronisation.
* valid pixels at all (:class:`ValidPixelWatch`): a batch without any trains
  nothing (its loss is 0, its gradients zero). One such batch at the edge of a
  region is legitimate; a run of :data:`EMPTY_RUN_LIMIT` of them in a row, or a
  whole epoch of them, means the data are masked out by mistake, and training
  stops with the likely causes.

And of the training itself, a finite loss (:class:`FiniteLossWatch`): once the loss
is NaN or infinite every weight soon is, and the run would go on to save a
checkpoint of NaN. Its check reads the device once every
:data:`FINITE_CHECK_EVERY` steps (and at the end of each epoch), not every step.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..losses import prior_checks_enabled

__all__ = (
    'CHECKED_FIRST',
    'CHECK_EVERY',
    'EMPTY_RUN_LIMIT',
    'FINITE_CHECK_EVERY',
    'FiniteLossWatch',
    'TrainingWatch',
    'ValidPixelWatch',
    'batch_validity',
    'check_prior',
    'checked_step',
)

#: Training steps that check their priors first, and the period of later checks.
CHECKED_FIRST, CHECK_EVERY = 3, 100

#: Training steps between two reads of :class:`FiniteLossWatch`'s flag.
FINITE_CHECK_EVERY = 10

#: Training batches in a row without a valid pixel that stop a run.
EMPTY_RUN_LIMIT = 20


def batch_validity(batch: Mapping[str, Any]) -> Tensor:
    """The ``valid`` pixels of a batch, which every batch must have.

    Args:
        batch: the batch.

    Returns:
        Its (B, H, W) boolean validity.

    Raises:
        ValueError: If the batch has no ``valid`` key.
    """
    valid = batch.get('valid')
    if valid is None:
        raise ValueError(
            "the batch has no 'valid' key: give a (B, H, W) boolean 'valid' (True "
            'where the imagery and the prior have data), as LSRDataModule batches do'
        )
    flags: Tensor = valid.bool()
    return flags


def checked_step(step: int) -> bool:
    """Whether training step ``step`` checks its priors (a sample of the steps).

    A check reads a flag off the device, stalling an accelerator's queue; a wrong
    prior is a property of the data, so the first steps and every
    :data:`CHECK_EVERY`-th find it without a synchronisation in every step.

    Args:
        step: the global step.

    Returns:
        True for the steps that check.
    """
    return step < CHECKED_FIRST or step % CHECK_EVERY == 0


def check_prior(prior: Tensor, valid: Tensor) -> None:
    """Refuse a prior that cannot be normalised at a valid pixel.

    Args:
        prior: (B, C, H, W) prior as read.
        valid: (B, H, W) validity.

    Raises:
        ValueError: If a valid pixel's prior sums to zero or holds NaN, negative
            or infinite values.
    """
    if not prior_checks_enabled():
        return
    with torch.no_grad():
        total = prior.sum(1)
        # amin is NaN where a pixel holds NaN; the total is inf where it holds inf.
        usable = (prior.amin(1) >= 0) & (total > 0) & (total < torch.inf)
        bad = valid & ~usable
        if not bool(bad.any()):
            return
        zero = int((bad & (total == 0)).sum())
        raise ValueError(
            f'the prior is unusable at {int(bad.sum())} valid pixel(s) ({zero} sum to'
            ' 0, the others hold NaN, negative or infinite values): mark them invalid'
            " in the batch's 'valid' (likely a nodata value of the prior raster, or"
            ' coarse codes missing from coarse_nodata or the co-occurrence matrix)'
        )


class ValidPixelWatch:
    """Stops a training run that trains on no valid pixel (see the module notes).

    The counts stay on the device; they are read (one synchronisation) every
    :data:`EMPTY_RUN_LIMIT` batches and at the end of each epoch.
    """

    def __init__(self, limit: int = EMPTY_RUN_LIMIT) -> None:
        """Start with no batch seen.

        Args:
            limit: training batches in a row without a valid pixel that stop a run.
        """
        self.limit = limit
        self.run: Tensor | None = None
        self.longest: Tensor | None = None
        self.seen = 0
        self.epoch_batches = 0

    def update(self, valid: Tensor) -> None:
        """Count a training batch.

        Args:
            valid: its (cropped) validity, as the loss sees it.

        Raises:
            ValueError: If the last :attr:`limit` batches had no valid pixel.
        """
        empty = (~valid.any()).long()
        if self.run is None or self.longest is None:
            self.run = torch.zeros((), dtype=torch.long, device=valid.device)
            self.longest = self.run.clone()
        self.run = (self.run + 1) * empty
        self.longest = torch.maximum(self.longest, self.run)
        self.seen += 1
        self.epoch_batches += 1
        if self.seen % self.limit == 0:
            self.check()

    def check(self, epoch_end: bool = False) -> None:
        """Raise if a run of empty batches was too long.

        Args:
            epoch_end: also raise if every batch of the epoch was empty (and
                start counting the next epoch's batches).

        Raises:
            ValueError: If :attr:`limit` batches in a row (or, at the end of an
                epoch, all its batches) had no valid pixel.
        """
        if self.run is None or self.longest is None:
            return
        longest, run = int(self.longest), int(self.run)
        whole_epoch = epoch_end and 0 < self.epoch_batches <= run
        if epoch_end:
            self.epoch_batches = 0
        if longest < self.limit and not whole_epoch:
            return
        raise ValueError(
            f'{longest} training batches in a row had no valid pixel, so nothing '
            'trained: check image_nodata (does it match real imagery values?), '
            'coarse_nodata and coarse_lookup (do they mask every code?) and that the '
            'prior and label rasters overlap the imagery'
        )


class FiniteLossWatch:
    """Stops training once the loss is NaN or infinite.

    The flag stays on the device; it is read (one synchronisation) every
    ``every`` steps and at the end of each epoch.
    """

    def __init__(self, every: int = FINITE_CHECK_EVERY) -> None:
        """Start with no step seen.

        Args:
            every: steps between two reads of the flag.
        """
        self.every = every
        self.first_bad: Tensor | None = None
        self.steps = 0

    def update(self, loss: Tensor) -> None:
        """Note a training step's loss.

        Args:
            loss: the loss (a scalar on the task's device).

        Raises:
            ValueError: If a loss so far was not finite (checked every ``every``
                steps).
        """
        step = torch.full((), self.steps, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss.detach())
        never = torch.full_like(step, -1)
        if self.first_bad is None:
            self.first_bad = never
        self.first_bad = torch.where((self.first_bad < 0) & bad, step, self.first_bad)
        self.steps += 1
        if self.steps % self.every == 0:
            self.check()

    def check(self) -> None:
        """Raise if a loss so far was not finite.

        Raises:
            ValueError: Naming the step and the likely causes.
        """
        if self.first_bad is None:
            return
        step = int(self.first_bad)
        if step < 0:
            return
        raise ValueError(
            f'the training loss is not finite (NaN or infinite) since step {step}: '
            'check the imagery for NaN or huge values (image_nodata, image_scale, '
            'normalize_input), the prior for NaN, or lower lr; no checkpoint of '
            'this run is worth keeping'
        )


class TrainingWatch:
    """Both watches of a training run: valid pixels and a finite loss.

    Attributes:
        valid: the :class:`ValidPixelWatch`.
        finite: the :class:`FiniteLossWatch`.
    """

    def __init__(self) -> None:
        """Start with no step seen."""
        self.valid = ValidPixelWatch()
        self.finite = FiniteLossWatch()

    def update(self, valid: Tensor, loss: Tensor) -> None:
        """Note a training step.

        Args:
            valid: its (cropped) validity, as the loss sees it.
            loss: its loss.

        Raises:
            ValueError: If too many batches in a row had no valid pixel, or a loss
                was not finite.
        """
        self.valid.update(valid)
        self.finite.update(loss)

    def check(self, epoch_end: bool = False) -> None:
        """Raise if either watch saw a problem (see their ``check``).

        Args:
            epoch_end: the end of an epoch (also refuses a whole empty epoch).

        Raises:
            ValueError: Naming the problem and its likely causes.
        """
        self.valid.check(epoch_end=epoch_end)
        self.finite.check()

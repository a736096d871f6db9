"""Helpers of the non-geo tests."""

from typing import Any

import lightning.pytorch as pl
from torch import Tensor
from torch.utils._pytree import tree_map

from tests.devices import MpsLike

__all__ = ('MpsLike', 'batches_on_device', 'quiet_trainer')


def quiet_trainer(epochs: int) -> pl.Trainer:
    """A CPU trainer without logger, checkpoints, progress bar or sanity check.

    Args:
        epochs: epochs to train.

    Returns:
        The trainer.
    """
    return pl.Trainer(
        max_epochs=epochs,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def _on_device(value: Any) -> Any:
    """``value`` with every tensor made :class:`MpsLike`.

    Args:
        value: a tensor or a collection of them.

    Returns:
        The same structure, tensors "on the device".
    """
    return tree_map(
        lambda t: t.as_subclass(MpsLike) if isinstance(t, Tensor) else t, value
    )


def batches_on_device(datamodule: Any) -> Any:
    """Make the data module's batches :class:`MpsLike` after their transfer.

    Args:
        datamodule: the data module (its hook is wrapped in place).

    Returns:
        The data module.
    """
    original = datamodule.on_after_batch_transfer

    def hook(batch: Any, dataloader_idx: int) -> Any:
        return _on_device(original(batch, dataloader_idx))

    datamodule.on_after_batch_transfer = hook
    return datamodule

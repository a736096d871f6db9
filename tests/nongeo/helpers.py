"""Helpers of the non-geo tests."""

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils._pytree import tree_map

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


class MpsLike(Tensor):
    """A CPU tensor that behaves as one on Apple MPS (which has no float64).

    Every operation on it returns an ``MpsLike`` (it stays "on the device"); only
    ``.cpu()`` returns a plain tensor; making a float64 ``MpsLike`` or calling
    ``.numpy()`` on one raises AssertionError. ``.to(device)`` keeps it on the
    device: the simulated device is really the CPU, so a ``.to`` cannot tell a
    move to the CPU from one to the model's device (``self.device``), and code
    moving results off the device calls ``.cpu()``.
    """

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``func`` as MPS would (see the class docstring).

        Args:
            func: the torch function.
            types: the tensor types of the arguments.
            args: its arguments.
            kwargs: its keyword arguments.

        Returns:
            Its result.

        Raises:
            AssertionError: On float64 or ``.numpy()`` "on the device".
        """
        kwargs = kwargs or {}
        name = getattr(func, '__name__', repr(func))
        if name == 'cpu':
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).as_subclass(Tensor)
        if name == 'numpy':
            raise AssertionError('.numpy() of a device tensor (needs .cpu() first)')
        result = super().__torch_function__(func, types, args, kwargs)

        def check(value: Any) -> Any:
            if isinstance(value, cls) and value.dtype == torch.float64:
                raise AssertionError(f'{name} made a float64 tensor on the device')
            return value

        tree_map(check, result)
        return result


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

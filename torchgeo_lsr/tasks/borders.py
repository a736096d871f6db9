"""Cropping the context border from a batch's outputs, validity, labels and tiles.

Samples of :class:`~torchgeo_lsr.datamodules.LSRDataModule` carry ``context``
pixels on each side for the network's receptive field; losses and metrics see the
centre only. :func:`crop_outputs` is the one place the task cuts them off.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .batch_checks import batch_validity

__all__ = ('crop', 'crop_outputs')


def crop(tensor: Tensor, border: int) -> Tensor:
    """A tensor without ``border`` pixels on each side of its last two axes.

    Args:
        tensor: (..., H, W) tensor.
        border: pixels to cut from each side.

    Returns:
        (..., H - 2 border, W - 2 border) view.
    """
    height, width = tensor.shape[-2:]
    return tensor[..., border : height - border, border : width - border]


def crop_outputs(
    batch: Mapping[str, Any],
    log_q: Tensor,
    prior: Tensor,
    border: int,
    ignore_index: int,
) -> dict[str, Tensor]:
    """The cropped outputs of a batch, with its validity, labels and tiles.

    Args:
        batch: the batch: ``valid`` and optionally ``mask``, ``tile``.
        log_q: (B, C, H, W) log-probabilities of the batch.
        prior: (B, C, H, W) its smoothed prior.
        border: pixels to cut from each side.
        ignore_index: label value of pixels that are not scored.

    Returns:
        Cropped ``log_q``, ``prior``, ``valid``,
        ``target`` (labels with invalid pixels ignored; only with ``mask``) and
        ``tile`` (only with ``tile``).

    Raises:
        ValueError: If the samples are too small to crop the border, or the
            batch has no ``valid``.
    """
    height, width = log_q.shape[-2:]
    if 2 * border >= min(height, width):
        raise ValueError(
            f'samples of {height}x{width} px are too small to crop a border of '
            f'{border} px'
        )
    out = {
        'log_q': crop(log_q, border),
        'prior': crop(prior, border),
        'valid': crop(batch_validity(batch), border),
    }
    if 'mask' in batch:
        target = crop(batch['mask'].long(), border)
        out['target'] = torch.where(out['valid'], target, ignore_index)
    if 'tile' in batch:
        out['tile'] = crop(batch['tile'].long(), border)
    return out

"""Per-band image statistics of a data module's training imagery, for standardising.

Read from a regular spread of small windows over every file
(:func:`~torchgeo_lsr.grid.sample_windows`: only the blocks under the windows are
decoded, so large rasters cost little time and memory), in the units the samples
have (divided by the image scale), nodata excluded; then laid out over the network's
input channels (priors and 0/1 layers are already in [0, 1] and are left as they
are).
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
import torch
from torch import Tensor

from ..grid import sample_windows

__all__ = ('channel_statistics', 'datamodule_statistics', 'imagery_statistics')


def _valid_values(
    path: str, pixels: float, image_scale: float, image_nodata: float | None
) -> np.ndarray:
    """Scaled values of the valid pixels under the sample windows of one file.

    Args:
        path: the imagery file.
        pixels: pixels to read from it.
        image_scale: imagery values are divided by this.
        image_nodata: imagery value meaning nodata (in all bands).

    Returns:
        A (bands, pixels) float64 array.
    """
    with rasterio.open(path) as src:
        windows = sample_windows(src.height, src.width, pixels)
        data = np.concatenate(
            [src.read(window=w).reshape(src.count, -1) for w in windows], 1
        )
        masks = np.concatenate(
            [src.read_masks(window=w).reshape(src.count, -1) for w in windows], 1
        )
    values = data.astype(np.float64) / image_scale
    keep = (masks > 0).all(0) & np.isfinite(values).all(0)
    if image_nodata is not None:
        keep &= ~(values == image_nodata / image_scale).all(0)
    result: np.ndarray = values[:, keep]
    return result


def imagery_statistics(
    files: Sequence[str],
    *,
    image_scale: float = 255.0,
    image_nodata: float | None = 0.0,
    max_pixels: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of some imagery files.

    Args:
        files: the imagery files.
        image_scale: imagery values are divided by this.
        image_nodata: imagery value meaning nodata (in all bands).
        max_pixels: pixels to read in all (shared evenly by the files).

    Returns:
        ``(mean, std)``, each of shape (bands,); a constant band has std 1.

    Raises:
        ValueError: If the files have different band counts or no valid pixel.
    """
    total = squares = None
    count = 0
    for path in files:
        values = _valid_values(path, max_pixels / len(files), image_scale, image_nodata)
        if total is not None and values.shape[0] != total.shape[0]:
            raise ValueError(
                f'{path} has {values.shape[0]} bands, other imagery files '
                f'{total.shape[0]}'
            )
        total = values.sum(1) + (0 if total is None else total)
        squares = (values**2).sum(1) + (0 if squares is None else squares)
        count += values.shape[1]
    if total is None or squares is None or count == 0:
        raise ValueError(
            f'the imagery ({len(files)} file(s)) has no valid pixel where it was '
            f'sampled: every pixel is masked, non-finite or image_nodata '
            f'({image_nodata}) in all bands; check image_nodata and the imagery '
            'files (are they all zeros?)'
        )
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0))
    # A constant band would divide by zero: leave it unscaled.
    std[std < 1e-6] = 1.0
    return mean, std


def channel_statistics(
    mean: np.ndarray, std: np.ndarray, inputs: Sequence[str], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Imagery statistics laid out over the network's input channels.

    Args:
        mean: per-band mean of the imagery.
        std: per-band standard deviation of the imagery.
        inputs: the input channels: ``'imagery'``, ``'prior'`` and layer names.
        num_classes: the prior's channels.

    Returns:
        ``(mean, std)`` over the input channels: the imagery's where it is, 0 and
        1 for the prior's and the layers' channels (left as they are).
    """
    if list(inputs) == ['imagery']:
        return mean, std
    means, stds = [], []
    for name in inputs:
        if name == 'imagery':
            means.append(mean)
            stds.append(std)
        else:
            width = num_classes if name == 'prior' else 1
            means.append(np.zeros(width))
            stds.append(np.ones(width))
    return np.concatenate(means), np.concatenate(stds)


def datamodule_statistics(
    datamodule: Any, max_pixels: int = 2_000_000
) -> tuple[Tensor, Tensor]:
    """Per-band mean and standard deviation of a data module's training imagery.

    Read from a regular grid of small windows spread over every training file
    (about ``max_pixels`` pixels in all; only the blocks under the windows are
    decoded, so large rasters cost little time and memory), in the units the
    samples have (divided by ``image_scale``), nodata excluded. For tasks that
    standardise their input.

    Args:
        datamodule: an :class:`~torchgeo_lsr.datamodules.LSRDataModule`.
        max_pixels: pixels to read in all.

    Returns:
        ``(mean, std)``, each of shape (channels,): over the imagery bands,
        and 0 / 1 for the prior's and the layers' channels of ``inputs``.

    Raises:
        ValueError: If the files have different band counts or no valid pixel.
    """
    mean, std = imagery_statistics(
        datamodule.stage_inputs('fit').image,
        image_scale=datamodule.image_scale,
        image_nodata=datamodule.image_nodata,
        max_pixels=max_pixels,
    )
    prior_channels = datamodule.num_classes if 'prior' in datamodule.inputs else 0
    mean, std = channel_statistics(mean, std, datamodule.inputs, prior_channels)
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()

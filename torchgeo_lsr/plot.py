"""Figures with each class scheme's colours.

Used by the task's validation figures, the notebooks and the demo. Every function
returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show``; close it
(``plt.close(fig)``) when done.
"""

from collections.abc import Mapping, Sequence

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from .schemes import ClassScheme, generic_scheme

__all__ = ('class_colormap', 'image_rgb', 'plot_class_maps', 'plot_prediction')


def class_colormap(scheme: ClassScheme) -> matplotlib.colors.ListedColormap:
    """Colour map of a scheme's class indices; the index C (ignored) is white.

    Args:
        scheme: the class scheme.

    Returns:
        A colour map for ``imshow`` with ``vmin=0, vmax=C`` (``interpolation``
        ``'nearest'``).
    """
    colors = list(scheme.colors) or list(
        generic_scheme(scheme.codes, names=scheme.names).colors
    )
    return matplotlib.colors.ListedColormap([*colors, '#ffffff'])


def image_rgb(
    image: Tensor | np.ndarray, bands: Sequence[int] = (0, 1, 2)
) -> np.ndarray:
    """An (H, W, 3) RGB array in [0, 1] from a (bands, H, W) image, stretched.

    Each channel is stretched between its 2nd and 98th percentiles.

    Args:
        image: the image (any scale).
        bands: the red, green and blue band indices (a single band is grey).

    Returns:
        The RGB array.
    """
    array = np.asarray(torch.as_tensor(image).detach().float().cpu())
    picked = [min(b, array.shape[0] - 1) for b in bands]
    rgb = np.stack([array[b] for b in picked], -1)
    low = np.percentile(rgb, 2, axis=(0, 1))
    high = np.percentile(rgb, 98, axis=(0, 1))
    result: np.ndarray = np.clip((rgb - low) / np.maximum(high - low, 1e-6), 0, 1)
    return result


def plot_class_maps(
    image: Tensor | np.ndarray | None,
    maps: Mapping[str, Tensor | np.ndarray],
    scheme: ClassScheme,
    *,
    title: str | None = None,
    panel_size: float = 3.0,
) -> Figure:
    """Image beside class-index maps in the scheme's colours, with a legend.

    Args:
        image: (bands, H, W) image shown first (None: no image panel).
        maps: (H, W) class-index maps by panel title; the index C (ignored) is
            white.
        scheme: class scheme of the maps.
        title: figure title.
        panel_size: inches per panel.

    Returns:
        The figure.
    """
    panels = (1 if image is not None else 0) + len(maps)
    fig, axes = plt.subplots(
        1, panels, figsize=(panel_size * panels, panel_size + 0.6), squeeze=False
    )
    axes = axes[0]
    index = 0
    if image is not None:
        axes[0].imshow(image_rgb(image))
        axes[0].set_title('image')
        index = 1
    cmap = class_colormap(scheme)
    for axis, (name, values) in zip(axes[index:], maps.items(), strict=True):
        array = np.asarray(torch.as_tensor(values).detach().cpu())
        axis.imshow(
            array,
            cmap=cmap,
            vmin=-0.5,
            vmax=scheme.num_classes + 0.5,
            interpolation='nearest',
        )
        axis.set_title(name)
    for axis in axes:
        axis.set_axis_off()
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(scheme.names)]
    fig.legend(
        handles=handles, loc='lower center', ncol=min(len(handles), 6), frameon=False
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_prediction(
    image: Tensor,
    prior: Tensor,
    log_q: Tensor,
    log_r: Tensor,
    scheme: ClassScheme,
    mask: Tensor | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """The LSR panels of one sample: image, prior, q, r and (if known) labels.

    Args:
        image: (bands, H, W) image.
        prior: (C, H, W) prior.
        log_q: (C, H, W) network output (log-probabilities).
        log_r: (C, H, W) implied posterior (log-probabilities).
        scheme: class scheme.
        mask: (H, W) labels with the ignore index C (None: not shown).
        title: figure title.

    Returns:
        The figure.
    """
    maps = {
        'prior (argmax)': prior.argmax(0),
        'q (argmax)': log_q.argmax(0),
        'r (argmax)': log_r.argmax(0),
    }
    if mask is not None:
        maps['labels'] = mask
    return plot_class_maps(image, maps, scheme, title=title)

"""Figures with each class scheme's colours.

Used by the task's validation figures, the notebooks and the demo. Every function
returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show``; close it
(``plt.close(fig)``) when done.
"""

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.cm
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from .schemes import ClassScheme, generic_scheme

if TYPE_CHECKING:
    from .priors import Cooccurrence

__all__ = (
    'class_colormap',
    'image_rgb',
    'plot_class_maps',
    'plot_class_scores',
    'plot_cooccurrence',
    'plot_prediction',
    'plot_prior_stages',
    'plot_probabilities',
)


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
    _class_legend(fig, scheme)
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


def _array(values: Tensor | np.ndarray) -> np.ndarray:
    """A NumPy copy of a tensor or array."""
    return np.asarray(torch.as_tensor(values).detach().float().cpu())


def _wrap(name: str, width: int = 16) -> str:
    """A class name on lines of at most ``width`` characters, for panel titles."""
    return '\n'.join(textwrap.wrap(name, width)) or name


def _class_legend(fig: Figure, scheme: ClassScheme) -> None:
    """A legend of the scheme's colours under a figure."""
    cmap = class_colormap(scheme)
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(scheme.names)]
    fig.legend(
        handles=handles, loc='lower center', ncol=min(len(handles), 6), frameon=False
    )


def plot_probabilities(
    probabilities: Tensor | np.ndarray,
    scheme: ClassScheme,
    *,
    title: str | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """One panel per class: its probability (0 to 1), titled in the class colour.

    Args:
        probabilities: (C, H, W) probabilities (a prior, q or r).
        scheme: class scheme of the channels.
        title: figure title.
        panel_size: inches per panel.

    Returns:
        The figure.

    Raises:
        ValueError: If the channel count is not the scheme's class count.
    """
    array = _array(probabilities)
    if array.ndim != 3 or array.shape[0] != scheme.num_classes:
        raise ValueError(
            f'expected ({scheme.num_classes}, H, W) probabilities for scheme '
            f'{scheme.name!r}, got shape {array.shape}'
        )
    cmap = class_colormap(scheme)
    fig, axes = plt.subplots(
        1,
        scheme.num_classes,
        figsize=(panel_size * scheme.num_classes, panel_size + 0.5),
        squeeze=False,
    )
    for index, axis in enumerate(axes[0]):
        axis.imshow(array[index], cmap='magma', vmin=0, vmax=1, interpolation='nearest')
        axis.set_title(_wrap(scheme.names[index]), color=cmap(index), fontweight='bold')
        axis.set_axis_off()
    scale = matplotlib.cm.ScalarMappable(
        matplotlib.colors.Normalize(0, 1), cmap='magma'
    )
    fig.colorbar(scale, ax=list(axes[0]), shrink=0.8, label='probability')
    if title:
        fig.suptitle(title)
    return fig


def plot_prior_stages(
    stages: Mapping[str, Tensor | np.ndarray],
    scheme: ClassScheme,
    classes: Sequence[int | str] | None = None,
    *,
    panel_size: float = 2.4,
) -> Figure:
    """How a prior is built: a row per step, its argmax and chosen class channels.

    Args:
        stages: (C, H, W) probabilities by step name, in order (e.g.
            :meth:`~torchgeo_lsr.priors.PriorBuilder.stages`).
        scheme: class scheme of the channels.
        classes: classes (indices or names) whose channels are shown (default:
            all).
        panel_size: inches per panel.

    Returns:
        The figure.
    """
    picked = [scheme.resolve(c) for c in classes] if classes is not None else None
    picked = picked if picked is not None else list(range(scheme.num_classes))
    columns = 1 + len(picked)
    fig, axes = plt.subplots(
        len(stages),
        columns,
        figsize=(panel_size * columns, panel_size * len(stages) + 0.6),
        squeeze=False,
    )
    cmap = class_colormap(scheme)
    for row, (name, values) in zip(axes, stages.items(), strict=True):
        array = _array(values)
        informed = array.sum(0) > 0
        labels = np.where(informed, array.argmax(0), scheme.num_classes)
        row[0].imshow(
            labels,
            cmap=cmap,
            vmin=-0.5,
            vmax=scheme.num_classes + 0.5,
            interpolation='nearest',
        )
        row[0].set_ylabel(name)
        for axis, index in zip(row[1:], picked, strict=True):
            axis.imshow(
                array[index], cmap='magma', vmin=0, vmax=1, interpolation='nearest'
            )
        for axis in row:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[0][0].set_title('argmax')
    for axis, index in zip(axes[0][1:], picked, strict=True):
        axis.set_title(_wrap(scheme.names[index]), color=cmap(index), fontweight='bold')
    _class_legend(fig, scheme)
    fig.tight_layout(rect=(0, 0.5 / (panel_size * len(stages) + 0.6), 1, 1))
    return fig


def plot_cooccurrence(
    cooccurrence: 'Cooccurrence',
    coarse: ClassScheme | None = None,
    *,
    informative_only: bool = True,
    annotate: bool = True,
    title: str | None = None,
) -> Figure:
    """Heat map of P(fine class | coarse code), with the class names of both.

    Args:
        cooccurrence: the matrix.
        coarse: scheme of the coarse codes (e.g. ``get_scheme('nlcd')``) for the
            column names (default: the codes alone).
        informative_only: leave out the columns of codes without information.
        annotate: write each value above 0.5 % as a percentage.
        title: axes title (default: says what the numbers are).

    Returns:
        The figure.
    """
    codes = list(cooccurrence.coarse_codes)
    keep = [
        i
        for i in range(len(codes))
        if cooccurrence.informative[i] or not informative_only
    ]
    matrix = cooccurrence.matrix[:, keep]
    names = dict(zip(coarse.codes, coarse.names, strict=True)) if coarse else {}
    labels = [
        f'{codes[i]} {names[codes[i]]}' if codes[i] in names else str(codes[i])
        for i in keep
    ]
    fine = cooccurrence.fine
    width = max(5.0, 0.55 * len(keep) + 2.5)
    height = max(2.5, 0.45 * fine.num_classes + 2.2)
    fig, axis = plt.subplots(figsize=(width, height))
    image = axis.imshow(matrix, cmap='Blues', vmin=0, vmax=1, aspect='auto')
    axis.set_xticks(range(len(keep)), labels, rotation=60, ha='right')
    axis.set_yticks(range(fine.num_classes), fine.names)
    axis.set_xlabel(f'coarse code ({coarse.name})' if coarse else 'coarse code')
    axis.set_ylabel(f'fine class ({fine.name})')
    if annotate:
        for (row, col), value in np.ndenumerate(matrix):
            if value >= 0.005:
                axis.text(
                    col,
                    row,
                    f'{100 * value:.0f}',
                    ha='center',
                    va='center',
                    fontsize=7,
                    color='white' if value > 0.6 else 'black',
                )
    fig.colorbar(image, ax=axis, label='P(fine | coarse)')
    default = 'co-occurrence (column %)' if annotate else 'co-occurrence'
    axis.set_title(title or default)
    fig.tight_layout()
    return fig


def plot_class_scores(
    rows: Mapping[str, Mapping[str, Any]], *, metric: str = 'per_class_iou'
) -> Figure:
    """Grouped bars of per-class scores, one group per class and a bar per row.

    Args:
        rows: score dictionaries by row name, as ``test`` writes them
            (``{'accuracy', 'miou', 'per_class_iou': {class name: value}}``,
            fractions).
        metric: the per-class entry to plot.

    Returns:
        The figure.

    Raises:
        ValueError: If no row has ``metric``.
    """
    present = {name: row for name, row in rows.items() if metric in row}
    if not present:
        raise ValueError(f'no row has {metric!r} (rows: {sorted(rows)})')
    classes = list(next(iter(present.values()))[metric])
    width = 0.8 / len(present)
    fig, axis = plt.subplots(figsize=(max(6.0, 1.4 * len(classes) + 2.5), 3.4))
    positions = np.arange(len(classes))
    for index, (name, row) in enumerate(present.items()):
        values = [100 * float(row[metric].get(c, np.nan)) for c in classes]
        summary = f' (mIoU {100 * row["miou"]:.1f})' if 'miou' in row else ''
        axis.bar(positions + index * width, values, width, label=f'{name}{summary}')
    axis.set_xticks(
        positions + width * (len(present) - 1) / 2,
        [_wrap(str(c), 12) for c in classes],
        fontsize=8,
    )
    label = 'IoU' if metric == 'per_class_iou' else metric.replace('_', ' ')
    axis.set_ylabel(f'{label} (%)')
    axis.set_ylim(0, 100)
    axis.grid(axis='y', alpha=0.3)
    axis.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig

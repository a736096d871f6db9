"""Figures of the non-geo experiments: the paper's Figs. 3 and 4 in miniature.

Every function returns a :class:`matplotlib.figure.Figure` and never calls
``plt.show``; close it (``plt.close(fig)``) when done.
"""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from torch import Tensor

__all__ = (
    'LOSS_NAMES',
    'plot_accuracy_vs_k',
    'plot_confusions',
    'plot_learning_curves',
)

#: How the losses are named in figures.
LOSS_NAMES: dict[str, str] = {
    'ce': 'CE',
    'nll_union': 'NLL (union)',
    'qr': 'QR',
    'rq': 'RQ',
}


def _accuracy(value: float | Mapping[str, object], key: str) -> float:
    """A run's accuracy in percent, from a fraction or a run result."""
    if isinstance(value, Mapping):
        fraction = value[key]
        assert isinstance(fraction, float | int)
        return 100 * float(fraction)
    return 100 * float(value)


def plot_accuracy_vs_k(
    results: Mapping[str, Mapping[int | str, float | Mapping[str, object]]],
    *,
    key: str = 'final_test_accuracy',
    num_classes: int = 10,
    title: str | None = None,
) -> Figure:
    """Accuracy against the number of negative labels per image, a line per loss.

    Args:
        results: ``{loss: {k: accuracy}}`` with accuracies as fractions or as run
            results (:func:`~torchgeo_lsr.nongeo.sweep.negative_label_sweep`).
        key: which accuracy of a run result to plot.
        num_classes: classes, for the top axis of label information in bits.
        title: figure title.

    Returns:
        The figure.

    Raises:
        ValueError: If ``results`` is empty.
    """
    if not results:
        raise ValueError('no results to plot')
    fig, axis = plt.subplots(figsize=(5.5, 3.8))
    every_k: set[int] = set()
    for loss, row in results.items():
        ks = sorted(row, key=int)
        every_k.update(int(k) for k in ks)
        values = [_accuracy(row[k], key) for k in ks]
        axis.plot(
            [int(k) for k in ks], values, marker='o', label=LOSS_NAMES.get(loss, loss)
        )
    axis.set_xlabel('negative labels per image (k)')
    axis.set_ylabel(f'{key.replace("_", " ")} (%)')
    axis.set_xticks(sorted(every_k))
    axis.grid(alpha=0.3)
    axis.legend()

    def bits(k: ArrayLike) -> ArrayLike:
        allowed = np.clip(num_classes - np.asarray(k, float), 1e-6, None)
        return np.asarray(np.log2(num_classes / allowed))

    def negatives(information: ArrayLike) -> ArrayLike:
        return np.asarray(num_classes * (1 - 2.0 ** -np.asarray(information, float)))

    top = axis.secondary_xaxis('top', functions=(bits, negatives))
    # Bits at the plotted k (the scale is far from linear near k = C - 1).
    shown = sorted(k for k in every_k if k < num_classes)
    top.set_xticks(
        [float(np.asarray(bits(np.asarray(k)))) for k in shown],
        [f'{float(np.asarray(bits(np.asarray(k)))):.2g}' for k in shown],
    )
    top.set_xlabel('label information (bits)')
    if title:
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_learning_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    ylabel: str = 'test accuracy (%)',
    title: str | None = None,
) -> Figure:
    """Accuracy per epoch, a line per run.

    Args:
        curves: fractions per epoch by run name.
        ylabel: the y axis label.
        title: axes title.

    Returns:
        The figure.
    """
    fig, axis = plt.subplots(figsize=(5.5, 3.5))
    for name, values in curves.items():
        epochs = np.arange(1, len(values) + 1)
        axis.plot(epochs, 100 * np.asarray(values, float), marker='.', label=name)
    axis.set_xlabel('epoch')
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusions(
    confusions: Sequence[tuple[int, Tensor | np.ndarray]],
    steps: Sequence[int] | None = None,
    *,
    class_names: Sequence[str] | None = None,
    panel_size: float = 1.9,
) -> Figure:
    """Confusion matrices of the training predictions as learning goes on (Fig. 4).

    Each matrix is normalised per true class (rows), so a learned class is a dark
    diagonal cell whatever its frequency.

    Args:
        confusions: ``(step, counts)`` pairs with (C, C) counts, true class by row
            (e.g. :attr:`RankedPairsClassification.confusions`).
        steps: steps to show (each the nearest recorded step at or after it;
            default: doubling from the first: 10, 20, 40, ...).
        class_names: tick labels (default: class indices).
        panel_size: inches per panel.

    Returns:
        The figure.

    Raises:
        ValueError: If there are no confusion matrices.
    """
    if not confusions:
        raise ValueError('no confusion matrices recorded (confusion_every_n_steps=0?)')
    recorded = [step for step, _ in confusions]
    if steps is None:
        steps, step = [], max(recorded[0], 1)
        while step <= recorded[-1]:
            steps.append(step)
            step *= 2
    picked: list[tuple[int, np.ndarray]] = []
    for wanted in steps:
        index = next((i for i, s in enumerate(recorded) if s >= wanted), None)
        if index is not None and recorded[index] not in [s for s, _ in picked]:
            counts = np.asarray(torch.as_tensor(confusions[index][1]), float)
            picked.append((recorded[index], counts))
    columns = min(len(picked), 4)
    rows = -(-len(picked) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(panel_size * columns, panel_size * rows + 0.3),
        squeeze=False,
    )
    for axis in axes.ravel():
        axis.set_axis_off()
    for axis, (step, counts) in zip(axes.ravel(), picked, strict=False):
        totals = counts.sum(1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        axis.imshow(share, cmap='Greys', vmin=0, vmax=1)
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        axis.set_title(f'step {step}: {100 * accuracy:.0f}%', fontsize=9)
        classes = counts.shape[0]
        names = list(class_names) if class_names else [str(i) for i in range(classes)]
        axis.set_axis_on()
        axis.set_xticks(range(classes), names, fontsize=6)
        axis.set_yticks(range(classes), names, fontsize=6)
    fig.supxlabel('predicted', fontsize=9)
    fig.supylabel('true', fontsize=9)
    fig.tight_layout()
    return fig

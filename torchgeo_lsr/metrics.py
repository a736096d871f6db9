"""Scores from confusion matrices: accuracy, IoU (segmentation), F1 (classification).

One module for every place that scores predictions: the segmentation task's
validation and test metrics (q, r and the prior's argmax), ``torchgeo-lsr evaluate``
on exported GeoTIFFs, the benchmarks, and the non-geo tasks (accuracy, F1, and the
image prior's IoU). Segmentation scores follow the paper's evaluation (REFERENCE
§2.9): pixels whose label is the ignore index do not count; the accuracy is global
over all counted pixels; the IoU of a class sums intersections and unions over
everything scored (all tiles), and the class-mean IoU ``miou`` averages it over the
fixed class set, all C classes of the scheme, as §2.9 does. A class that occurs in
neither the labels nor the predictions of everything scored has union 0: its own IoU
is undefined (NaN in ``per_class_iou``) and it counts as 0 in ``miou``, so ``miou``
always divides by C and stays finite for checkpoint monitoring (the paper's classes
always occur, so its numbers are the same either way). The mean over the classes
that do occur is reported as ``miou_present``. Labelled pixels without a prediction
(a map's nodata or ignored codes, :mod:`torchgeo_lsr.evaluate`) count as errors.
Micro- and macro-F1 (:func:`f1_scores`) are likewise computed from pooled counts.

Confusion matrices are ``(C, C)`` int64 counts with rows = true class and columns =
predicted class. :class:`ConfusionMatrix` accumulates them as a torchmetrics metric,
so they are summed over batches and over processes under DDP.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = (
    'ConfusionMatrix',
    'accuracy',
    'confusion_matrix',
    'f1_scores',
    'format_scores_table',
    'segmentation_scores',
)


def confusion_matrix(
    prediction: Tensor | np.ndarray,
    target: Tensor | np.ndarray,
    num_classes: int,
    ignore_index: int | None = None,
) -> Tensor:
    """Count (true class, predicted class) pairs.

    Args:
        prediction: predicted class indices, any shape.
        target: true class indices, the same shape.
        num_classes: number of classes C.
        ignore_index: label value that is not counted (None: every label counts).

    Returns:
        (C, C) int64 counts, rows = true class, columns = predicted class.

    Raises:
        ValueError: If the shapes differ, or a counted label or a prediction is
            outside ``[0, C)``.
    """
    prediction = torch.as_tensor(prediction)
    target = torch.as_tensor(target, device=prediction.device)
    if prediction.shape != target.shape:
        raise ValueError(
            f'prediction shape {tuple(prediction.shape)} differs from target shape '
            f'{tuple(target.shape)}'
        )
    prediction = prediction.reshape(-1).long()
    target = target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        prediction, target = prediction[keep], target[keep]
    for name, values in (('label', target), ('prediction', prediction)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            bad = torch.unique(values[(values < 0) | (values >= num_classes)])[:5]
            raise ValueError(
                f'{name} values {bad.tolist()} are outside the {num_classes} classes '
                f'[0, {num_classes})'
                + (
                    f' and not the ignore index {ignore_index}'
                    if name == 'label'
                    else ''
                )
            )
    counts = torch.bincount(
        target * num_classes + prediction, minlength=num_classes * num_classes
    )
    return counts.reshape(num_classes, num_classes)


def _counts(confusion: Tensor | np.ndarray) -> Tensor:
    """A confusion matrix as float64 counts on the CPU, checked to be square.

    Args:
        confusion: (C, C) counts, rows = true class, columns = predicted class.

    Returns:
        The counts.

    Raises:
        ValueError: If the matrix is not square.
    """
    # To the CPU first: MPS has no float64, so .double() there would fail.
    counts = torch.as_tensor(confusion).cpu().double()
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f'a confusion matrix is square, got {tuple(counts.shape)}')
    return counts


def accuracy(confusion: Tensor | np.ndarray) -> float:
    """The fraction of counted samples whose prediction is their true class.

    Args:
        confusion: (C, C) counts, rows = true class, columns = predicted class.

    Returns:
        The accuracy in [0, 1] (NaN without samples).

    Raises:
        ValueError: If the matrix is not square.
    """
    counts = _counts(confusion)
    total = float(counts.sum())
    return float(counts.diagonal().sum()) / total if total else math.nan


def f1_scores(confusion: Tensor | np.ndarray) -> dict[str, float]:
    """Accuracy, micro-F1 and macro-F1 of a confusion matrix.

    Macro-F1 averages the per-class F1 over the classes that occur among the
    labels or the predictions (as scikit-learn's ``f1_score(average='macro')``);
    for one label per sample, micro-F1 equals accuracy. Given counts pooled over
    batches and processes (:class:`ConfusionMatrix`), these are the scores of all
    samples at once, not means of per-batch or per-process scores.

    Args:
        confusion: (C, C) counts, rows = true class, columns = predicted class.

    Returns:
        ``accuracy``, ``micro_f1`` and ``macro_f1`` (NaN without samples).

    Raises:
        ValueError: If the matrix is not square.
    """
    counts = _counts(confusion)
    if not float(counts.sum()):
        nan = math.nan
        return {'accuracy': nan, 'micro_f1': nan, 'macro_f1': nan}
    hits = counts.diagonal()
    true, predicted = counts.sum(1), counts.sum(0)
    present = (true + predicted) > 0
    f1 = 2 * hits[present] / (true[present] + predicted[present])
    share = accuracy(counts)
    return {'accuracy': share, 'micro_f1': share, 'macro_f1': float(f1.mean())}


def segmentation_scores(
    confusion: Tensor | np.ndarray,
    names: Sequence[str] | None = None,
    unpredicted: Tensor | np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, class-mean IoU and per-class IoU from a confusion matrix.

    Args:
        confusion: (C, C) counts, rows = true class, columns = predicted class.
        names: class names (default ``class_0``, ``class_1``, ...).
        unpredicted: (C,) counts of labelled pixels of each true class that have
            no prediction (e.g. the map's nodata); they count as errors: in the
            accuracy's denominator and in the union of their true class.

    Returns:
        A dict with ``'accuracy'``, ``'miou'``, ``'miou_present'``,
        ``'per_class_iou'`` (``{name: iou}``) and ``'pixels'`` (plus
        ``'unpredicted'``, their number, when given), scores as fractions in
        [0, 1]. ``miou`` is the mean over all C
        classes (REFERENCE §2.9), a class with union 0 (in neither labels nor
        predictions) counting as 0; ``miou_present`` is the mean over the
        classes with a union. The IoU of a class with union 0 is NaN; with no
        counted pixel, accuracy and both means are NaN.

    Raises:
        ValueError: If the matrix is not square, the names do not match it, or
            ``unpredicted`` is not one non-negative count per class.
    """
    counts = _counts(confusion)
    num_classes = counts.shape[0]
    names = (
        list(names) if names is not None else [f'class_{i}' for i in range(num_classes)]
    )
    if len(names) != num_classes:
        raise ValueError(f'{len(names)} class names for {num_classes} classes')
    missed = torch.zeros(num_classes, dtype=torch.float64)
    if unpredicted is not None:
        missed = torch.as_tensor(unpredicted).cpu().double().reshape(-1)
        if missed.numel() != num_classes or bool((missed < 0).any()):
            raise ValueError(
                f'unpredicted needs one non-negative count per class ({num_classes}),'
                f' got {missed.tolist()}'
            )
    total = float(counts.sum() + missed.sum())
    intersection = counts.diagonal()
    union = counts.sum(0) + counts.sum(1) + missed - intersection
    present = union > 0
    iou = torch.where(present, intersection / union.clamp_min(1), math.nan)
    nan = math.nan
    scores: dict[str, Any] = {
        'accuracy': float(intersection.sum()) / total if total else nan,
        'miou': float(iou.nan_to_num(0.0).mean()) if total else nan,
        'miou_present': float(iou[present].mean()) if present.any() else nan,
        'per_class_iou': {n: float(v) for n, v in zip(names, iou, strict=True)},
        'pixels': int(total),
    }
    if unpredicted is not None:
        scores['unpredicted'] = int(missed.sum())
    return scores


class ConfusionMatrix(Metric):
    """Accumulated confusion matrix (summed over batches and DDP processes).

    Under DDP, :meth:`compute` sums the counts of all processes, so every
    process must call it.
    """

    full_state_update = False
    confusion: Tensor

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        """Initialise the metric.

        Args:
            num_classes: number of classes C.
            ignore_index: label value that is not counted.
        """
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state(
            'confusion',
            default=torch.zeros(num_classes, num_classes, dtype=torch.long),
            dist_reduce_fx='sum',
        )

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Count a batch.

        Args:
            prediction: predicted class indices.
            target: true class indices (the ignore index is not counted).
        """
        counts = confusion_matrix(
            prediction, target, self.num_classes, self.ignore_index
        )
        # Not in place: a reset under inference mode (Lightning's validate and
        # test) leaves an inference tensor, which a later update outside it (the
        # validation of fit runs under no_grad only) may not modify in place.
        self.confusion = self.confusion + counts.to(self.confusion.device)

    def compute(self) -> Tensor:
        """The accumulated (C, C) counts."""
        return self.confusion


def format_scores_table(
    rows: Mapping[str, Mapping[str, Any]], names: Sequence[str] | None = None
) -> str:
    """A plain-text table of scores: one row per method, per-class IoU columns.

    Args:
        rows: scores (as from :func:`segmentation_scores`) by row label.
        names: classes to show (default: those of the first row).

    Returns:
        The table, values in percent.
    """
    if not rows:
        return ''
    first = next(iter(rows.values()))
    names = list(names or first['per_class_iou'])
    width = max(len(label) for label in rows) + 2
    header = f'{"":{width}s}{"acc %":>8s}{"mIoU %":>8s}' + ''.join(
        f'{name[:10]:>11s}' for name in names
    )
    lines = [header, '-' * len(header)]

    def percent(value: float) -> str:
        return '-' if value is None or math.isnan(value) else f'{100 * value:.1f}'

    for label, scores in rows.items():
        per_class = scores.get('per_class_iou', {})
        lines.append(
            f'{label:{width}s}{percent(scores["accuracy"]):>8s}'
            f'{percent(scores["miou"]):>8s}'
            + ''.join(f'{percent(per_class.get(n, math.nan)):>11s}' for n in names)
        )
    return '\n'.join(lines)

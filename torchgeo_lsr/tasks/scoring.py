"""Scores of the segmentation task: q, r and the prior's argmax against the labels.

:class:`OutputConfusions` accumulates one confusion matrix per split and output
(summed over processes under DDP by torchmetrics), :func:`metric_values` names
the scores the task logs and :func:`scored_results` is the task's
:attr:`~torchgeo_lsr.tasks.LSRSegmentation.test_results` (what ``torchgeo-lsr
test --results`` writes). :class:`OutputConsistency` accumulates the label-free
:class:`~torchgeo_lsr.label_free.CoarseConsistency` of each split and output, which
needs no label, and :func:`consistency_warning` says when a model's map agrees
less with its prior's fractions than the prior's own argmax.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from torch import Tensor, nn

from ..label_free import CoarseConsistency
from ..metrics import ConfusionMatrix, segmentation_scores

__all__ = (
    'OUTPUTS',
    'SPLITS',
    'OutputConfusions',
    'OutputConsistency',
    'consistency_warning',
    'metric_values',
    'scored_results',
)

#: Scored outputs: the network, the implied posterior, the prior's argmax.
OUTPUTS = ('q', 'r', 'prior')

#: Scored splits.
SPLITS = ('val', 'test')


class OutputConfusions(nn.ModuleDict):
    """A confusion matrix per split and output, named ``'<split>_<output>'``."""

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        """Start every count at zero.

        Args:
            num_classes: classes C.
            ignore_index: label value that is not counted.
        """
        super().__init__(
            {
                f'{split}_{output}': ConfusionMatrix(num_classes, ignore_index)
                for split in SPLITS
                for output in OUTPUTS
            }
        )

    def matrix(self, split: str, output: str) -> ConfusionMatrix:
        """The confusion matrix of a split and output.

        Args:
            split: ``'val'`` or ``'test'``.
            output: ``'q'``, ``'r'`` or ``'prior'``.

        Returns:
            The metric.
        """
        return cast(ConfusionMatrix, self[f'{split}_{output}'])

    def count(
        self, split: str, target: Tensor, predictions: Mapping[str, Tensor]
    ) -> None:
        """Count a batch's predictions.

        Args:
            split: ``'val'`` or ``'test'``.
            target: (B, H, W) labels (ignore index where not scored).
            predictions: (B, H, W) predicted classes by output.
        """
        for output, predicted in predictions.items():
            self.matrix(split, output).update(predicted, target)

    def scores(self, split: str, output: str, names: Sequence[str]) -> dict[str, Any]:
        """Scores of the counts so far, which start again from zero.

        Args:
            split: ``'val'`` or ``'test'``.
            output: ``'q'``, ``'r'`` or ``'prior'``.
            names: class names.

        Returns:
            The scores of :func:`~torchgeo_lsr.metrics.segmentation_scores`.
        """
        metric = self.matrix(split, output)
        scores = segmentation_scores(metric.compute(), names)
        metric.reset()
        return scores


class OutputConsistency(nn.ModuleDict):
    """A label-free consistency score per split and output, ``'<split>_<output>'``."""

    def __init__(self, num_classes: int) -> None:
        """Start every count at zero.

        Args:
            num_classes: classes C.
        """
        super().__init__(
            {
                f'{split}_{output}': CoarseConsistency(num_classes)
                for split in SPLITS
                for output in OUTPUTS
            }
        )

    def count(
        self,
        split: str,
        prior: Tensor,
        valid: Tensor,
        predictions: Mapping[str, Tensor],
    ) -> None:
        """Count a batch's predictions against its prior.

        Args:
            split: ``'val'`` or ``'test'``.
            prior: (B, C, H, W) prior.
            valid: (B, H, W) pixels with data.
            predictions: (B, H, W) predicted classes by output.
        """
        for output, predicted in predictions.items():
            cast(CoarseConsistency, self[f'{split}_{output}']).update(
                prior, predicted, valid
            )

    def scores(self, split: str) -> dict[str, float]:
        """Each output's score so far; the counts start again from zero.

        Args:
            split: ``'val'`` or ``'test'``.

        Returns:
            ``{output: score}`` (NaN without pixels).
        """
        found = {}
        for output in OUTPUTS:
            metric = cast(CoarseConsistency, self[f'{split}_{output}'])
            found[output] = (
                float(metric.compute()) if metric.update_called else math.nan
            )
            metric.reset()
        return found


def consistency_warning(scores: Mapping[str, float]) -> str | None:
    """A warning when the map of r agrees less with the prior than its argmax.

    Args:
        scores: label-free scores by output (``'r'``, ``'prior'``).

    Returns:
        The warning, or None.
    """
    r, prior = scores.get('r', math.nan), scores.get('prior', math.nan)
    if math.isnan(r) or math.isnan(prior) or r >= prior:
        return None
    return (
        f'the label-free coarse consistency of r ({r:.3f}) is below the prior '
        f"argmax's ({prior:.3f}): the model's map may be worse than its prior; check "
        'the co-occurrence matrix, the imagery bands and the training length'
    )


def metric_values(
    split: str, output: str, scores: Mapping[str, Any]
) -> dict[str, float]:
    """The logged metrics of a split's output: accuracy, mIoU, per-class IoU.

    Args:
        split: ``'val'`` or ``'test'``.
        output: ``'q'``, ``'r'`` or ``'prior'``.
        scores: from :func:`~torchgeo_lsr.metrics.segmentation_scores`.

    Returns:
        ``{'<split>_<output>_accuracy': ..., '..._miou': ..., '..._iou_<class>':
        ...}`` (classes without an IoU left out); empty without labelled pixels.
    """
    if not scores['pixels']:
        return {}
    values = {
        f'{split}_{output}_accuracy': scores['accuracy'],
        f'{split}_{output}_miou': scores['miou'],
    }
    for name, iou in scores['per_class_iou'].items():
        if not math.isnan(iou):
            values[f'{split}_{output}_iou_{name}'] = iou
    return values


def scored_results(
    method: str, loss: str, scores: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The test results of a run, as tables and the results JSON show them.

    Args:
        method: the task's method.
        loss: its loss (kept for ``'lsr'`` only).
        scores: scores by output (``'q'``, ``'r'``, ``'prior'``).

    Returns:
        ``method``, ``loss`` (LSR), ``q``, ``r``, ``prior_argmax`` and, for
        ``'hard_naive'``, ``hard_naive`` (its q).
    """
    results: dict[str, Any] = {'method': method}
    if method == 'lsr':
        results['loss'] = loss
    results['q'] = scores['q']
    results['r'] = scores['r']
    results['prior_argmax'] = scores['prior']
    if method == 'hard_naive':
        results['hard_naive'] = results['q']
    return results

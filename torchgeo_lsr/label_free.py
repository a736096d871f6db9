"""A label-free check of a map: does it agree with the coarse labels it came from?

Users of label super-resolution have no high-resolution labels to score a map on.
What they do have is the prior: built from the coarse labels and a co-occurrence
matrix, it says, for pixels of a given kind, which *fractions* of classes to
expect. Pixels whose prior is "70 % trees, 20 % grass, 10 % impervious" should be
about 70 % trees in a good map, not 100 % (the prior's argmax over-paints the
majority class) and not 30 % (a model that drifted).

:class:`CoarseConsistency` groups pixels by what their prior says (its argmax class
and how confident it is, in :data:`CONFIDENCE_BINS`), compares the class fractions
of a map inside each group with the group's mean prior, and reports

    consistency = 1 - sum_g (n_g / N) * TV(map fractions_g, mean prior_g)

(TV: total-variation distance, half the L1 distance). 1 means the map reproduces
the prior's fractions in every group; the prior's own argmax scores lower wherever
the prior is uncertain. It needs no label, works for priors built on the fly or
read from rasters, and is computed for q, r and the prior argmax in validation and
testing (see :class:`~torchgeo_lsr.tasks.LSRSegmentation`). How well it ranks runs
as the label-based mIoU does is measured per scene by ``benchmarks/bench_suite.py``
(Spearman's rho, in the docs): it is a sanity signal, not a replacement for labels.
"""

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ('CONFIDENCE_BINS', 'CoarseConsistency', 'coarse_consistency')

#: Upper bounds of the prior-confidence bins (the prior's largest probability).
CONFIDENCE_BINS = (0.5, 0.7, 0.9)


def _groups(prior: Tensor, bins: Tensor) -> Tensor:
    """Group of each pixel: its prior's argmax class and confidence bin.

    Args:
        prior: (N, C) prior probabilities.
        bins: upper bounds of the confidence bins.

    Returns:
        (N,) group indices in ``[0, C * (len(bins) + 1))``.
    """
    confidence, top = prior.max(1)
    level = torch.bucketize(confidence.contiguous(), bins)
    return top * (len(bins) + 1) + level


def coarse_consistency(predicted: Tensor, expected: Tensor) -> float:
    """The consistency score of accumulated group fractions.

    Args:
        predicted: (G, C) counts of the map's classes per group.
        expected: (G, C) sums of the prior per group.

    Returns:
        The score in [0, 1] (NaN without pixels).
    """
    sizes = predicted.sum(1)
    total = sizes.sum()
    if total <= 0:
        return float('nan')
    keep = sizes > 0
    map_fractions = predicted[keep] / sizes[keep, None]
    prior_fractions = expected[keep] / expected[keep].sum(1, keepdim=True).clamp_min(
        1e-12
    )
    distance = 0.5 * (map_fractions - prior_fractions).abs().sum(1)
    return float(1 - (sizes[keep] / total * distance).sum())


class CoarseConsistency(Metric):
    """Accumulates the label-free :func:`coarse_consistency` of a map.

    Counts are kept in float64 on the metric's device; nothing leaves the device
    until :meth:`compute`.
    """

    full_state_update = False
    bins: Tensor
    predicted: Tensor
    expected: Tensor

    def __init__(
        self, num_classes: int, bins: tuple[float, ...] = CONFIDENCE_BINS
    ) -> None:
        """Initialise the metric.

        Args:
            num_classes: classes of the prior and the map.
            bins: upper bounds of the prior-confidence bins.
        """
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer('bins', torch.tensor(bins), persistent=False)
        groups = num_classes * (len(bins) + 1)
        zeros = torch.zeros(groups, num_classes, dtype=torch.float64)
        self.add_state('predicted', default=zeros.clone(), dist_reduce_fx='sum')
        self.add_state('expected', default=zeros.clone(), dist_reduce_fx='sum')

    def update(self, prior: Tensor, prediction: Tensor, valid: Tensor) -> None:
        """Add a batch.

        Args:
            prior: (B, C, H, W) prior probabilities.
            prediction: (B, H, W) predicted class indices.
            valid: (B, H, W) pixels to count.
        """
        classes = self.num_classes
        flat_prior = prior.movedim(1, -1)[valid].float()
        flat_prediction = prediction[valid]
        groups = _groups(flat_prior, self.bins.to(flat_prior.dtype))
        size = self.predicted.shape[0] * classes
        counts = torch.bincount(groups * classes + flat_prediction, minlength=size)
        self.predicted += counts.view(-1, classes).to(self.predicted.dtype)
        self.expected.index_add_(0, groups, flat_prior.to(self.expected.dtype))

    def compute(self) -> Tensor:
        """The score.

        Returns:
            A 0-d tensor (NaN without pixels).
        """
        return torch.tensor(
            coarse_consistency(self.predicted.cpu(), self.expected.cpu())
        )

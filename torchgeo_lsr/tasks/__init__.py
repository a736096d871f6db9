"""Lightning tasks: segmentation from priors (and its baselines)."""

from .segmentation import LossName, LSRSegmentation, Method, PosteriorTotals

__all__ = ('LSRSegmentation', 'LossName', 'Method', 'PosteriorTotals')

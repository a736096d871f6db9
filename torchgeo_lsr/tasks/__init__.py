"""Lightning tasks: segmentation from priors (and its baselines), prior learning."""

from .prior_learning import PriorLearning
from .segmentation import LossName, LSRSegmentation, Method, PosteriorTotals

__all__ = ('LSRSegmentation', 'LossName', 'Method', 'PosteriorTotals', 'PriorLearning')

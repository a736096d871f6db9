"""Lightning data modules: batches of (image, prior) for learning from priors."""

from .lsr import LSRDataModule, LSRSampleTransform, MarginDataset

__all__ = ('LSRDataModule', 'LSRSampleTransform', 'MarginDataset')

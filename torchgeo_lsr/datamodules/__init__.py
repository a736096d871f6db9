"""Lightning data modules: batches of (image, prior) for learning from priors."""

from .lsr import (
    LSRDataModule,
    LSRSampleTransform,
    MarginDataset,
    Region,
    region_geometry,
)

__all__ = (
    'LSRDataModule',
    'LSRSampleTransform',
    'MarginDataset',
    'Region',
    'region_geometry',
)

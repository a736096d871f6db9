"""Networks: segmentation models (via TorchGeo) with the paper's output smoothing."""

from .pixel_mlp import PixelMLP
from .prior_net import PRIOR_NET_RECEPTIVE_FIELD, PriorNet
from .segmentation import (
    ModelName,
    SmoothedLogSoftmax,
    build_segmentation_model,
    receptive_field,
    size_multiple,
)

__all__ = (
    'PRIOR_NET_RECEPTIVE_FIELD',
    'ModelName',
    'PixelMLP',
    'PriorNet',
    'SmoothedLogSoftmax',
    'build_segmentation_model',
    'receptive_field',
    'size_multiple',
)

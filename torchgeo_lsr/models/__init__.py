"""Networks: segmentation models (via TorchGeo) with the paper's output smoothing."""

from .segmentation import (
    ModelName,
    SmoothedLogSoftmax,
    build_segmentation_model,
    receptive_field,
    size_multiple,
)

__all__ = (
    'ModelName',
    'SmoothedLogSoftmax',
    'build_segmentation_model',
    'receptive_field',
    'size_multiple',
)

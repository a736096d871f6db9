"""Prior generation: co-occurrence remapping, Gaussian blur and auxiliary fusion.

The prior ``p_i(l)`` is the only supervision a model gets. :class:`PriorBuilder`
turns coarse labels (NLCD or any user scheme) into per-pixel priors; the same builder
serves arrays, TorchGeo samples (:class:`PriorTransform`) and whole rasters
(:func:`write_prior`, ``torchgeo-lsr prior``).
"""

from .blur import correlate_valid, gaussian_blur, gaussian_kernel1d
from .builder import PriorBuilder
from .cooccurrence import (
    BUNDLED_COOCCURRENCES,
    Cooccurrence,
    count_cooccurrence,
    estimate_cooccurrence,
    load_cooccurrence,
)
from .fusion import (
    BUNDLED_RULES,
    FusionRule,
    LayerInput,
    RasterisationOptions,
    RuleSet,
    apply_rules,
    box_mean,
    dilate,
    load_rules,
    rule_evidence,
)
from .layers import LayerSource, open_layer
from .raster import write_prior
from .separable import axis_weights, compress_blocks, priors_from_weights
from .transforms import PriorTransform

__all__ = (
    'BUNDLED_COOCCURRENCES',
    'BUNDLED_RULES',
    'Cooccurrence',
    'FusionRule',
    'LayerInput',
    'LayerSource',
    'PriorBuilder',
    'PriorTransform',
    'RasterisationOptions',
    'RuleSet',
    'apply_rules',
    'axis_weights',
    'box_mean',
    'compress_blocks',
    'correlate_valid',
    'count_cooccurrence',
    'dilate',
    'estimate_cooccurrence',
    'gaussian_blur',
    'gaussian_kernel1d',
    'load_cooccurrence',
    'load_rules',
    'open_layer',
    'priors_from_weights',
    'rule_evidence',
    'write_prior',
)

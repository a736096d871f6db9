"""Prior generation: co-occurrence remapping, Gaussian blur and auxiliary fusion.

The prior ``p_i(l)`` is the only supervision a model gets. :class:`PriorBuilder`
turns coarse labels (NLCD or any user scheme) into per-pixel priors; the same builder
serves arrays, TorchGeo samples (:class:`PriorTransform`) and whole rasters
(:func:`write_prior`, ``torchgeo-lsr prior``).
"""

from typing import TYPE_CHECKING

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
)
from .layers import LayerSource, open_layer
from .raster import write_prior

if TYPE_CHECKING:
    from .transforms import PriorTransform


def __getattr__(name: str) -> object:
    """Import :class:`PriorTransform` (and with it torch) only when asked for.

    The raster tools stay light: ``torchgeo-lsr prior`` never loads torch.
    """
    if name == 'PriorTransform':
        from .transforms import PriorTransform

        return PriorTransform
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


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
    'box_mean',
    'correlate_valid',
    'count_cooccurrence',
    'dilate',
    'estimate_cooccurrence',
    'gaussian_blur',
    'gaussian_kernel1d',
    'load_cooccurrence',
    'load_rules',
    'open_layer',
    'write_prior',
)

"""Tests of the paper's layer definitions."""

from torchgeo_lsr.datasets.layer_options import LAYER_OPTIONS, OSM_LAYERS
from torchgeo_lsr.priors.fusion import RasterisationOptions


def test_layer_options_are_the_papers() -> None:
    assert LAYER_OPTIONS['roads'] == RasterisationOptions(all_touched=False, widen=3)
    assert LAYER_OPTIONS['waterways'] == RasterisationOptions(all_touched=True)
    assert LAYER_OPTIONS['waterbodies'] == RasterisationOptions(all_touched=False)
    assert LAYER_OPTIONS['buildings'] == RasterisationOptions(all_touched=False)
    assert set(OSM_LAYERS) == set(LAYER_OPTIONS)

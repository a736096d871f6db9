import pytest
import torch

from torchgeo_lsr.models import PixelMLP, build_segmentation_model, receptive_field


def test_pixel_mlp_sees_one_pixel() -> None:
    model = build_segmentation_model('pixel_mlp', 3, 4, num_filters=8).double()
    assert isinstance(model, PixelMLP)
    assert receptive_field('pixel_mlp') == 1
    x = torch.rand(1, 3, 9, 9, dtype=torch.double, requires_grad=True)
    out = model(x)
    assert out.shape == (1, 4, 9, 9)
    out[0, 0, 4, 4].backward()
    assert x.grad is not None
    touched = (x.grad[0].abs().sum(0) > 0).nonzero().tolist()
    assert touched == [[4, 4]]


def test_pixel_mlp_refuses_weights_and_empty_sizes() -> None:
    with pytest.raises(ValueError, match='no pretrained weights'):
        build_segmentation_model('pixel_mlp', 3, 4, weights=True)
    with pytest.raises(ValueError, match='must be >= 1'):
        PixelMLP(3, 4, 0)

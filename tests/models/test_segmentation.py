import math

import pytest
import torch
from torchgeo.models import FCN

from torchgeo_lsr.models import (
    SmoothedLogSoftmax,
    build_segmentation_model,
    receptive_field,
)


def test_fcn_is_the_papers() -> None:
    model = build_segmentation_model('fcn', 4, 5, num_filters=128)
    assert isinstance(model, FCN)
    # REFERENCE §2.6: 595,717 parameters for 4 -> 5 classes, 601,477 for 9 -> 5.
    assert sum(p.numel() for p in model.parameters()) == 595_717
    model = build_segmentation_model('fcn', 9, 5, num_filters=128)
    assert sum(p.numel() for p in model.parameters()) == 601_477
    assert receptive_field('fcn') == 11


def test_fcn_receptive_field_is_eleven_pixels() -> None:
    model = build_segmentation_model('fcn', 1, 2, num_filters=4).double()
    x = torch.zeros(1, 1, 31, 31, dtype=torch.double, requires_grad=True)
    model(x)[0, 0, 15, 15].backward()
    assert x.grad is not None
    touched = x.grad[0, 0].abs() > 0
    rows = touched.any(1).nonzero().flatten()
    assert (int(rows.min()), int(rows.max())) == (10, 20)


def test_other_models_come_from_torchgeo() -> None:
    model = build_segmentation_model('unet', 3, 4, backbone='resnet18')
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 4, 64, 64)
    assert receptive_field('unet') is None
    with pytest.raises(ValueError, match='no pretrained weights'):
        build_segmentation_model('fcn', 3, 4, weights=True)


def test_smoothing_is_the_papers() -> None:
    network = build_segmentation_model('fcn', 4, 5, num_filters=8)
    x = torch.rand(2, 4, 16, 16)
    eps = 1e-4
    smoothed = SmoothedLogSoftmax(network, eps)(x)
    expected = (network(x).softmax(1) + eps) / (1 + 5 * eps)
    torch.testing.assert_close(smoothed.exp(), expected)
    assert smoothed.exp().min() >= eps / (1 + 5 * eps) * (1 - 1e-5)
    plain = SmoothedLogSoftmax(network, 0.0)(x)
    torch.testing.assert_close(plain, network(x).log_softmax(1))
    with pytest.raises(ValueError, match='>= 0'):
        SmoothedLogSoftmax(network, -1.0)


def test_smoothing_keeps_extreme_logits_finite() -> None:
    network = torch.nn.Conv2d(1, 3, 1)
    with torch.no_grad():
        network.weight.zero_()
        network.bias.zero_()
        network.weight[0] = 1e4
    out = SmoothedLogSoftmax(network, 1e-4)(torch.ones(1, 1, 2, 2))
    assert torch.isfinite(out).all()
    assert out.exp().sum(1).sub(1).abs().max() < 1e-5
    assert float(out.detach().min()) == pytest.approx(math.log(1e-4 / 1.0003), rel=1e-4)


def test_encoder_decoders_take_any_size() -> None:
    from torchgeo_lsr.models import size_multiple

    network = build_segmentation_model('unet', 3, 4, backbone='resnet18')
    wrapped = SmoothedLogSoftmax(network, multiple=size_multiple('unet'))
    assert wrapped(torch.rand(1, 3, 70, 45)).shape == (1, 4, 70, 45)
    assert size_multiple('fcn') == 1


def test_standardised_zero_bands_stay_zero() -> None:
    network = torch.nn.Conv2d(2, 3, 1)
    wrapped = SmoothedLogSoftmax(network)
    wrapped.set_input_statistics(torch.tensor([0.5, 0.2]), torch.tensor([0.1, 0.2]))
    x = torch.rand(1, 2, 4, 4) + 0.1
    x[..., 0, 0] = 0
    out = wrapped(x)
    expected = network(torch.zeros(1, 2, 1, 1)).log_softmax(1)
    smoothed = ((expected.exp() + 1e-4) / (1 + 3e-4)).log()
    torch.testing.assert_close(out[..., :1, :1], smoothed)
    standard = (x[..., 1, 1] - torch.tensor([0.5, 0.2])) / torch.tensor([0.1, 0.2])
    raw = network.weight[:, :, 0, 0] @ standard[0] + network.bias
    torch.testing.assert_close(
        out[0, :, 1, 1], ((raw.softmax(0) + 1e-4) / (1 + 3e-4)).log()
    )
    with pytest.raises(ValueError, match='positive'):
        wrapped.set_input_statistics(torch.zeros(2), torch.zeros(2))

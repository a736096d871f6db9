import torch

from torchgeo_lsr.models import (
    PRIOR_NET_RECEPTIVE_FIELD,
    PriorNet,
    build_segmentation_model,
    receptive_field,
    size_multiple,
)


def test_paper_architecture() -> None:
    network = PriorNet(9, 5, 128)
    convolutions = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convolutions] == [11, 7, 5, 1]
    # REFERENCE §2.5: about 1.35 M parameters.
    parameters = sum(p.numel() for p in network.parameters())
    assert 1.3e6 < parameters < 1.4e6
    # No activation after the third convolution.
    layers = list(network.layers)
    assert isinstance(layers[4], torch.nn.Conv2d)
    assert isinstance(layers[5], torch.nn.Conv2d)


def test_receptive_field_is_21_pixels() -> None:
    torch.manual_seed(0)
    network = PriorNet(2, 3, 4)
    x = torch.zeros(1, 2, 41, 41, requires_grad=True)
    network(x)[0, :, 20, 20].sum().backward()
    assert x.grad is not None
    touched = (x.grad.abs().sum((0, 1)) > 0).nonzero()
    side = int(touched[:, 0].max() - touched[:, 0].min() + 1)
    assert side == PRIOR_NET_RECEPTIVE_FIELD == receptive_field('prior_net') == 21
    assert size_multiple('prior_net') == 1


def test_built_by_name() -> None:
    network = build_segmentation_model('prior_net', 9, 5, num_filters=8)
    assert isinstance(network, PriorNet)
    assert network(torch.zeros(2, 9, 16, 16)).shape == (2, 5, 16, 16)

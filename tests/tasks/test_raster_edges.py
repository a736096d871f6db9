import math

import torch
from torch import nn

from torchgeo_lsr.tasks.raster_edges import forward_inside


def test_the_network_sees_only_the_inside() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)

    def network(x: torch.Tensor) -> torch.Tensor:
        return conv(x).log_softmax(1)

    x = torch.rand(2, 2, 8, 8)
    inside = torch.ones(2, 8, 8, dtype=torch.bool)
    inside[1, :, 5:] = False  # the raster ends at column 5
    with torch.no_grad():
        log_q = forward_inside(network, x, inside, 3)
        torch.testing.assert_close(log_q[0], network(x[:1])[0])
        # Padded at the raster's edge, as over the whole raster.
        torch.testing.assert_close(log_q[1, :, :, :5], network(x[1:, :, :, :5])[0])
        uniform = torch.full((3, 8, 3), -math.log(3))
        torch.testing.assert_close(log_q[1, :, :, 5:], uniform)
        everything = forward_inside(network, x, torch.ones_like(inside), 3)
        torch.testing.assert_close(everything, network(x))
        nothing = forward_inside(network, x, torch.zeros_like(inside), 3)
        torch.testing.assert_close(nothing, torch.full((2, 3, 8, 8), -math.log(3)))

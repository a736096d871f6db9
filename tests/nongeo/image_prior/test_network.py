"""The position-aware CNN of the image-prior task."""

import pytest
import torch

from torchgeo_lsr.nongeo.image_prior import ImagePriorSegmentation, PositionAwareCNN


def test_network_size_and_output() -> None:
    network = PositionAwareCNN()
    count = sum(p.numel() for p in network.parameters())
    # REFERENCE §4.4: ~39.6k parameters.
    assert count == 39_567
    assert abs(count - 39_600) / 39_600 < 0.05
    assert sum(p.numel() for p in network.fourier.parameters()) == 8  # no bias
    assert ImagePriorSegmentation().num_parameters == count
    log_q = network(torch.rand(2, 3, 20, 24), torch.rand(2, 2, 20, 24))
    assert log_q.shape == (2, 3, 20, 24)
    torch.testing.assert_close(log_q.exp().sum(1), torch.ones(2, 20, 24))
    assert PositionAwareCNN(num_classes=5)(
        torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 8)
    ).shape == (1, 5, 8, 8)
    with pytest.raises(ValueError, match='num_classes'):
        PositionAwareCNN(num_classes=1)


def test_receptive_field_is_11_pixels() -> None:
    torch.manual_seed(0)
    network = PositionAwareCNN().double().eval()  # eval: BatchNorm mixes no pixels
    size, centre = 31, 15
    reached = torch.zeros(size, size, dtype=torch.bool)
    for _ in range(3):
        image = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
        position = torch.rand(1, 2, size, size, dtype=torch.float64)
        network(image, position)[0, :, centre, centre].sum().backward()
        assert image.grad is not None
        reached |= image.grad[0].abs().sum(0) > 0
    rows, cols = reached.nonzero().T
    assert (int(rows.min()), int(rows.max())) == (centre - 5, centre + 5)
    assert (int(cols.min()), int(cols.max())) == (centre - 5, centre + 5)
    assert int(reached.sum()) == 11 * 11 == PositionAwareCNN.receptive_field**2

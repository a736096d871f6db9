"""The paper's small CNN of the partial-label and ranking experiments."""

import torch

from torchgeo_lsr.nongeo import SmallCNN


def test_small_cnn_has_the_papers_parameter_counts() -> None:
    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(SmallCNN(1, 10, 28)) == 33_194
    assert count(SmallCNN(3, 10, 32)) == 33_770
    assert SmallCNN(1, 10, 8)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)

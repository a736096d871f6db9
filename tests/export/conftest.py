import pytest
import torch

from torchgeo_lsr.tasks import LSRSegmentation


@pytest.fixture
def task() -> LSRSegmentation:
    torch.manual_seed(0)
    return LSRSegmentation(num_filters=6)

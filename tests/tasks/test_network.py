from typing import Any

import pytest
import torch

from torchgeo_lsr.tasks.network import adopt_input_statistics, build_network

HPARAMS: dict[str, Any] = {
    'method': 'lsr',
    'model': 'fcn',
    'backbone': 'resnet18',
    'in_channels': 4,
    'num_classes': 5,
    'num_filters': 8,
    'output_smoothing': None,
    'init_checkpoint': None,
}


def test_build_network() -> None:
    assert build_network({**HPARAMS, 'method': 'prior_argmax'}) is None
    model = build_network(HPARAMS)
    assert model is not None
    assert model.eps == 0.01
    aux = build_network({**HPARAMS, 'method': 'hr_aux', 'output_smoothing': 0.1})
    assert aux is not None
    assert aux.eps == 0.1
    assert next(aux.network.parameters()).shape[1] == 4 + 5


def test_input_statistics_are_adopted_once() -> None:
    model = build_network(HPARAMS)
    assert model is not None
    with pytest.raises(ValueError, match='image_statistics'):
        adopt_input_statistics(model, None)

    class Data:
        def image_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.zeros(4), torch.ones(4)

    adopt_input_statistics(model, Data())
    torch.testing.assert_close(model.input_std, torch.ones(4))
    adopt_input_statistics(model, None)  # known already: nothing asked

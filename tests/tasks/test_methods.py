import pytest
import torch

from torchgeo_lsr.tasks.methods import (
    METHODS,
    SUPERVISED,
    check_method,
    default_output_smoothing,
    hard_label_loss,
    hard_target,
    network_in_channels,
    network_input,
)


def test_methods_and_their_defaults() -> None:
    for method in METHODS:
        check_method(method)
    with pytest.raises(ValueError, match='unknown method'):
        check_method('magic')
    assert all(default_output_smoothing(m) == 1e-8 for m in SUPERVISED)
    assert default_output_smoothing('lsr') == 0.01
    assert network_in_channels('hr_aux', 4, 5) == 9
    assert network_in_channels('hr', 4, 5) == 4


def test_network_input_adds_the_prior_for_hr_aux() -> None:
    image, prior = torch.rand(1, 4, 3, 3), torch.rand(1, 5, 3, 3)
    assert network_input('hr', image, prior) is image
    torch.testing.assert_close(network_input('hr_aux', image, prior)[:, 4:], prior)


def test_hard_targets_and_their_loss() -> None:
    prior = torch.tensor([[0.1, 0.9], [0.8, 0.2]]).T.reshape(1, 2, 1, 2)
    valid = torch.tensor([[[True, False]]])
    outputs = {'prior': prior, 'valid': valid}
    assert hard_target('hard_naive', outputs, 2).tolist() == [[[1, 2]]]
    with pytest.raises(ValueError, match='label_paths and train_labels=True'):
        hard_target('hr', outputs, 2)
    labels = torch.tensor([[[0, 1]]])
    assert hard_target('hr_aux', {**outputs, 'target': labels}, 2) is labels
    log_q = torch.zeros(1, 2, 1, 2, requires_grad=True)
    loss = hard_label_loss(log_q, torch.full((1, 1, 2), 2), 2)
    assert loss.item() == 0
    loss.backward()  # no NaN, and a graph to step through
    assert log_q.grad is not None

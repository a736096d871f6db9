import math

import pytest
import torch

from torchgeo_lsr.label_free import CoarseConsistency, coarse_consistency
from torchgeo_lsr.tasks.scoring import OutputConsistency, consistency_warning


def _prior(pixels: int, fractions: list[float]) -> torch.Tensor:
    """(1, C, 1, pixels) prior with the same column at every pixel."""
    column = torch.tensor(fractions).view(1, -1, 1, 1)
    return column.expand(1, len(fractions), 1, pixels).clone()


def test_a_map_with_the_priors_fractions_scores_one() -> None:
    prior = _prior(10, [0.7, 0.2, 0.1])
    truth = torch.tensor([[[0] * 7 + [1] * 2 + [2]]])
    metric = CoarseConsistency(3)
    metric.update(prior, truth, torch.ones_like(truth, dtype=torch.bool))
    assert float(metric.compute()) == pytest.approx(1.0)


def test_the_priors_argmax_scores_below_a_faithful_map() -> None:
    prior = _prior(10, [0.7, 0.2, 0.1])
    valid = torch.ones(1, 1, 10, dtype=torch.bool)
    argmax = prior.argmax(1)
    faithful = torch.tensor([[[0] * 7 + [1] * 2 + [2]]])
    scores = {}
    for name, prediction in (('argmax', argmax), ('faithful', faithful)):
        metric = CoarseConsistency(3)
        metric.update(prior, prediction, valid)
        scores[name] = float(metric.compute())
    # The argmax paints all 10 pixels class 0: TV distance 0.3 from the prior.
    assert scores['argmax'] == pytest.approx(0.7)
    assert scores['faithful'] > scores['argmax']


def test_groups_are_weighted_by_their_pixels_and_invalid_pixels_ignored() -> None:
    # Two groups (confident class 0, confident class 1), one predicted wrongly.
    prior = torch.zeros(1, 2, 1, 4)
    prior[0, 0, 0, :3] = 1.0
    prior[0, 1, 0, 3] = 1.0
    prediction = torch.tensor([[[0, 0, 0, 0]]])
    valid = torch.ones(1, 1, 4, dtype=torch.bool)
    metric = CoarseConsistency(2)
    metric.update(prior, prediction, valid)
    assert float(metric.compute()) == pytest.approx(0.75)
    metric.reset()
    valid[0, 0, 3] = False
    metric.update(prior, prediction, valid)
    assert float(metric.compute()) == pytest.approx(1.0)


def test_batches_accumulate_and_no_pixels_give_nan() -> None:
    metric = CoarseConsistency(2)
    prior = _prior(4, [0.5, 0.5])
    valid = torch.ones(1, 1, 4, dtype=torch.bool)
    metric.update(prior, torch.tensor([[[0, 0, 1, 1]]]), valid)
    metric.update(prior, torch.tensor([[[0, 0, 0, 0]]]), valid)
    assert float(metric.compute()) == pytest.approx(0.75)
    assert math.isnan(coarse_consistency(torch.zeros(3, 2), torch.zeros(3, 2)))


def test_task_outputs_and_the_warning() -> None:
    consistency = OutputConsistency(2)
    prior = _prior(4, [0.75, 0.25])
    valid = torch.ones(1, 1, 4, dtype=torch.bool)
    good = torch.tensor([[[0, 0, 0, 1]]])
    consistency.count(
        'test', prior, valid, {'q': good, 'r': good, 'prior': prior.argmax(1)}
    )
    scores = consistency.scores('test')
    assert scores['r'] == pytest.approx(1.0)
    assert scores['prior'] == pytest.approx(0.75)
    assert consistency_warning(scores) is None
    warning = consistency_warning({'r': 0.5, 'prior': 0.75})
    assert warning is not None
    assert 'below the prior' in warning
    assert consistency_warning({'r': math.nan, 'prior': 0.75}) is None
    # The counts start again after scores().
    assert math.isnan(consistency.scores('test')['r'])

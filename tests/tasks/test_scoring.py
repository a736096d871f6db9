import math

import torch

from torchgeo_lsr.tasks.scoring import (
    OUTPUTS,
    SPLITS,
    OutputConfusions,
    metric_values,
    scored_results,
)


def test_confusions_count_per_split_and_output() -> None:
    confusions = OutputConfusions(3, 3)
    assert set(confusions) == {f'{s}_{o}' for s in SPLITS for o in OUTPUTS}
    target = torch.tensor([[0, 1, 2, 3]])
    right = torch.tensor([[0, 1, 2, 0]])
    confusions.count('val', target, {'q': right, 'r': torch.zeros_like(right)})
    scores = confusions.scores('val', 'q', ['a', 'b', 'c'])
    assert scores['pixels'] == 3  # the ignore index is not counted
    assert scores['accuracy'] == 1
    # Scoring starts the counts again.
    assert confusions.scores('val', 'q', ['a', 'b', 'c'])['pixels'] == 0
    assert confusions.scores('val', 'r', ['a', 'b', 'c'])['accuracy'] == 1 / 3
    assert confusions.scores('test', 'q', ['a', 'b', 'c'])['pixels'] == 0


def test_metric_values_and_results() -> None:
    scores = {
        'pixels': 4,
        'accuracy': 0.5,
        'miou': 0.25,
        'per_class_iou': {'water': 0.5, 'trees': math.nan},
    }
    assert metric_values('test', 'r', scores) == {
        'test_r_accuracy': 0.5,
        'test_r_miou': 0.25,
        'test_r_iou_water': 0.5,
    }
    assert metric_values('val', 'q', {**scores, 'pixels': 0}) == {}
    by_output = {'q': {'x': 1}, 'r': {'x': 2}, 'prior': {'x': 3}}
    results = scored_results('lsr', 'qr', by_output)
    assert list(results) == ['method', 'loss', 'q', 'r', 'prior_argmax']
    assert results['prior_argmax'] == {'x': 3}
    naive = scored_results('hard_naive', 'qr', by_output)
    assert 'loss' not in naive
    assert naive['hard_naive'] == naive['q']

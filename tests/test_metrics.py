import json
import math

import numpy as np
import pytest
import torch

from torchgeo_lsr.metrics import (
    ConfusionMatrix,
    confusion_matrix,
    format_scores_table,
    segmentation_scores,
)


def test_confusion_matrix_counts_pairs_and_skips_ignored() -> None:
    target = torch.tensor([0, 0, 1, 1, 2, 3])
    prediction = torch.tensor([0, 1, 1, 1, 0, 2])
    counts = confusion_matrix(prediction, target, 3, ignore_index=3)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # numpy input, 2-D shapes
    counts = confusion_matrix(np.array([[0, 1], [1, 1]]), np.array([[0, 0], [1, 1]]), 2)
    assert counts.tolist() == [[1, 1], [0, 2]]


def test_scores_by_hand() -> None:
    counts = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    scores = segmentation_scores(counts, ['a', 'b', 'c'])
    assert scores['accuracy'] == pytest.approx(3 / 5)
    # IoU a = 1 / (2 + 2 - 1) = 1/3; b = 2 / (3 + 2 - 2) = 2/3; c = 0 / 1 = 0
    assert scores['per_class_iou'] == pytest.approx({'a': 1 / 3, 'b': 2 / 3, 'c': 0})
    assert scores['miou'] == pytest.approx(1 / 3)
    assert scores['pixels'] == 5


def test_absent_class_is_nan_and_left_out_of_the_mean() -> None:
    scores = segmentation_scores(torch.tensor([[3, 0], [0, 0]]), ['x', 'y'])
    assert math.isnan(scores['per_class_iou']['y'])
    assert scores['miou'] == 1
    empty = segmentation_scores(torch.zeros(2, 2, dtype=torch.long))
    assert math.isnan(empty['accuracy'])
    assert math.isnan(empty['miou'])


def test_iou_pools_tiles_as_the_paper() -> None:
    rng = np.random.default_rng(0)
    tiles = [(rng.integers(0, 4, 500), rng.integers(0, 4, 500)) for _ in range(3)]
    metric = ConfusionMatrix(4)
    for prediction, target in tiles:
        metric.update(torch.from_numpy(prediction), torch.from_numpy(target))
    pooled = segmentation_scores(metric.compute())
    prediction = np.concatenate([p for p, _ in tiles])
    target = np.concatenate([t for _, t in tiles])
    for c in range(4):
        inter = np.sum((prediction == c) & (target == c))
        union = np.sum((prediction == c) | (target == c))
        assert pooled['per_class_iou'][f'class_{c}'] == pytest.approx(inter / union)
    assert pooled['accuracy'] == pytest.approx(np.mean(prediction == target))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(torch.zeros(3), torch.zeros(4), 2)
    with pytest.raises(ValueError, match=r'label values \[5\] are outside'):
        confusion_matrix(torch.zeros(2), torch.tensor([0, 5]), 2, ignore_index=2)
    with pytest.raises(ValueError, match='prediction values'):
        confusion_matrix(torch.tensor([0, 7]), torch.zeros(2), 2)
    with pytest.raises(ValueError, match='square'):
        segmentation_scores(torch.zeros(2, 3))
    with pytest.raises(ValueError, match='3 class names for 2'):
        segmentation_scores(torch.zeros(2, 2), ['a', 'b', 'c'])


def test_table() -> None:
    scores = segmentation_scores(torch.tensor([[3, 1], [0, 0]]), ['water', 'trees'])
    table = format_scores_table({'QR (r)': scores, 'prior argmax': scores})
    lines = table.splitlines()
    assert 'water' in lines[0]
    assert 'trees' in lines[0]
    assert lines[2].startswith('QR (r)')
    assert '75.0' in lines[2]
    assert lines[2].rstrip().endswith('0.0')  # trees predicted once, never right
    only_water = segmentation_scores(torch.tensor([[4, 0], [0, 0]]), ['water', 'trees'])
    line = format_scores_table({'x': only_water}).splitlines()[2]
    assert line.rstrip().endswith('-')  # trees never occurs: no IoU
    json.dumps(scores)  # plain Python values

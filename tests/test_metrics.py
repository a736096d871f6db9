import json
import math

import numpy as np
import pytest
import torch

from torchgeo_lsr.metrics import (
    ConfusionMatrix,
    accuracy,
    confusion_matrix,
    f1_scores,
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


def test_absent_class_is_nan_and_counts_zero_in_the_fixed_class_mean() -> None:
    # Issue 16 changed this: ``miou`` was 1 (the mean over present classes only);
    # REFERENCE §2.9 averages the fixed class set, so the absent class counts 0
    # there, and the present-class mean is ``miou_present``.
    scores = segmentation_scores(torch.tensor([[3, 0], [0, 0]]), ['x', 'y'])
    assert math.isnan(scores['per_class_iou']['y'])
    assert scores['miou'] == 0.5
    assert scores['miou_present'] == 1
    empty = segmentation_scores(torch.zeros(2, 2, dtype=torch.long))
    assert math.isnan(empty['accuracy'])
    assert math.isnan(empty['miou'])
    assert math.isnan(empty['miou_present'])


def test_miou_is_the_mean_over_the_fixed_class_set_by_hand() -> None:
    """Guards issue 16 item 3: ``miou`` divides by all C classes (§2.9).

    The old code averaged only the classes with a union (1/4 here, not 3/16).
    """
    counts = torch.tensor([[2, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    scores = segmentation_scores(counts, ['a', 'b', 'c', 'd'])
    # a: I 2, U 3 + 3 - 2 = 4; b: I 1, U 2 + 3 - 1 = 4; c: never occurs (NaN);
    # d: labelled once, never predicted: I 0, U 1.
    assert scores['per_class_iou']['a'] == pytest.approx(2 / 4)
    assert scores['per_class_iou']['b'] == pytest.approx(1 / 4)
    assert math.isnan(scores['per_class_iou']['c'])
    assert scores['per_class_iou']['d'] == 0
    assert scores['miou'] == pytest.approx((2 / 4 + 1 / 4 + 0 + 0) / 4)
    assert scores['miou_present'] == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)
    assert scores['accuracy'] == pytest.approx(3 / 6)


def test_unpredicted_pixels_count_as_wrong() -> None:
    """Guards issue 16 item 7: labelled pixels without a prediction are errors."""
    counts = torch.tensor([[2, 0], [0, 1]])
    scores = segmentation_scores(counts, ['a', 'b'], unpredicted=np.array([1, 0]))
    assert scores['accuracy'] == pytest.approx(3 / 4)
    assert scores['pixels'] == 4
    assert scores['unpredicted'] == 1
    # a: I 2, U = 2 predicted + 3 labelled - 2 = 3; b untouched.
    assert scores['per_class_iou'] == pytest.approx({'a': 2 / 3, 'b': 1})
    assert 'unpredicted' not in segmentation_scores(counts)
    with pytest.raises(ValueError, match='one non-negative count per class'):
        segmentation_scores(counts, unpredicted=np.array([1, 0, 0]))
    with pytest.raises(ValueError, match='one non-negative count per class'):
        segmentation_scores(counts, unpredicted=np.array([-1, 0]))


class _MPSLike(torch.Tensor):
    """A tensor that fails like an Apple MPS tensor on ``.double()``."""

    def double(self, *args: object, **kwargs: object) -> torch.Tensor:  # type: ignore[override]
        raise TypeError('Cannot convert a MPS Tensor to float64 dtype')

    def cpu(self, *args: object, **kwargs: object) -> torch.Tensor:  # type: ignore[override]
        return self.as_subclass(torch.Tensor)


def test_scores_of_device_tensors_go_to_the_cpu_before_float64() -> None:
    """Guards issue 16 item 15: ``.double()`` before ``.cpu()`` fails on MPS."""
    confusion = torch.tensor([[3, 1], [0, 4]]).as_subclass(_MPSLike)
    with pytest.raises(TypeError, match='MPS'):
        confusion.double()  # the stand-in does fail like MPS
    assert accuracy(confusion) == pytest.approx(7 / 8)
    assert segmentation_scores(confusion)['accuracy'] == pytest.approx(7 / 8)
    assert f1_scores(confusion)['accuracy'] == pytest.approx(7 / 8)
    scores = segmentation_scores(
        torch.tensor([[3, 1], [0, 4]]),
        unpredicted=torch.tensor([1, 0]).as_subclass(_MPSLike),
    )
    assert scores['accuracy'] == pytest.approx(7 / 9)


def test_no_float64_conversion_before_moving_to_the_cpu() -> None:
    """Guards issue 16 item 15 in every file scoring: ``.double()`` only on ``.cpu()``."""
    import ast
    from pathlib import Path

    import torchgeo_lsr

    root = Path(torchgeo_lsr.__file__).parent
    for name in ('metrics.py', 'evaluate.py'):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ('double', 'float64')
            ):
                receiver = node.func.value
                on_cpu = (
                    isinstance(receiver, ast.Call)
                    and isinstance(receiver.func, ast.Attribute)
                    and receiver.func.attr in ('cpu', 'numpy')
                )
                assert on_cpu, f'{name}:{node.lineno}: .double() before .cpu()'


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
    # The class-mean IoU of the paper: the mean of the pooled IoUs of all classes.
    ious = [
        np.sum((prediction == c) & (target == c))
        / np.sum((prediction == c) | (target == c))
        for c in range(4)
    ]
    assert pooled['miou'] == pytest.approx(np.mean(ious))


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


def test_f1_scores_match_scikit_learn() -> None:
    from sklearn.metrics import f1_score  # optional dependency (the nongeo extra)

    generator = torch.Generator().manual_seed(0)
    true = torch.randint(0, 5, (200,), generator=generator)
    predicted = torch.where(
        torch.rand(200, generator=generator) < 0.6,
        true,
        torch.randint(0, 4, (200,), generator=generator),
    )
    confusion = torch.zeros(6, 6, dtype=torch.int64)
    confusion.index_put_((true, predicted), torch.ones(200, dtype=torch.int64), True)
    scores = f1_scores(confusion)
    assert scores['accuracy'] == pytest.approx(
        float((true == predicted).mean(dtype=torch.float64))
    )
    assert scores['micro_f1'] == pytest.approx(
        f1_score(true, predicted, average='micro')
    )
    assert scores['macro_f1'] == pytest.approx(
        f1_score(true, predicted, average='macro')
    )
    assert math.isnan(f1_scores(torch.zeros(3, 3))['macro_f1'])


@pytest.mark.parametrize('seed', range(5))
def test_pooled_f1_matches_scikit_learn_on_random_data(seed: int) -> None:
    from sklearn.metrics import f1_score  # optional dependency (the nongeo extra)

    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 8))
    # Batches of random sizes, some classes absent from labels or predictions.
    batches = []
    for _ in range(int(rng.integers(1, 6))):
        size = int(rng.integers(0, 60))
        true = rng.integers(0, max(1, classes - 1), size)
        predicted = np.where(
            rng.random(size) < 0.5, true, rng.integers(0, classes, size)
        )
        batches.append((predicted, true))
    metric = ConfusionMatrix(classes)
    for predicted, true in batches:
        metric.update(torch.from_numpy(predicted), torch.from_numpy(true))
    scores = f1_scores(metric.compute())
    predicted = np.concatenate([p for p, _ in batches])
    true = np.concatenate([t for _, t in batches])
    if not true.size:
        assert math.isnan(scores['macro_f1'])
        return
    assert scores['accuracy'] == pytest.approx(np.mean(predicted == true))
    assert accuracy(metric.compute()) == pytest.approx(np.mean(predicted == true))
    assert scores['micro_f1'] == pytest.approx(
        f1_score(true, predicted, average='micro')
    )
    assert scores['macro_f1'] == pytest.approx(
        f1_score(true, predicted, average='macro')
    )


def test_accuracy() -> None:
    assert accuracy(torch.tensor([[3, 1], [0, 4]])) == pytest.approx(7 / 8)
    assert accuracy(np.array([[0, 2], [0, 0]])) == 0
    assert math.isnan(accuracy(torch.zeros(2, 2)))
    with pytest.raises(ValueError, match='square'):
        accuracy(torch.zeros(2, 3))
    with pytest.raises(ValueError, match='square'):
        f1_scores(torch.zeros(3))


def test_confusion_matrix_updates_after_a_reset_in_inference_mode() -> None:
    # Lightning validates under inference mode but fits under no_grad only.
    metric = ConfusionMatrix(2)
    with torch.inference_mode():
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
        metric.reset()
    with torch.no_grad():
        metric.update(torch.tensor([1, 1]), torch.tensor([1, 0]))
    assert metric.compute().tolist() == [[0, 1], [0, 1]]

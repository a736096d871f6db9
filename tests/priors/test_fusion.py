from pathlib import Path

import numpy as np
import pytest

from torchgeo_lsr.priors.fusion import (
    FusionRule,
    LayerInput,
    RuleSet,
    apply_rules,
    box_mean,
    dilate,
    load_rules,
)
from torchgeo_lsr.schemes import SCHEMES


def test_dilate_square() -> None:
    layer = np.zeros((7, 7), np.float32)
    layer[3, 3] = 1
    dilated = dilate(layer, 5)
    assert dilated.sum() == 25
    assert dilated[1:6, 1:6].all()
    np.testing.assert_array_equal(dilate(layer, 1), layer)


def test_box_mean_excludes_the_outside() -> None:
    layer = np.ones((4, 4), np.float32)
    # All pixels inside: the mean of ones is one, also at the edges.
    np.testing.assert_allclose(box_mean(layer, 3), np.ones((4, 4)))
    layer = np.zeros((5, 5), np.float32)
    layer[0, 0] = 1
    mean = box_mean(layer, 3)
    assert mean[0, 0] == pytest.approx(1 / 4)  # corner: 4 pixels inside
    assert mean[1, 1] == pytest.approx(1 / 9)
    assert mean[0, 1] == pytest.approx(1 / 6)
    inside = np.ones((5, 5), bool)
    inside[:, 0] = False  # the first column is outside the raster
    layer[:, 0] = 0
    layer[2, 1] = 1
    assert box_mean(layer, 3, inside)[2, 1] == pytest.approx(1 / 6)


def test_enviroatlas_rules() -> None:
    rules = load_rules('enviroatlas')
    assert [rule.name for rule in rules.rules] == ['water', 'roads', 'buildings']
    assert set(rules.layers) == {'waterbodies', 'waterways', 'roads', 'buildings'}
    assert rules.options('waterways').all_touched
    assert rules.options('roads').widen == 3
    assert rules.radius == 4
    water = rules.rules[0]
    waterways = np.zeros((11, 11), np.float32)
    waterways[5, :] = 1
    bodies = np.zeros((11, 11), np.float32)
    bodies[0, 0] = 1
    soft = water.soft_layer({'waterways': waterways, 'waterbodies': bodies})
    mask = np.maximum(bodies, dilate(waterways, 5))
    np.testing.assert_allclose(soft, box_mean(mask, 5))


def test_apply_rules_adds_and_renormalises() -> None:
    scheme = SCHEMES['enviroatlas']
    prior = np.zeros((5, 3, 3), np.float32)
    prior[4] = 1  # grass everywhere
    valid = np.ones((3, 3), bool)
    valid[0, 0] = False
    roads = np.ones((3, 3), np.float32)
    rules = RuleSet(
        (FusionRule('Impervious Surface', (LayerInput('roads'),), weight=1.0),)
    )
    fused = apply_rules(prior, valid, rules, {'roads': roads}, scheme)
    np.testing.assert_allclose(fused[:, 1, 1], [0, 0.5, 0, 0, 0.5])
    np.testing.assert_allclose(fused[:, 0, 0], prior[:, 0, 0])  # invalid: untouched
    np.testing.assert_allclose(fused.sum(0)[valid], 1)


def test_apply_rules_errors() -> None:
    scheme = SCHEMES['chesapeake']
    prior = np.full((4, 2, 2), 0.25, np.float32)
    valid = np.ones((2, 2), bool)
    layers = {
        name: np.zeros((2, 2), np.float32)
        for name in ('waterbodies', 'waterways', 'roads', 'buildings')
    }
    with pytest.raises(ValueError, match="no class named 'Impervious Surface'"):
        apply_rules(prior, valid, load_rules('enviroatlas'), layers, scheme)
    rules = RuleSet((FusionRule('Water', (LayerInput('lakes'),)),))
    with pytest.raises(ValueError, match="no layer named \\['lakes'\\]"):
        apply_rules(prior, valid, rules, {}, scheme)


def test_custom_rules_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / 'rules.yaml'
    path.write_text(
        'layers:\n  tracks: {all_touched: true, widen: 5}\n'
        'rules:\n  - name: tracks\n    target: 5\n    inputs: [{layer: tracks, dilate: 3}]\n'
        '    box_mean: 7\n    weight: 0.5\n'
    )
    rules = load_rules(path)
    (rule,) = rules.rules
    assert rule.target == 5
    assert rule.weight == 0.5
    assert rule.radius == 1 + 3
    assert rules.options('tracks').widen == 5
    assert SCHEMES['chesapeake'].resolve(rule.target) == 3
    assert rules.restricted_to(set()).rules == ()


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('rules: 3\n', 'rules'),
        ('rules:\n  - target: Water\n', 'inputs'),
        ('rules:\n  - {target: Water, inputs: [{layer: a}], box_mean: 4}\n', 'odd'),
        ('rules:\n  - {target: Water, inputs: [{layer: a}], weight: -1}\n', 'weight'),
        ('rules:\n  - {target: Water, inputs: []}\n', 'at least one'),
    ],
)
def test_malformed_rules(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / 'rules.yaml'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_rules(path)


def test_unknown_rule_set() -> None:
    with pytest.raises(ValueError, match='no rule set'):
        load_rules('nonexistent-rules')

"""The example configuration files under conf/ stay valid."""

from pathlib import Path

import pytest

from torchgeo_lsr.priors import load_rules
from torchgeo_lsr.schemes import SCHEMES, get_scheme

CONF = Path(__file__).parents[1] / 'conf'


@pytest.mark.parametrize('path', sorted((CONF / 'schemes').glob('*.yaml')), ids=str)
def test_schemes_load(path: Path) -> None:
    scheme = get_scheme(path)
    assert scheme.num_classes > 0


@pytest.mark.parametrize('path', sorted((CONF / 'priors').glob('*rules.yaml')), ids=str)
def test_rules_resolve_in_their_scheme(path: Path) -> None:
    rules = load_rules(path)
    scheme = SCHEMES[path.name.split('-')[0]]
    for rule in rules.rules:
        scheme.resolve(rule.target)

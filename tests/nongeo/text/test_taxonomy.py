"""Taxonomies: coarse -> fine class names."""

import json
from pathlib import Path

import pytest

from tests.nongeo.text.common import EXAMPLE_TAXONOMY, TAXONOMY
from torchgeo_lsr.nongeo.text.taxonomy import Taxonomy, load_taxonomy


def test_taxonomy_order_and_lookup(tmp_path: Path) -> None:
    path = tmp_path / 'tax.json'
    path.write_text(json.dumps(TAXONOMY))
    taxonomy = load_taxonomy(path)
    assert taxonomy.fine == ('tennis', 'golf', 'stocks', 'energy', 'economy')
    assert taxonomy.parents == (0, 0, 1, 1, 1)
    assert taxonomy.num_classes == 5
    assert taxonomy.children(1) == [2, 3, 4]
    assert taxonomy.coarse_indices(['Business', 'sports']) == [1, 0]
    assert taxonomy.compatible([1]).tolist() == [[False, False, True, True, True]]
    yaml_path = tmp_path / 'tax.yaml'
    yaml_path.write_text(
        'sports: [tennis, golf]\nbusiness: [stocks, energy, economy]\n'
    )
    assert load_taxonomy(yaml_path) == taxonomy
    assert load_taxonomy(yaml_path).digest() == taxonomy.digest()
    nyt = load_taxonomy('nyt')
    assert len(nyt.coarse) == 5
    assert nyt.num_classes == 26
    assert nyt.fine_indices(['stocks_and_bonds']) == [
        nyt.fine.index('stocks and bonds')
    ]
    assert load_taxonomy(EXAMPLE_TAXONOMY).num_classes == 6


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('- a\n- b\n', 'expected a mapping'),
        ('sports: tennis\n', 'give a list'),
        ('sports: []\n', 'no fine classes'),
        ('sports: [golf]\nleisure: [Golf]\n', 'unique'),
        ('sports: [golf, 3]\n', 'must be strings'),
        ('sports: [golf\n', 'cannot parse'),
    ],
)
def test_taxonomy_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / 'tax.yaml'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_taxonomy(path)


def test_taxonomy_missing_file_and_unknown_labels(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='taxonomy file'):
        load_taxonomy(tmp_path / 'absent.yaml')
    taxonomy = Taxonomy.from_mapping(TAXONOMY)
    with pytest.raises(ValueError, match=r"coarse label.*not in the taxonomy: 'arts'"):
        taxonomy.coarse_indices(['sports', 'arts'])

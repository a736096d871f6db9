from pathlib import Path

import numpy as np
import pytest

from torchgeo_lsr.schemes import (
    SCHEMES,
    ClassScheme,
    generic_scheme,
    get_scheme,
    load_scheme,
)


def test_nlcd() -> None:
    nlcd = SCHEMES['nlcd']
    assert nlcd.num_classes == 16
    assert nlcd.nodata == (0, 128)
    labels = np.array([[0, 11, 95], [128, 41, 22]])
    np.testing.assert_array_equal(nlcd.to_index(labels), [[-1, 0, 15], [-1, 7, 3]])
    assert nlcd.unknown_codes(np.array([0, 11, 51, 128, 200])) == [51, 200]


def test_chesapeake_counts_barren_as_impervious() -> None:
    scheme = SCHEMES['chesapeake']
    assert scheme.names == ('Water', 'Tree Canopy', 'Low Vegetation', 'Impervious')
    labels = np.array([1, 2, 3, 4, 5, 6, 0, 15])
    np.testing.assert_array_equal(scheme.to_index(labels), [0, 1, 2, 3, 3, 3, -1, -1])


def test_enviroatlas() -> None:
    scheme = SCHEMES['enviroatlas']
    labels = np.array([10, 20, 30, 40, 52, 70, 80, 82, 91, 92, 0])
    expected = [0, 1, 2, 3, 3, 4, -1, -1, -1, -1, -1]
    np.testing.assert_array_equal(scheme.to_index(labels), expected)
    assert scheme.unknown_codes(labels) == []


def test_resolve_by_code_or_name() -> None:
    scheme = SCHEMES['enviroatlas']
    assert scheme.resolve('water') == 0
    assert scheme.resolve('Impervious Surface') == 1
    assert scheme.resolve(40) == 3
    assert scheme.resolve('52') == 3  # alias of trees
    with pytest.raises(KeyError, match='no class named'):
        scheme.resolve('roads')


def test_generic_and_float_rasters() -> None:
    scheme = generic_scheme([3, 7, 9], nodata=[255])
    assert scheme.names == ('class 3', 'class 7', 'class 9')
    labels = np.array([3.0, np.nan, 9.0, 255.0, -1.0])
    np.testing.assert_array_equal(scheme.to_index(labels), [0, -1, 2, -1, -1])


def test_yaml_round_trip(tmp_path: Path) -> None:
    import yaml

    scheme = SCHEMES['chesapeake']
    path = tmp_path / 'scheme.yaml'
    path.write_text(yaml.safe_dump(scheme.to_dict()))
    loaded = get_scheme(path)
    assert loaded == scheme


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'codes': (1, 2), 'names': ('a',)}, 'names'),
        ({'codes': (1, 1), 'names': ('a', 'b')}, 'twice'),
        ({'codes': (1,), 'names': ('a',), 'nodata': (1,)}, 'twice'),
        ({'codes': (1,), 'names': ('a',), 'aliases': {2: 3}}, 'unknown codes'),
        ({'codes': (), 'names': ()}, 'no classes'),
    ],
)
def test_inconsistent_schemes(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassScheme(name='bad', **kwargs)  # type: ignore[arg-type]


def test_unknown_scheme_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='unknown class scheme'):
        get_scheme('corine')
    path = tmp_path / 'bad.yaml'
    path.write_text('name: x\n')
    with pytest.raises(ValueError, match='classes'):
        load_scheme(path)

from pathlib import Path

import numpy as np
import pytest

from torchgeo_lsr.priors.cooccurrence import (
    BUNDLED_COOCCURRENCES,
    Cooccurrence,
    count_cooccurrence,
    estimate_cooccurrence,
    load_cooccurrence,
)
from torchgeo_lsr.schemes import SCHEMES, generic_scheme

from .conftest import ALBERS, WriteRaster

COARSE = generic_scheme([1, 2, 3], nodata=[0], name='coarse')
FINE = generic_scheme([10, 20], nodata=[255], name='fine')


def test_counts_on_arrays() -> None:
    coarse = np.array([[1, 1, 2], [3, 0, 2]])
    fine = np.array([[10, 20, 20], [10, 10, 255]])
    counts = count_cooccurrence(coarse, fine, COARSE, FINE)
    # rows: fine 10, 20; columns: coarse 1, 2, 3 (nodata pixels left out)
    np.testing.assert_array_equal(counts, [[1, 0, 1], [1, 1, 0]])


def test_unknown_codes_are_named() -> None:
    with pytest.raises(ValueError, match=r'coarse labels hold codes \[7\]'):
        count_cooccurrence(np.array([1, 7]), np.array([10, 10]), COARSE, FINE)
    with pytest.raises(ValueError, match=r'fine labels hold codes \[30\]'):
        count_cooccurrence(np.array([1, 1]), np.array([10, 30]), COARSE, FINE)


def test_from_counts_normalises_columns_and_leaves_empty_ones() -> None:
    matrix = Cooccurrence.from_counts(np.array([[3, 0, 1], [1, 0, 1]]), FINE, [1, 2, 3])
    np.testing.assert_allclose(matrix.matrix, [[0.75, 0, 0.5], [0.25, 0, 0.5]])
    np.testing.assert_array_equal(matrix.informative, [True, False, True])


@pytest.mark.parametrize(
    ('matrix', 'codes', 'message'),
    [
        (np.ones((2, 2)), (1, 2), 'sum to neither 1 nor 0'),
        (np.full((2, 2), 0.5), (1,), 'shape'),
        (np.full((2, 2), 0.5), (1, 1), 'unique'),
        (np.array([[1.5, 0.5], [-0.5, 0.5]]), (1, 2), 'non-negative'),
    ],
)
def test_invalid_matrices(
    matrix: np.ndarray, codes: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Cooccurrence(matrix, FINE, codes)


def test_csv_round_trip(tmp_path: Path) -> None:
    matrix = Cooccurrence.from_counts(np.array([[3, 0, 1], [1, 0, 2]]), FINE, [1, 2, 3])
    matrix.to_csv(tmp_path / 'm.csv')
    text = (tmp_path / 'm.csv').read_text().splitlines()
    assert text[0] == 'fine_code,fine_name,1,2,3'
    assert text[1].startswith('10,class 10,0.75,0.0,0.333')
    loaded = Cooccurrence.from_csv(tmp_path / 'm.csv', FINE)
    np.testing.assert_array_equal(loaded.matrix, matrix.matrix)
    assert loaded.coarse_codes == (1, 2, 3)
    # Without a scheme, the rows' codes and names make one.
    generic = load_cooccurrence(tmp_path / 'm.csv')
    assert generic.fine.codes == (10, 20)


def test_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / 'bad.csv'
    path.write_text('a,b,c\n1,2,3\n')
    with pytest.raises(ValueError, match='header'):
        Cooccurrence.from_csv(path)
    path.write_text('fine_code,fine_name,1,2\n10,water,x,1\n')
    with pytest.raises(ValueError, match='non-numeric'):
        Cooccurrence.from_csv(path)
    path.write_text('fine_code,fine_name,1,2\n10,water,1,1\n')
    with pytest.raises(ValueError, match='rows are fine codes'):
        Cooccurrence.from_csv(path, 'enviroatlas')
    with pytest.raises(ValueError, match='no co-occurrence matrix'):
        load_cooccurrence(tmp_path / 'missing.csv')


def test_bundled_enviroatlas_matrices() -> None:
    assert len(BUNDLED_COOCCURRENCES) == 4
    for name in BUNDLED_COOCCURRENCES:
        matrix = load_cooccurrence(name)
        assert matrix.fine is SCHEMES['enviroatlas']
        assert matrix.coarse_codes == SCHEMES['nlcd'].codes
    # Sanity values of REFERENCE §2.2.
    pittsburgh = load_cooccurrence('enviroatlas-pittsburgh')

    def p(matrix: Cooccurrence, fine: str, nlcd: int) -> float:
        column = matrix.coarse_codes.index(nlcd)
        return float(matrix.matrix[matrix.fine.resolve(fine), column])

    assert p(pittsburgh, 'Water', 11) == pytest.approx(0.906, abs=1e-3)
    assert p(pittsburgh, 'Impervious Surface', 24) == pytest.approx(0.843, abs=1e-3)
    assert p(pittsburgh, 'Trees and Forest', 41) == pytest.approx(0.888, abs=1e-3)
    assert p(pittsburgh, 'Grass', 81) == pytest.approx(0.793, abs=1e-3)
    phoenix = load_cooccurrence('enviroatlas-phoenix')
    assert p(phoenix, 'Soil and Barren', 31) == pytest.approx(0.941, abs=1e-3)
    assert p(phoenix, 'Soil and Barren', 71) == pytest.approx(0.937, abs=1e-3)
    # Ice/snow never occurs; Phoenix has no forest: those columns carry no information.
    empty = [
        c
        for c, i in zip(phoenix.coarse_codes, phoenix.informative, strict=True)
        if not i
    ]
    assert empty == [12, 41, 42, 43]


def known_pair(raster: WriteRaster) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    coarse = rng.choice([0, 1, 2, 3], size=(7, 9)).astype(np.uint8)
    fine = rng.choice([10, 20, 255], size=(21, 27), p=[0.5, 0.4, 0.1]).astype(np.uint8)
    upsampled = np.repeat(np.repeat(coarse, 3, 0), 3, 1)
    expected = count_cooccurrence(upsampled, fine, COARSE, FINE)
    coarse_path = raster('coarse.tif', coarse, resolution=3.0)
    fine_path = raster('fine.tif', fine)
    return coarse_path, fine_path, expected


@pytest.mark.parametrize('window_size', [4, 1000])
def test_estimate_from_rasters_with_known_counts(
    raster: WriteRaster, window_size: int
) -> None:
    coarse_path, fine_path, expected = known_pair(raster)
    matrix = estimate_cooccurrence(
        [(coarse_path, fine_path)], COARSE, FINE, window_size=window_size
    )
    np.testing.assert_allclose(
        matrix.matrix, Cooccurrence.from_counts(expected, FINE, (1, 2, 3)).matrix
    )


def test_estimate_pools_tiles(raster: WriteRaster) -> None:
    coarse_path, fine_path, expected = known_pair(raster)
    matrix = estimate_cooccurrence([(coarse_path, fine_path)] * 2, COARSE, FINE)
    np.testing.assert_allclose(
        matrix.matrix, Cooccurrence.from_counts(2 * expected, FINE, (1, 2, 3)).matrix
    )


def test_estimate_without_overlap(raster: WriteRaster) -> None:
    coarse = raster(
        'coarse.tif', np.ones((5, 5), np.uint8), crs=ALBERS, origin=(100.0, 100.0)
    )
    fine = raster('fine.tif', np.full((5, 5), 10, np.uint8))
    with pytest.raises(ValueError, match='do not overlap') as error:
        estimate_cooccurrence([(coarse, fine)], COARSE, FINE)
    message = str(error.value)
    assert f'the coarse labels {coarse} do not overlap the fine labels {fine}' in (
        message
    )
    assert 'EPSG:32617' in message
    assert 'EPSG:5070' in message


def test_csv_of_a_registered_scheme_reads_back_as_it(tmp_path: Path) -> None:
    matrix = load_cooccurrence('enviroatlas-durham')
    matrix.to_csv(tmp_path / 'm.csv')
    assert load_cooccurrence(tmp_path / 'm.csv').fine.name == 'enviroatlas'

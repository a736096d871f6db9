import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from tests.rasters import write_geotiff
from torchgeo_lsr.cli import main
from torchgeo_lsr.evaluate import evaluate_maps
from torchgeo_lsr.schemes import generic_scheme, get_scheme

CODES = np.array([10, 20, 30, 40, 70, 0, 52])  # 0 unclassified, 52 shrubs: ignored


@pytest.fixture
def rasters(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.choice(CODES, (60, 80)).astype(np.uint8)
    prediction = rng.integers(0, 5, (60, 80)).astype(np.uint8)
    prediction[:5, :5] = 255  # no value
    label_path = write_geotiff(tmp_path / 'lc.tif', labels)
    map_path = write_geotiff(tmp_path / 'map.tif', prediction)
    with rasterio.open(map_path, 'r+') as dst:
        dst.nodata = 255
        dst.update_tags(scheme='enviroatlas')
    return map_path, label_path, prediction, labels


#: EnviroAtlas codes -> class index, written out by hand (not via the scheme).
ENVIROATLAS_INDEX = {10: 0, 20: 1, 30: 2, 40: 3, 52: 3, 70: 4}


def expected(prediction: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Scores counted pixel by pixel with numpy, independently of the package.

    A label counts when it is a class (0 and the ignored codes do not); a map
    pixel with no value (255) over a counted label is wrong (issue 16 item 7).
    """
    truth = np.vectorize(lambda code: ENVIROATLAS_INDEX.get(int(code), -1))(labels)
    counted = truth >= 0
    predicted = np.where(prediction == 255, -1, prediction.astype(np.int64))
    iou = {}
    names = get_scheme('enviroatlas').names
    for c, name in enumerate(names):
        inter = np.sum(counted & (truth == c) & (predicted == c))
        union = np.sum(counted & ((truth == c) | (predicted == c)))
        iou[name] = inter / union if union else float('nan')
    return {
        'accuracy': np.sum(counted & (truth == predicted)) / np.sum(counted),
        'miou': np.mean([0.0 if np.isnan(v) else v for v in iou.values()]),
        'per_class_iou': iou,
        'pixels': int(np.sum(counted)),
        'unpredicted': int(np.sum(counted & (predicted < 0))),
    }


def test_scores_equal_a_direct_count(
    rasters: tuple[Path, Path, np.ndarray, np.ndarray],
) -> None:
    map_path, label_path, prediction, labels = rasters
    scores = evaluate_maps([(map_path, label_path)], 'enviroatlas', window=16)
    reference = expected(prediction, labels)
    assert reference['unpredicted'] > 0  # the map's nodata corner over labels
    assert scores['pixels'] == reference['pixels']
    assert scores['unpredicted'] == reference['unpredicted']
    assert scores['accuracy'] == pytest.approx(reference['accuracy'])
    assert scores['per_class_iou'] == pytest.approx(reference['per_class_iou'])
    assert scores['miou'] == pytest.approx(reference['miou'])


def test_pairs_pool(
    tmp_path: Path, rasters: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    map_path, label_path, prediction, labels = rasters
    scores = evaluate_maps([(map_path, label_path)] * 2, 'enviroatlas')
    single = expected(prediction, labels)
    assert scores['pixels'] == 2 * single['pixels']
    assert scores['miou'] == pytest.approx(single['miou'])


def test_labels_on_another_grid_are_warped(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    coarse_labels = rng.choice(CODES[:5], (30, 40)).astype(np.uint8)
    label_path = write_geotiff(tmp_path / 'lc2m.tif', coarse_labels, res=2.0)
    prediction = np.repeat(np.repeat(coarse_labels, 2, 0), 2, 1)
    indices = get_scheme('enviroatlas').to_index(prediction).astype(np.uint8)
    map_path = write_geotiff(tmp_path / 'map.tif', indices)
    scores = evaluate_maps([(map_path, label_path)], 'enviroatlas')
    assert scores['accuracy'] == 1
    assert scores['pixels'] == 60 * 80


def test_maps_in_codes(
    tmp_path: Path, rasters: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    _, label_path, _, labels = rasters
    coded = write_geotiff(tmp_path / 'coded.tif', labels)
    scores = evaluate_maps(
        [(coded, label_path)], 'enviroatlas', map_scheme='enviroatlas'
    )
    assert scores['accuracy'] == 1
    with pytest.raises(ValueError, match='not class indices'):
        evaluate_maps([(coded, label_path)], 'enviroatlas')
    with pytest.raises(ValueError, match='has classes'):
        evaluate_maps([(coded, label_path)], 'enviroatlas', map_scheme='chesapeake')


def test_bad_input(
    tmp_path: Path, rasters: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    map_path, _, _, labels = rasters
    far = write_geotiff(tmp_path / 'far.tif', labels, x=900_000.0)
    with pytest.raises(ValueError, match='do not overlap') as error:
        evaluate_maps([(map_path, far)], 'enviroatlas')
    assert f'the labels {far} do not overlap the map {map_path}' in str(error.value)
    with pytest.raises(FileNotFoundError):
        evaluate_maps([(map_path, tmp_path / 'missing.tif')], 'enviroatlas')


def test_cli(
    tmp_path: Path,
    rasters: tuple[Path, Path, np.ndarray, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    map_path, label_path, prediction, labels = rasters
    out = tmp_path / 'scores.json'
    args = ['evaluate', '--pred', str(map_path), '--labels', str(label_path)]
    assert main([*args, '--results', str(out)]) == 0  # scheme from the map's tags
    assert 'mIoU' in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved['accuracy'] == pytest.approx(expected(prediction, labels)['accuracy'])
    with pytest.raises(SystemExit):
        main([*args, str(label_path)])  # two maps? no: two labels for one map


def test_map_nodata_over_labels_counts_as_wrong(tmp_path: Path) -> None:
    """Guards issue 16 item 7: the old code dropped such pixels (accuracy 1)."""
    labels = np.full((4, 4), 10, np.uint8)
    labels[0] = 0  # unclassified: not scored
    label_path = write_geotiff(tmp_path / 'lc.tif', labels)
    prediction = np.zeros((4, 4), np.uint8)
    prediction[:2, :2] = 255  # nodata: 2 of its pixels are over water labels
    map_path = write_geotiff(tmp_path / 'map.tif', prediction)
    with rasterio.open(map_path, 'r+') as dst:
        dst.nodata = 255
    scores = evaluate_maps([(map_path, label_path)], 'enviroatlas')
    assert scores['pixels'] == 12
    assert scores['unpredicted'] == 2
    assert scores['accuracy'] == pytest.approx(10 / 12)
    assert scores['per_class_iou']['Water'] == pytest.approx(10 / 12)


def test_ignored_map_codes_over_labels_count_as_wrong(tmp_path: Path) -> None:
    """Guards issue 16 item 7: a map code its scheme ignores is no prediction."""
    labels = np.full((2, 3), 70, np.uint8)
    label_path = write_geotiff(tmp_path / 'lc.tif', labels)
    coded = np.array([[70, 70, 80], [70, 0, 70]], np.uint8)  # agriculture, nodata
    map_path = write_geotiff(tmp_path / 'map.tif', coded)
    scores = evaluate_maps(
        [(map_path, label_path)], 'enviroatlas', map_scheme='enviroatlas'
    )
    assert scores['pixels'] == 6
    assert scores['unpredicted'] == 2
    assert scores['accuracy'] == pytest.approx(4 / 6)


def test_unknown_map_codes_are_refused(tmp_path: Path) -> None:
    """Guards issue 16 item 7: the old code dropped code 99 silently."""
    label_path = write_geotiff(tmp_path / 'lc.tif', np.full((2, 2), 10, np.uint8))
    coded = np.array([[10, 99], [10, 10]], np.uint8)
    map_path = write_geotiff(tmp_path / 'map.tif', coded)
    with pytest.raises(ValueError, match=r'codes \[99\] are unknown') as error:
        evaluate_maps([(map_path, label_path)], 'enviroatlas', map_scheme='enviroatlas')
    assert f'map raster {map_path}' in str(error.value)
    assert 'map_scheme (--map-scheme)' in str(error.value)


def test_unknown_label_codes_are_refused(tmp_path: Path) -> None:
    """Guards issue 16 item 6: labels in another encoding are not scored.

    The old code scored class indices 0..4 read as EnviroAtlas codes on a
    coincidental subset (0 unclassified, 1-4 dropped as unknown): accuracy NaN
    or a score of whatever happened to match.
    """
    indices = np.array([[0, 1, 2], [3, 4, 10]], np.uint8)
    label_path = write_geotiff(tmp_path / 'lc.tif', indices)
    map_path = write_geotiff(tmp_path / 'map.tif', np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match=r'codes \[1, 2, 3, 4\] are unknown') as error:
        evaluate_maps([(map_path, label_path)], 'enviroatlas')
    message = str(error.value)
    assert f'label raster {label_path}' in message
    assert "scheme 'enviroatlas'" in message
    assert 'set scheme (--scheme) to the scheme of these codes' in message
    assert '\n' not in message
    # Ignored (80) and nodata (0) codes of the scheme stay fine.
    fine = write_geotiff(tmp_path / 'fine.tif', np.array([[0, 80, 10]], np.uint8))
    small_map = write_geotiff(tmp_path / 'small.tif', np.zeros((1, 3), np.uint8))
    assert evaluate_maps([(small_map, fine)], 'enviroatlas')['pixels'] == 1


def test_label_raster_nodata_is_not_scored(tmp_path: Path) -> None:
    """The label raster's own nodata (255, unknown to the scheme) is no code."""
    labels = np.array([[10, 255], [20, 20]], np.uint8)
    label_path = write_geotiff(tmp_path / 'lc.tif', labels)
    with rasterio.open(label_path, 'r+') as dst:
        dst.nodata = 255
    map_path = write_geotiff(tmp_path / 'map.tif', np.array([[0, 0], [1, 0]], np.uint8))
    scores = evaluate_maps([(map_path, label_path)], 'enviroatlas')
    assert scores['pixels'] == 3
    assert scores['accuracy'] == pytest.approx(2 / 3)


def test_pixels_outside_the_labels_are_not_read_as_code_0(tmp_path: Path) -> None:
    """Guards issue 16 item 7: the old warp filled them with 0, here a class."""
    scheme = generic_scheme([0, 1], ['zero', 'one'])
    label_path = write_geotiff(tmp_path / 'lc.tif', np.ones((2, 2), np.uint8))
    # The map covers 4 x 4 pixels; the labels only its top-left 2 x 2.
    map_path = write_geotiff(tmp_path / 'map.tif', np.zeros((4, 4), np.uint8))
    scores = evaluate_maps([(map_path, label_path)], scheme)
    assert scores['pixels'] == 4
    assert scores['accuracy'] == 0
    assert scores['per_class_iou'] == {'zero': 0.0, 'one': 0.0}
    # Warped labels (another resolution) too.
    coarse = write_geotiff(tmp_path / 'lc2m.tif', np.ones((1, 1), np.uint8), res=2.0)
    assert evaluate_maps([(map_path, coarse)], scheme)['pixels'] == 4


def test_cli_reports_unpredicted_pixels_and_refuses_unknown_codes(
    tmp_path: Path,
    rasters: tuple[Path, Path, np.ndarray, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    map_path, label_path, prediction, labels = rasters
    assert main(['evaluate', '--pred', str(map_path), '--labels', str(label_path)]) == 0
    count = expected(prediction, labels)['unpredicted']
    assert f'({count:,} of them have no class in the map' in capsys.readouterr().out
    indices = write_geotiff(tmp_path / 'idx.tif', np.ones((60, 80), np.uint8))
    with pytest.raises(SystemExit) as exit_:
        main(['evaluate', '--pred', str(map_path), '--labels', str(indices)])
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if 'error:' in line]
    assert len(errors) == 1
    assert errors[0].startswith('torchgeo-lsr evaluate: error: label raster')
    assert 'codes [1] are unknown' in errors[0]

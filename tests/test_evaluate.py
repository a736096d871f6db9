import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from tests.rasters import write_geotiff
from torchgeo_lsr.cli import main
from torchgeo_lsr.evaluate import evaluate_maps
from torchgeo_lsr.metrics import confusion_matrix, segmentation_scores
from torchgeo_lsr.schemes import get_scheme

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


def expected(prediction: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    scheme = get_scheme('enviroatlas')
    truth = scheme.to_index(labels)
    keep = (truth >= 0) & (prediction != 255)
    counts = confusion_matrix(prediction[keep], truth[keep], 5)
    return segmentation_scores(counts, scheme.names)


def test_scores_equal_a_direct_count(
    rasters: tuple[Path, Path, np.ndarray, np.ndarray],
) -> None:
    map_path, label_path, prediction, labels = rasters
    scores = evaluate_maps([(map_path, label_path)], 'enviroatlas', window=16)
    reference = expected(prediction, labels)
    assert scores['pixels'] == reference['pixels']
    assert scores['accuracy'] == pytest.approx(reference['accuracy'])
    assert scores['per_class_iou'] == pytest.approx(reference['per_class_iou'])


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

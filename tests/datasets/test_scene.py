import json
import math
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from rasterio.crs import CRS
from rasterio.transform import from_origin

from torchgeo_lsr.datasets import SceneManifest, make_scene
from torchgeo_lsr.datasets._scene_geometry import layout_scene
from torchgeo_lsr.schemes import SCHEMES

SIZE = 512
TILES = 2
SEED = 3
FINE_CODES = {10, 20, 30, 40, 70}
UTM_17N = CRS.from_epsg(32617)

#: NLCD code -> rule category: water, developed 21..24, forest, barren, grass.
CATEGORY = {11: 0, 21: 1, 22: 2, 23: 3, 24: 4, 41: 5, 42: 5, 43: 5, 31: 6}
CATEGORY |= {71: 7, 81: 7, 82: 7}


@pytest.fixture(scope='module')
def scene(tmp_path_factory: pytest.TempPathFactory) -> SceneManifest:
    return make_scene(tmp_path_factory.mktemp('scene'), SIZE, TILES, SEED)


@pytest.fixture(scope='module')
def clean_scene(tmp_path_factory: pytest.TempPathFactory) -> SceneManifest:
    """The same scene without NLCD label noise."""
    return make_scene(
        tmp_path_factory.mktemp('clean'), SIZE, TILES, SEED, label_noise=0
    )


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.asarray(src.read())


def rule_categories(labels: np.ndarray) -> np.ndarray:
    """The NLCD rule category of each 30 m cell, from the cell's pixels inside."""
    cells = math.ceil(labels.shape[0] / 30)
    padded = np.zeros((cells * 30, cells * 30), dtype=labels.dtype)
    padded[: labels.shape[0], : labels.shape[1]] = labels
    blocks = padded.reshape(cells, 30, cells, 30)
    inside = (blocks != 0).sum((1, 3))
    water, impervious, barren, trees, grass = (
        (blocks == code).sum((1, 3)) / inside for code in (10, 20, 30, 40, 70)
    )
    return np.select(
        [
            water >= 0.5,
            impervious >= 0.8,
            impervious >= 0.5,
            impervious >= 0.2,
            impervious >= 0.05,
            (trees >= barren) & (trees >= grass),
            barren >= grass,
        ],
        [0, 4, 3, 2, 1, 5, 6],
        default=7,
    )


def test_rasters_are_georeferenced_and_aligned(scene: SceneManifest) -> None:
    assert len(scene.tiles) == TILES
    previous_right = None
    for tile in scene.tiles:
        left, bottom, right, top = tile.bounds
        assert right - left == SIZE
        assert top - bottom == SIZE
        if previous_right is not None:
            assert left == previous_right  # tiles lie side by side, west to east
        previous_right = right
        grid = from_origin(left, top, 1.0, 1.0)
        with rasterio.open(scene.root / tile.naip) as src:
            assert (src.count, src.height, src.width) == (4, SIZE, SIZE)
            assert src.dtypes == ('uint8',) * 4
            assert src.crs == UTM_17N
            assert src.transform == grid
            assert src.descriptions == ('red', 'green', 'blue', 'nir')
            assert src.block_shapes[0] == (256, 256)
            assert src.compression is not None
            assert src.compression.value == 'DEFLATE'
        with rasterio.open(scene.root / tile.lc) as src:
            assert (src.count, src.height, src.width) == (1, SIZE, SIZE)
            assert src.dtypes == ('uint8',)
            assert src.crs == UTM_17N
            assert src.transform == grid
            assert src.block_shapes[0] == (256, 256)
        with rasterio.open(scene.root / tile.nlcd) as src:
            cells = math.ceil(SIZE / 30)
            assert (src.count, src.height, src.width) == (1, cells, cells)
            assert src.dtypes == ('uint8',)
            assert src.crs == UTM_17N
            assert src.res == (30.0, 30.0)
            # Same origin as the 1 m grid: each cell covers exactly 30 x 30 pixels,
            # and the cells cover the whole tile.
            assert src.transform == from_origin(left, top, 30.0, 30.0)
            assert src.bounds.right >= right
            assert src.bounds.bottom <= bottom
            assert tuple(src.bounds) == tile.nlcd_bounds


def test_same_seed_same_arrays(scene: SceneManifest, tmp_path: Path) -> None:
    again = make_scene(tmp_path, SIZE, TILES, SEED)
    for first, second in zip(scene.tiles, again.tiles, strict=True):
        for name in ('naip', 'lc', 'nlcd'):
            np.testing.assert_array_equal(
                read(scene.root / getattr(first, name)),
                read(again.root / getattr(second, name)),
            )
    assert again.calibration == scene.calibration
    assert again.class_fractions == scene.class_fractions


def test_other_seed_other_scene(scene: SceneManifest, tmp_path: Path) -> None:
    other = make_scene(tmp_path, SIZE, TILES, SEED + 1)
    for name in ('naip_paths', 'lc_paths'):
        first, second = getattr(scene, name)[0], getattr(other, name)[0]
        assert not np.array_equal(read(first), read(second))
        # Not just a small perturbation: most pixels differ.
        assert (read(first) != read(second)).mean() > 0.3


def test_label_codes(scene: SceneManifest) -> None:
    fine = np.concatenate([read(path).ravel() for path in scene.lc_paths])
    assert set(np.unique(fine).tolist()) == FINE_CODES
    coarse = np.concatenate([read(path).ravel() for path in scene.nlcd_paths])
    assert set(np.unique(coarse).tolist()) <= set(SCHEMES['nlcd'].codes)
    # Towns, forests and fields give developed, forest and grass classes.
    assert {21, 22, 23} <= set(coarse.tolist())
    assert set(coarse.tolist()) & {41, 42, 43}
    assert set(coarse.tolist()) & {71, 81, 82}


def test_nlcd_follows_the_rules_without_noise(clean_scene: SceneManifest) -> None:
    assert clean_scene.changed_cells == 0
    for lc_path, nlcd_path in zip(
        clean_scene.lc_paths, clean_scene.nlcd_paths, strict=True
    ):
        labels, codes = read(lc_path)[0], read(nlcd_path)[0]
        categories = np.vectorize(CATEGORY.__getitem__)(codes)
        np.testing.assert_array_equal(categories, rule_categories(labels))


def test_label_noise_takes_neighbour_classes(
    scene: SceneManifest, clean_scene: SceneManifest
) -> None:
    changed = total = 0
    for noisy_path, clean_path in zip(
        scene.nlcd_paths, clean_scene.nlcd_paths, strict=True
    ):
        noisy, clean = read(noisy_path)[0], read(clean_path)[0]
        padded = np.pad(clean, 1, mode='edge')
        for row, col in zip(*np.nonzero(noisy != clean), strict=True):
            assert noisy[row, col] in padded[row : row + 3, col : col + 3]
        changed += int((noisy != clean).sum())
        total += clean.size
    assert 0.005 < changed / total < 0.04
    assert scene.changed_cells == pytest.approx(changed / total, abs=1e-4)
    # The 1 m data do not depend on the NLCD noise.
    for first, second in zip(scene.lc_paths, clean_scene.lc_paths, strict=True):
        np.testing.assert_array_equal(read(first), read(second))


def test_imagery_follows_the_classes(scene: SceneManifest) -> None:
    labels = np.concatenate([read(p)[0] for p in scene.lc_paths], axis=1)
    image = np.concatenate([read(p) for p in scene.naip_paths], axis=2)
    red, nir = image[0].astype(float), image[3].astype(float)
    ndvi = (nir - red) / np.maximum(nir + red, 1)
    mean_ndvi = {code: ndvi[labels == code].mean() for code in FINE_CODES}
    assert mean_ndvi[40] > 0.2
    assert mean_ndvi[70] > 0.2
    assert mean_ndvi[10] < 0 < mean_ndvi[30]
    assert abs(mean_ndvi[20]) < 0.1
    assert nir[labels == 10].mean() < 0.5 * nir[labels == 70].mean()
    # Within-class variation: not separable pixel by pixel.
    for code in FINE_CODES:
        assert image[:, labels == code].std(axis=1).min() > 5


def rasterised_overlap(
    scene: SceneManifest, layer: str, code: int, undo_shift: bool = False
) -> float:
    """Share of a vector layer's pixels labelled ``code`` (lines by their width)."""
    frame = geopandas.read_file(scene.vector_path(layer))
    geometries = np.asarray(frame.geometry.values)
    if 'width' in frame:
        widths = frame['width'].to_numpy(dtype=float)
        geometries = shapely.buffer(geometries, widths / 2, cap_style='flat')
    if undo_shift:
        shift = np.asarray(scene.vector_shifts[layer])
        geometries = shapely.transform(geometries, lambda xy: xy - shift)
    hits = total = 0
    for path in scene.lc_paths:
        with rasterio.open(path) as src:
            labels = src.read(1)
            burnt = rasterio.features.rasterize(
                [(g, 1) for g in geometries],
                out_shape=labels.shape,
                transform=src.transform,
            ).astype(bool)
        hits += int((labels[burnt] == code).sum())
        total += int(burnt.sum())
    assert total > 0
    return hits / total


def test_vectors_match_labels_with_misalignment(scene: SceneManifest) -> None:
    for layer, geometry_types in (
        ('buildings', {'Polygon'}),
        ('roads', {'LineString'}),
        ('waterways', {'LineString'}),
        ('waterbodies', {'Polygon'}),
    ):
        path = scene.vector_path(layer)
        assert path == scene.root / f'{layer}.gpkg'
        frame = geopandas.read_file(path)
        assert frame.crs == 'EPSG:32617'
        assert set(frame.geom_type) == geometry_types
        assert len(frame) > 0
        assert 1.0 <= math.hypot(*scene.vector_shifts[layer]) <= 3.0
    roads = geopandas.read_file(scene.vector_path('roads'))
    assert roads['width'].between(6, 12).all()
    waterways = geopandas.read_file(scene.vector_path('waterways'))
    assert waterways['width'].between(3, 8).all()
    for layer, code, least in (
        ('buildings', 20, 0.7),
        ('roads', 20, 0.7),
        ('waterbodies', 10, 0.8),
        ('waterways', 10, 0.5),
    ):
        overlap = rasterised_overlap(scene, layer, code)
        assert least <= overlap < 0.99, layer
        # The recorded shift is the misalignment: undoing it improves the overlap.
        assert rasterised_overlap(scene, layer, code, undo_shift=True) > overlap + 0.01
    # A few buildings are missing from the footprints.
    layout = layout_scene(SEED, SIZE, TILES)
    footprints = len(geopandas.read_file(scene.vector_path('buildings')))
    assert 0.85 * len(layout.buildings) < footprints < len(layout.buildings)


def test_manifest(scene: SceneManifest) -> None:
    data = json.loads((scene.root / 'manifest.json').read_text())
    assert data['seed'] == SEED
    assert data['size'] == SIZE
    assert data['tiles'] == TILES
    assert data['crs'] == 'EPSG:32617'
    assert data['resolution'] == 1.0
    assert data['coarse_resolution'] == 30.0
    assert data['schemes'] == {'fine': 'enviroatlas', 'coarse': 'nlcd'}
    entry = data['files']['tiles'][1]
    assert entry['naip'] == 'naip/tile_1.tif'
    assert entry['lc'] == 'lc/tile_1.tif'
    assert entry['nlcd'] == 'nlcd/tile_1.tif'
    assert SceneManifest.load(scene.root) == scene
    assert SceneManifest.load(scene.root / 'manifest.json').to_dict() == data
    for path in [*scene.naip_paths, *scene.lc_paths, *scene.nlcd_paths]:
        assert path.is_file()
    for kind in ('fine', 'coarse'):
        assert sum(scene.class_fractions[kind].values()) == pytest.approx(1, abs=1e-3)
    assert set(scene.class_fractions['fine']) == {str(c) for c in FINE_CODES}
    with pytest.raises(KeyError, match='no vector layer'):
        scene.vector_path('railways')
    # No temporary files are left behind.
    assert not [p for p in scene.root.rglob('*') if '.tmp' in p.name]


def test_calibration_figures_are_sane(scene: SceneManifest) -> None:
    figures = scene.calibration
    names = set(SCHEMES['enviroatlas'].names)
    assert figures['prior_sigma'] == 31
    assert figures['prior_kernel_size'] == 101
    for key in ('prior_argmax', 'imagery_classifier'):
        assert 0.3 < figures[f'{key}_accuracy'] < 0.97
        assert 0.1 < figures[f'{key}_miou'] < figures[f'{key}_accuracy']
        assert set(figures[f'{key}_iou']) == names
        assert all(0 <= v <= 1 for v in figures[f'{key}_iou'].values())
    # Roads and small buildings are invisible to the blurred coarse prior.
    assert figures['prior_argmax_iou']['Impervious Surface'] < 0.3
    assert figures['imagery_classifier_iou']['Impervious Surface'] > 0.5
    assert 0.2 < figures['imagery_nearest_mean_accuracy'] < 0.97


@pytest.mark.slow
def test_default_scene_calibration(tmp_path: Path) -> None:
    figures = make_scene(tmp_path).calibration
    assert 0.55 <= figures['prior_argmax_accuracy'] <= 0.75
    assert figures['prior_argmax_miou'] < figures['prior_argmax_accuracy'] - 0.1
    assert figures['prior_argmax_iou']['Impervious Surface'] < 0.2
    accuracy = figures['imagery_classifier_accuracy']
    assert figures['prior_argmax_accuracy'] + 0.08 < accuracy < 0.95


def test_single_small_tile(tmp_path: Path) -> None:
    scene = make_scene(tmp_path, size=64, tiles=1, seed=9)
    assert read(scene.lc_paths[0]).shape == (1, 64, 64)
    assert read(scene.nlcd_paths[0]).shape == (1, 3, 3)
    assert 'west half' in scene.calibration['imagery_classifier']


def test_without_calibration_with_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = make_scene(tmp_path, size=96, tiles=1, progress=True, calibrate=False)
    assert scene.calibration == {}
    assert json.loads((tmp_path / 'manifest.json').read_text())['calibration'] == {}
    assert 'scene' in capsys.readouterr().err


@pytest.mark.parametrize(
    ('arguments', 'message'),
    [
        ({'size': 63}, 'size must be at least 64'),
        ({'size': 0}, 'size must be at least 64'),
        ({'tiles': 0}, 'tiles must be at least 1'),
        ({'seed': -1}, 'seed must be at least 0'),
        ({'label_noise': 1.5}, 'label_noise must be between 0 and 1'),
    ],
)
def test_bad_arguments(
    tmp_path: Path, arguments: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_scene(tmp_path / 'out', **arguments)  # type: ignore[arg-type]
    assert not (tmp_path / 'out').exists()


def test_non_integer_size(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match='size must be an integer'):
        make_scene(tmp_path, size=512.0)  # type: ignore[arg-type]


def test_out_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / 'scene'
    path.write_text('not a folder')
    with pytest.raises(NotADirectoryError, match='exists and is not a directory'):
        make_scene(path, size=64, tiles=1)
    assert path.read_text() == 'not a folder'

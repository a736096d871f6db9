import numpy as np
import pytest
from scipy.signal import correlate

from tests.reference_prior import matrix_with_nodata_row, paper_prior
from torchgeo_lsr.priors.blur import gaussian_kernel1d
from torchgeo_lsr.priors.builder import PriorBuilder
from torchgeo_lsr.priors.cooccurrence import Cooccurrence
from torchgeo_lsr.priors.fusion import (
    FusionRule,
    LayerInput,
    RuleSet,
    box_mean,
    dilate,
    load_rules,
)
from torchgeo_lsr.schemes import SCHEMES, generic_scheme

from .conftest import blocky_codes

PAPER_LAYERS = ('roads', 'buildings', 'waterways', 'waterbodies')

FINE = generic_scheme([1, 2, 3], ['water', 'built', 'green'], name='fine')
MATRIX = Cooccurrence(
    np.array([[0.8, 0.1, 0.0, 0.0], [0.1, 0.7, 0.2, 0.0], [0.1, 0.2, 0.8, 0.0]]),
    FINE,
    (11, 21, 41, 12),  # 12 never co-occurred: no information
)


def reference_prior(
    codes: np.ndarray, matrix: Cooccurrence, sigma: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot, 2-D truncated Gaussian with reflect padding, remap, normalise."""
    onehot = np.stack([(codes == c).astype(np.float64) for c in matrix.coarse_codes])
    kernel = gaussian_kernel1d(sigma, size)
    radius = size // 2
    padded = np.pad(onehot, ((0, 0), (radius, radius), (radius, radius)), 'reflect')
    blurred = np.stack(
        [correlate(p, np.outer(kernel, kernel), mode='valid') for p in padded]
    )
    raw = np.tensordot(matrix.matrix, blurred, axes=1)
    total = raw.sum(0)
    valid = total > 1e-6
    return np.where(valid, raw / np.where(valid, total, 1), 0), valid


@pytest.mark.parametrize(('sigma', 'size'), [(3.0, 9), (6.0, 13)])
def test_matches_reference_including_edges_and_nodata(sigma: float, size: int) -> None:
    codes = blocky_codes((37, 45), 5, [0, 11, 21, 41, 12], seed=1)
    codes[:12, :14] = 0  # a nodata corner larger than the kernel
    builder = PriorBuilder(MATRIX, sigma=sigma, kernel_size=size, coarse_nodata=[0])
    prior, valid = builder(codes)
    expected, expected_valid = reference_prior(codes, MATRIX, sigma, size)
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_allclose(prior, expected, atol=2e-5)
    assert not valid[:3, :3].any()  # far inside the nodata corner
    np.testing.assert_allclose(prior.sum(0)[valid], 1, atol=1e-5)


def test_windows_with_halo_equal_the_whole_raster() -> None:
    codes = blocky_codes((50, 61), 4, [0, 11, 21, 41], seed=2)
    builder = PriorBuilder(MATRIX, sigma=2.0, kernel_size=7, coarse_nodata=[0])
    whole, _ = builder(codes)
    halo = builder.halo
    for size in (8, 17):
        tiled = np.zeros_like(whole)
        for row in range(0, 50, size):
            for col in range(0, 61, size):
                h, w = min(size, 50 - row), min(size, 61 - col)
                top, left = max(0, row - halo), max(0, col - halo)
                bottom, right = min(50, row + h + halo), min(61, col + w + halo)
                missing = (
                    halo - (row - top),
                    halo - (bottom - row - h),
                    halo - (col - left),
                    halo - (right - col - w),
                )
                prior, _ = builder.build_window(codes[top:bottom, left:right], missing)
                tiled[:, row : row + h, col : col + w] = prior
        np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_unknown_codes_are_named() -> None:
    builder = PriorBuilder(MATRIX, sigma=1.0, kernel_size=3, coarse_nodata=[0])
    codes = np.array([[11, 95, 0], [128, 21, 41]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r'coarse codes \[95, 128\] are not columns'):
        builder(codes)


def test_nodata_codes_must_not_be_columns() -> None:
    with pytest.raises(ValueError, match='both nodata and matrix columns'):
        PriorBuilder(MATRIX, coarse_nodata=[11])


def test_float_codes_with_nan_nodata() -> None:
    codes = blocky_codes((20, 20), 4, [11, 21], seed=3).astype(np.float32)
    codes[:, :10] = np.nan
    builder = PriorBuilder(MATRIX, sigma=1.0, kernel_size=3)
    prior, valid = builder(codes)
    assert valid[:, 11:].all()
    assert not valid[:, :8].any()
    assert (prior[:, ~valid] == 0).all()


def test_fusion_rules_on_arrays() -> None:
    scheme_names = ['Water', 'Impervious Surface', 'Soil and Barren', 'Trees', 'Grass']
    fine = generic_scheme([10, 20, 30, 40, 70], scheme_names)
    matrix = Cooccurrence(np.eye(5)[:, [4, 4, 3]], fine, (71, 81, 41))
    builder = PriorBuilder(
        matrix, sigma=2.0, kernel_size=5, rules='enviroatlas', coarse_nodata=[0]
    )
    codes = np.full((30, 30), 71, np.uint8)
    roads = np.zeros((30, 30), np.float32)
    roads[15, :] = 1
    zeros = np.zeros((30, 30), np.float32)
    layers = {
        'roads': roads,
        'buildings': zeros,
        'waterways': zeros,
        'waterbodies': zeros,
    }
    prior, valid = builder(codes, layers)
    assert valid.all()
    # Grass everywhere plus a 9x9 box mean of the road line on impervious.
    soft = box_mean(roads, 9)
    expected_impervious = soft / (1 + soft)
    np.testing.assert_allclose(prior[1], expected_impervious, atol=1e-6)
    np.testing.assert_allclose(prior[4], 1 - expected_impervious, atol=1e-6)
    assert builder.halo == max(2, load_rules('enviroatlas').radius + 1)
    with pytest.raises(ValueError, match='need a layer named'):
        builder(codes, {'roads': roads})
    assert dilate(roads, 3).sum() == 90


def test_stages_show_each_step_and_end_at_the_prior() -> None:
    scheme_names = ['Water', 'Impervious Surface', 'Soil and Barren', 'Trees', 'Grass']
    fine = generic_scheme([10, 20, 30, 40, 70], scheme_names)
    matrix = Cooccurrence(np.eye(5)[:, [4, 3, 0]], fine, (71, 41, 11))
    builder = PriorBuilder(matrix, sigma=2.0, kernel_size=7, rules='enviroatlas')
    codes = blocky_codes((40, 48), 8, [71, 41, 11], seed=3)
    roads = np.zeros(codes.shape, np.float32)
    roads[20, :] = 1
    buildings = np.zeros(codes.shape, np.float32)
    buildings[5:9, 30:36] = 1
    zeros = np.zeros(codes.shape, np.float32)
    layers = {
        'roads': roads,
        'buildings': buildings,
        'waterways': zeros,
        'waterbodies': zeros,
    }
    stages = builder.stages(codes, layers)
    rule_names = [rule.name for rule in builder.rules.rules]  # type: ignore[union-attr]
    assert list(stages) == [
        'remapped',
        'blurred',
        *[f'+ {n}' for n in rule_names],
        'prior',
    ]
    # The remapped step is each pixel's column, unblurred.
    column = {code: i for i, code in enumerate(matrix.coarse_codes)}
    expected = matrix.matrix[:, np.vectorize(column.get)(codes)]
    np.testing.assert_allclose(stages['remapped'], expected)
    # Without rules, the blurred step is the prior of a builder without rules.
    plain, _ = PriorBuilder(matrix, sigma=2.0, kernel_size=7)(codes)
    np.testing.assert_allclose(stages['blurred'], plain, atol=1e-6)
    # The last rule's stage and the returned prior equal the builder's output.
    prior, _ = builder(codes, layers)
    np.testing.assert_array_equal(stages['prior'], prior)
    np.testing.assert_allclose(stages[f'+ {rule_names[-1]}'], prior, atol=1e-6)
    # The road rule raises impervious only along the road.
    before = stages['blurred'][1]
    after = stages[f'+ {rule_names[1]}'][1]
    assert (after[20] > before[20] + 0.05).all()  # + 1/9, renormalised
    np.testing.assert_allclose(after[:10, :20], before[:10, :20], atol=1e-6)


# Issue 16 item 2: the paper's order (REFERENCE §2.3): fusion evidence is added to
# the class mass L1-normalised over no-data + classes, then the no-data row is
# dropped and the classes renormalised. The old builder renormalised over the
# classes first and added evidence only where the coarse labels had information.

EA = SCHEMES['enviroatlas']
ROADS_ONLY = RuleSet(
    (FusionRule('Impervious Surface', (LayerInput('roads'),), box_mean=9),)
)


def test_evidence_is_added_before_the_nodata_mass_is_dropped() -> None:
    # Kernel [1/4, 1/2, 1/4] per axis and alternating nodata / NLCD 81 columns:
    # every pixel sees exactly 50 % nodata. NLCD 81 is 20 % impervious; a road
    # covers everything (box mean 1). §2.3: (0.5 * 0.2 + 1) / (0.5 + 1) = 0.733;
    # the old order gave (0.2 + 1) / (1 + 1) = 0.6.
    matrix = Cooccurrence(np.array([[0], [0.2], [0], [0], [0.8]]), EA, (81,))
    sigma = float(np.sqrt(0.5 / np.log(2)))
    np.testing.assert_allclose(gaussian_kernel1d(sigma, 3), [0.25, 0.5, 0.25])
    codes = np.zeros((12, 12), np.uint8)
    codes[:, ::2] = 81
    builder = PriorBuilder(matrix, sigma, 3, ROADS_ONLY, coarse_nodata=[0])
    roads = np.ones(codes.shape, np.float32)
    prior, valid = builder(codes, {'roads': roads})
    assert valid.all()
    np.testing.assert_allclose(prior[1], (0.5 * 0.2 + 1) / 1.5, atol=1e-6)
    np.testing.assert_allclose(prior[4], 0.5 * 0.8 / 1.5, atol=1e-6)
    # The same from the independent reference.
    index = np.where(codes == 81, 1, 0)
    expected, _ = paper_prior(
        index, matrix_with_nodata_row(matrix.matrix, [1], 2), sigma, 3, {'roads': roads}
    )
    np.testing.assert_allclose(prior, expected, atol=1e-6)


def test_a_road_without_coarse_information_gets_a_prior() -> None:
    matrix = Cooccurrence(np.array([[0], [0.2], [0], [0], [0.8]]), EA, (81,))
    codes = np.zeros((40, 40), np.uint8)  # all nodata ...
    codes[:, 30:] = 81  # ... except a strip far from the road
    roads = np.zeros(codes.shape, np.float32)
    roads[10, :] = 1
    builder = PriorBuilder(matrix, 1.0, 3, ROADS_ONLY, coarse_nodata=[0])
    prior, valid = builder(codes, {'roads': roads})
    assert valid[6:15, :20].all()  # the road's 9x9 box mean reaches 4 rows
    assert not valid[20:, :20].any()  # no information, no evidence
    np.testing.assert_allclose(prior[1, 6:15, :20], 1.0, atol=1e-6)
    np.testing.assert_allclose(prior[:, ~valid], 0)


@pytest.mark.parametrize(('sigma', 'size'), [(2.0, 7), (4.0, 13)])
def test_fused_prior_matches_the_independent_reference(sigma: float, size: int) -> None:
    # Interior and edges, a nodata corner larger than the kernel, an empty column
    # (12) and all four paper layers crossing nodata and the raster's edges.
    fine = generic_scheme(
        [10, 20, 30, 40, 70],
        ['Water', 'Impervious Surface', 'Soil and Barren', 'Trees', 'Grass'],
    )
    rng = np.random.default_rng(5)
    values = rng.random((5, 4))
    values[:, 3] = 0  # code 12: no information
    values[:, :3] /= values[:, :3].sum(0)
    matrix = Cooccurrence(values, fine, (11, 21, 41, 12))
    codes = blocky_codes((41, 47), 5, [0, 11, 21, 41, 12], seed=4)
    codes[:15, :15] = 0
    layers = {name: np.zeros(codes.shape, np.float32) for name in PAPER_LAYERS}
    layers['roads'][7, :] = 1  # through the nodata corner to both edges
    layers['roads'][:, 44] = 1
    layers['buildings'][30:36, 0:5] = 1  # on the left edge
    layers['waterways'][:, 3] = 1  # dilated 5x5, inside the nodata corner too
    layers['waterbodies'][38:, 20:30] = 1  # on the bottom edge
    builder = PriorBuilder(matrix, sigma, size, 'enviroatlas', coarse_nodata=[0])
    prior, valid = builder(codes, layers)
    index = {0: 0, 11: 1, 21: 2, 41: 3, 12: 4}
    expected, expected_valid = paper_prior(
        np.vectorize(index.get)(codes),
        matrix_with_nodata_row(matrix.matrix, [1, 2, 3, 4], 5),
        sigma,
        size,
        layers,
    )
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_allclose(prior, expected, atol=1e-5)
    assert valid[7, :15].all()  # the road in the nodata corner has a prior

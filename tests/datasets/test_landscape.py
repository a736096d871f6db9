from pathlib import Path

import numpy as np
import pytest
import rasterio

from torchgeo_lsr.datasets.landscape import LandscapeOptions, Nuisances, make_landscape
from torchgeo_lsr.priors import estimate_cooccurrence
from torchgeo_lsr.schemes import load_scheme


def _read(path: str) -> tuple[np.ndarray, rasterio.Affine, str]:
    with rasterio.open(path) as src:
        return src.read(), src.transform, src.crs.to_string()


@pytest.mark.parametrize(
    'options',
    [
        LandscapeOptions('rural', 5, 4, 1.0, 'rules', 30),
        LandscapeOptions('urban', 6, 3, 2.0, 'mode', 15, crs='EPSG:32755'),
        LandscapeOptions('arid', 6, 6, 30.0, 'scheme', 8, label_noise=0.1),
        LandscapeOptions(
            'wetland', 4, 8, 10.0, 'mode', 12, nuisances=Nuisances(season=0.8)
        ),
    ],
)
def test_landscape_files_fit_together(
    tmp_path: Path, options: LandscapeOptions
) -> None:
    manifest = make_landscape(tmp_path, options, size=96, tiles=2, seed=3)
    image, image_t, crs = _read(manifest['files']['image'][0])
    labels, labels_t, _ = _read(manifest['files']['labels'][0])
    coarse, coarse_t, _ = _read(manifest['files']['coarse'][0])
    assert crs == options.crs
    assert image.shape == (options.bands, 96, 96)
    assert image.dtype == (np.uint8 if options.bands <= 4 else np.uint16)
    assert image.min() >= 1  # 0 is nodata
    assert labels_t == image_t
    assert image_t.a == options.resolution
    assert coarse_t.a == options.resolution * options.coarse_factor
    assert coarse.shape[1] == -(-96 // options.coarse_factor)
    assert set(np.unique(labels)) <= set(range(1, options.num_classes + 1))
    fine = load_scheme(manifest['fine_scheme'])
    coarse_scheme = load_scheme(manifest['coarse_scheme'])
    assert fine.num_classes == options.num_classes
    assert not coarse_scheme.unknown_codes(np.unique(coarse))
    pairs = [
        (c, f)
        for c, f in zip(
            manifest['files']['coarse'], manifest['files']['labels'], strict=True
        )
    ]
    matrix = estimate_cooccurrence(pairs, coarse_scheme, fine)
    assert matrix.matrix.shape[0] == options.num_classes
    # Tiles do not overlap: the coarse raster of tile 0 ends before tile 1 starts.
    _, tile1_t, _ = _read(manifest['files']['image'][1])
    assert tile1_t.c >= coarse_t.c + coarse.shape[2] * coarse_t.a


def test_landscape_is_deterministic_and_rare_class_is_rare(tmp_path: Path) -> None:
    options = LandscapeOptions('rural', 8, 4, 1.0, 'rules', 30, rare_share=0.006)
    first = make_landscape(tmp_path / 'a', options, size=256, tiles=1, seed=5)
    second = make_landscape(tmp_path / 'b', options, size=256, tiles=1, seed=5)
    a = _read(first['files']['image'][0])[0]
    b = _read(second['files']['image'][0])[0]
    assert np.array_equal(a, b)
    assert first['class_shares']['wetland'] < 0.03
    assert sum(first['class_shares'].values()) == pytest.approx(1.0, abs=1e-3)


def test_nodata_corner_is_zero_in_every_band(tmp_path: Path) -> None:
    options = LandscapeOptions(nodata_corner=0.3)
    manifest = make_landscape(tmp_path, options, size=64, tiles=1)
    image = _read(manifest['files']['image'][0])[0]
    assert (image[:, 0, 0] == 0).all()
    assert (image[:, -1, -1] > 0).all()


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'style': 'lunar'}, 'unknown style'),
        ({'bands': 2}, 'bands must be'),
        ({'coarse_kind': 'majority'}, 'unknown coarse_kind'),
        ({'num_classes': 9}, 'num_classes'),
        ({'rare_share': 0.7}, 'rare_share'),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LandscapeOptions(**kwargs)  # type: ignore[arg-type]

from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds
from shapely.geometry import LineString

from torchgeo_lsr.priors.builder import PriorBuilder
from torchgeo_lsr.priors.cooccurrence import Cooccurrence
from torchgeo_lsr.priors.raster import write_prior
from torchgeo_lsr.schemes import generic_scheme

from .conftest import ALBERS, UTM, WriteRaster, blocky_codes
from .test_builder import MATRIX


@pytest.fixture
def builder() -> PriorBuilder:
    return PriorBuilder(MATRIX, sigma=3.0, kernel_size=9, coarse_nodata=[0])


def test_whole_raster_matches_the_array_api(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    codes = blocky_codes((300, 530), 30, [0, 11, 21, 41], seed=5)
    coarse = raster('coarse.tif', codes)
    expected, valid = builder(codes)
    for block in (256, 512):
        out = write_prior(builder, coarse, tmp_path / f'p{block}.tif', block_size=block)
        with rasterio.open(out) as src:
            assert src.count == 3
            assert src.descriptions == ('water', 'built', 'green')
            assert src.profile['tiled']
            assert src.compression.value == 'DEFLATE'
            assert np.isnan(src.nodata)
            assert src.crs == UTM
            prior = src.read()
        np.testing.assert_allclose(prior[:, valid], expected[:, valid], atol=1e-6)
        assert np.isnan(prior[:, ~valid]).all()


@pytest.mark.parametrize('dtype', ['float32', 'uint8'])
def test_blocks_with_halos_wider_than_the_last_block(
    raster: WriteRaster, tmp_path: Path, dtype: str
) -> None:
    # 257 x 513 with 256-pixel blocks: the last row and column of blocks are one
    # pixel wide, far narrower than the 15-pixel halo the kernel needs.
    wide = PriorBuilder(MATRIX, sigma=5.0, kernel_size=31, coarse_nodata=[0])
    assert wide.halo == 15
    codes = blocky_codes((257, 513), 30, [0, 11, 21, 41], seed=9)
    expected, valid = wide(codes)
    out = write_prior(
        wide,
        raster('coarse.tif', codes),
        tmp_path / 'p.tif',
        dtype=dtype,  # type: ignore[arg-type]
        block_size=256,
        progress=False,
    )
    with rasterio.open(out) as src:
        assert (src.height, src.width) == (257, 513)
        prior = src.read()
        mask = src.dataset_mask()
    if dtype == 'float32':
        np.testing.assert_allclose(prior[:, valid], expected[:, valid], atol=1e-6)
        assert np.isnan(prior[:, ~valid]).all()
    else:
        np.testing.assert_array_equal(mask > 0, valid)
        scaled = np.floor(np.clip(expected[:, valid], 0, 1) * 255).astype(np.uint8)
        # float32 rounding may move a value across a 1/255 step.
        assert np.abs(prior[:, valid].astype(int) - scaled).max() <= 1


def test_profile_and_tags(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    codes = blocky_codes((40, 50), 8, [11, 21], seed=3)
    for dtype, predictor in (('float32', 3), ('uint8', 2)):
        out = write_prior(
            builder,
            raster('c.tif', codes),
            tmp_path / f'{dtype}.tif',
            dtype=dtype,  # type: ignore[arg-type]
            progress=False,
        )
        with rasterio.open(out) as src:
            assert src.profile['blockxsize'] == 256
            assert src.interleaving.value == 'PIXEL'
            assert int(src.tags(ns='IMAGE_STRUCTURE').get('PREDICTOR', 0)) == predictor
            assert (src.nodata is not None) == (dtype == 'float32')
            tags = src.tags()
        assert tags['scheme'] == builder.scheme.name
        assert tags['class_codes'] == ','.join(map(str, builder.scheme.codes))
        assert tags['sigma'] == str(builder.sigma)
        assert tags['kernel_size'] == str(builder.kernel_size)
        assert tags.get('fusion_rules', '') == ''  # GDAL drops empty tags


def test_no_overlap_names_both_extents(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    elsewhere = raster(
        'far.tif', np.full((8, 8), 11, np.uint8), crs=ALBERS, origin=(0.0, 10.0)
    )
    like = raster('like.tif', np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match='does not overlap') as error:
        write_prior(builder, elsewhere, tmp_path / 'p.tif', like=like)
    message = str(error.value)
    assert 'far.tif' in message
    assert (
        'the output grid bounds (500000.0, 4399992.0, 500008.0, 4400000.0)' in message
    )
    assert 'EPSG:32617' in message
    assert 'EPSG:5070' in message


def test_like_sets_the_grid_across_crs_and_resolution(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    # 30 m coarse labels in Albers; the output follows a 2 m UTM image grid.
    coarse = raster(
        'nlcd.tif',
        blocky_codes((40, 40), 1, [11, 21, 41], seed=6),
        crs=ALBERS,
        origin=(1_000_000.0, 2_000_000.0),
        resolution=30.0,
    )
    with rasterio.open(coarse) as src:
        left, bottom, right, top = transform_bounds(ALBERS, UTM, *src.bounds)
    image = raster(
        'image.tif',
        np.zeros((3, 200, 250), np.uint8),
        origin=((left + right) / 2 - 250, (bottom + top) / 2 + 200),
        resolution=2.0,
    )
    out = write_prior(builder, coarse, tmp_path / 'prior.tif', like=image)
    with rasterio.open(out) as src, rasterio.open(image) as ref:
        assert src.crs == ref.crs
        assert src.transform == ref.transform
        assert (src.width, src.height) == (250, 200)
        prior = src.read()
    assert np.isfinite(prior).all()
    np.testing.assert_allclose(prior.sum(0), 1, atol=1e-5)


def test_uint8_output_with_mask(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    codes = blocky_codes((64, 64), 8, [11, 21], seed=7)
    codes[:, :20] = 0
    out = write_prior(
        builder, raster('c.tif', codes), tmp_path / 'p.tif', dtype='uint8'
    )
    expected, valid = builder(codes)
    with rasterio.open(out) as src:
        assert src.dtypes[0] == 'uint8'
        stored = src.read()
        mask = src.dataset_mask()
    np.testing.assert_array_equal(mask > 0, valid)
    np.testing.assert_array_equal(
        stored[:, valid], np.floor(expected[:, valid] * 255).astype(np.uint8)
    )


def test_vector_and_raster_layers(raster: WriteRaster, tmp_path: Path) -> None:
    names = ['Water', 'Impervious Surface', 'Soil and Barren', 'Trees', 'Grass']
    matrix = Cooccurrence(
        np.eye(5)[:, [4]], generic_scheme([10, 20, 30, 40, 70], names), (71,)
    )
    builder = PriorBuilder(matrix, sigma=2.0, kernel_size=5, rules='enviroatlas')
    coarse = raster('c.tif', np.full((60, 80), 71, np.uint8))
    # A road along row 30 (in map coordinates), in another CRS, as a vector file.
    y = 4_400_000.0 - 30.5
    road = geopandas.GeoDataFrame(
        geometry=[LineString([(500_000.0, y), (500_080.0, y)])], crs=UTM
    ).to_crs(ALBERS)
    road.to_file(tmp_path / 'roads.gpkg')
    buildings = np.zeros((60, 80), np.uint8)
    buildings[5:8, 5:8] = 1
    layers = {
        'roads': tmp_path / 'roads.gpkg',
        'buildings': raster('buildings.tif', buildings),
        'waterways': raster('ww.tif', np.zeros((60, 80), np.uint8)),
        'waterbodies': raster('wb.tif', np.zeros((60, 80), np.uint8)),
    }
    out = write_prior(builder, coarse, tmp_path / 'p.tif', layers=layers)
    with rasterio.open(out) as src:
        impervious = src.read(2)
    # The road (widened to 3 rows) raises impervious near row 30, not far from it.
    assert impervious[30, 40] == pytest.approx((1 / 3) / (1 + 1 / 3), abs=1e-6)
    assert impervious[50, 40] == pytest.approx(0.0, abs=1e-6)
    # The building: a 3x3 square, 9x9 box mean 1/9 at its centre, renormalised.
    assert impervious[6, 6] == pytest.approx((1 / 9) / (1 + 1 / 9), abs=1e-6)
    assert impervious[30, 40] > impervious[34, 40] > impervious[36, 40]


def test_errors_leave_nothing_behind(
    raster: WriteRaster, builder: PriorBuilder, tmp_path: Path
) -> None:
    out = tmp_path / 'out' / 'p.tif'
    unknown = raster('u.tif', np.array([[11, 95], [128, 21]], np.uint8))
    with pytest.raises(ValueError, match=r'\[95, 128\]'):
        write_prior(builder, unknown, out)
    elsewhere = raster(
        'far.tif', np.full((8, 8), 11, np.uint8), crs=ALBERS, origin=(0.0, 10.0)
    )
    like = raster('like.tif', np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match='does not overlap'):
        write_prior(builder, elsewhere, out, like=like)
    with pytest.raises(ValueError, match='block_size'):
        write_prior(builder, like, out, block_size=100)
    fused = PriorBuilder(MATRIX, sigma=1.0, kernel_size=3, rules='enviroatlas')
    with pytest.raises(ValueError, match='need layers'):
        write_prior(fused, like, out)
    assert not out.exists()
    assert not any(out.parent.glob('*')) if out.parent.exists() else True


def test_interrupted_write_keeps_the_old_file(
    raster: WriteRaster,
    builder: PriorBuilder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coarse = raster('c.tif', blocky_codes((600, 300), 30, [11, 21], seed=8))
    out = tmp_path / 'p.tif'
    out.write_bytes(b'previous result')
    calls = []
    original = builder.build_window

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, 'build_window', failing)
    with pytest.raises(KeyboardInterrupt):
        write_prior(builder, coarse, out, block_size=256)
    assert out.read_bytes() == b'previous result'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['c.tif', 'p.tif']

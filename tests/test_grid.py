import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from torchgeo_lsr.grid import (
    check_overlap,
    crs_name,
    geotiff_profile,
    halo_window,
    iter_blocks,
    sample_windows,
    window_bounds,
)

UTM = CRS.from_epsg(32617)
WGS84 = CRS.from_epsg(4326)


def test_blocks_cover_the_grid_once() -> None:
    seen = np.zeros((10, 7), int)
    blocks = list(iter_blocks(10, 7, 4, halo=2))
    for block in blocks:
        window = block.window
        rows = slice(window.row_off, window.row_off + window.height)
        cols = slice(window.col_off, window.col_off + window.width)
        seen[rows, cols] += 1
    assert (seen == 1).all()
    # Row-major.
    assert [(b.row, b.col) for b in blocks][:3] == [(0, 0), (0, 4), (4, 0)]


@pytest.mark.parametrize('halo', [0, 1, 3, 9])
def test_block_halo_read_and_cut(halo: int) -> None:
    grid = np.arange(13 * 11).reshape(13, 11)
    padded = np.pad(grid, halo, constant_values=-1)
    for block in iter_blocks(13, 11, 5, halo=halo):
        read = block.read_window
        array = grid[
            read.row_off : read.row_off + read.height,
            read.col_off : read.col_off + read.width,
        ]
        top, bottom, left, right = block.cut
        # The read array plus the cut-off halo is the block with its full halo.
        full = padded[
            block.row : block.row + block.height + 2 * halo,
            block.col : block.col + block.width + 2 * halo,
        ]
        inner = full[top : full.shape[0] - bottom, left : full.shape[1] - right]
        np.testing.assert_array_equal(inner, array)
        assert (full[:top] == -1).all()
        assert (full[full.shape[0] - bottom :] == -1).all()
        rows, cols = block.inner
        np.testing.assert_array_equal(
            array[rows, cols],
            grid[
                block.row : block.row + block.height,
                block.col : block.col + block.width,
            ],
        )


def test_halo_window_within_limits() -> None:
    # A window at the tile's left edge inside a larger sample.
    rows, cols, cut = halo_window((10, 20), (7, 12), 4, (0, 100, 5, 50))
    assert rows == (6, 24)
    assert cols == (5, 16)
    assert cut == (0, 0, 2, 0)


def test_iter_blocks_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match='block size must be positive'):
        list(iter_blocks(4, 4, 0))
    with pytest.raises(ValueError, match='halo must be >= 0'):
        list(iter_blocks(4, 4, 2, halo=-1))


def test_sample_windows() -> None:
    assert sample_windows(100, 50, 10_000) == [Window(0, 0, 50, 100)]
    windows = sample_windows(2000, 1000, 100_000)
    assert len(windows) >= 100_000 // 128**2
    for window in windows:
        assert window.width == window.height == 128
        assert 0 <= window.row_off <= 2000 - 128
        assert 0 <= window.col_off <= 1000 - 128


def test_check_overlap_same_crs() -> None:
    shared = check_overlap(
        (0, 0, 10, 10),
        (5, 5, 20, 20),
        first_name='the imagery',
        second_name='the coarse labels',
        first_crs=UTM,
        plural=True,
    )
    assert shared.bounds == (5, 5, 10, 10)
    with pytest.raises(
        ValueError, match='coarse labels do not overlap the imagery'
    ) as e:
        check_overlap(
            (0, 0, 10, 10),
            (10, 0, 20, 10),
            first_name='the imagery',
            second_name='the coarse labels',
            first_crs=UTM,
            plural=True,
        )
    message = str(e.value)
    assert '(0.0, 0.0, 10.0, 10.0)' in message
    assert 'EPSG:32617' in message


def test_check_overlap_other_crs_and_geometries() -> None:
    # A box near (0 E, 0 N) in degrees against the same area in web mercator.
    mercator = CRS.from_epsg(3857)
    check_overlap(
        (-1000, -1000, 1000, 1000),
        (-0.001, -0.001, 0.001, 0.001),
        first_name='the map',
        second_name='the labels',
        first_crs=mercator,
        second_crs=WGS84,
    )
    with pytest.raises(ValueError, match='does not overlap the map') as e:
        check_overlap(
            shapely.box(-1000, -1000, 1000, 1000),
            (10, 10, 11, 11),
            first_name='the map',
            second_name='the label raster',
            first_crs=mercator,
            second_crs=WGS84,
        )
    assert 'EPSG:4326' in str(e.value)
    assert 'EPSG:3857' in str(e.value)
    with pytest.raises(ValueError, match='has no CRS'):
        check_overlap(
            (0, 0, 1, 1), (0, 0, 1, 1), first_name='a', second_name='b', first_crs=None
        )


def test_profile_and_names() -> None:
    profile = geotiff_profile(UTM, Affine.identity(), 5, 4, 3, 'uint8', nodata=0)
    assert profile['interleave'] == 'pixel'
    assert profile['nodata'] == 0
    assert geotiff_profile(UTM, Affine.identity(), 5, 4, 1, 'uint8')['interleave'] == (
        'band'
    )
    assert crs_name(UTM) == 'EPSG:32617'
    assert crs_name(None) == 'no CRS'
    assert window_bounds(Window(0, 0, 2, 3), Affine(1, 0, 10, 0, -1, 20)) == (
        10,
        17,
        12,
        20,
    )

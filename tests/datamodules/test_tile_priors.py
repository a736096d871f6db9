"""Per-tile priors: on-the-fly priors equal the raster writer's, tile by tile."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from tests.datamodules.two_tiles import TILE, X0, Y0, datamodule, write
from torchgeo_lsr.datamodules.tile_priors import (
    TileLayout,
    TilePriors,
    tile_ids,
    tile_pixels,
)
from torchgeo_lsr.priors import PriorBuilder, write_prior


def test_on_the_fly_priors_equal_precomputed(scene: Path, tmp_path: Path) -> None:
    builder = PriorBuilder(
        'enviroatlas-pittsburgh', sigma=4.0, kernel_size=9, coarse_nodata=[0]
    )
    for i in range(2):
        write_prior(
            builder,
            scene / 'nlcd' / 'nlcd.tif',
            tmp_path / 'prior' / f'tile_{i}.tif',
            like=scene / 'naip' / f'tile_{i}.tif',
            progress=False,
        )
    fly = datamodule(scene)
    pre = datamodule(scene, prior_paths=tmp_path / 'prior', coarse_paths=None)
    fly.setup('validate')
    pre.setup('validate')
    m = fly.margin
    assert m == builder.halo
    assert pre.margin == 0
    assert datamodule(scene, context=5).margin == m + 5
    # Patches in a tile's interior, at its corner, at the edge shared by tiles, and
    # straddling it (each tile's part gets that tile's prior).
    for x, y in [
        (X0 + 60, Y0 - 60),
        (X0, Y0),
        (X0 + TILE - 32, Y0 - 100),
        (X0 + TILE, Y0 - 32),
        (X0 + TILE - 13, Y0 - 70),
    ]:
        a = fly.val_dataset[x : x + 32, y - 32 : y]
        b = pre.val_dataset[x : x + 32, y - 32 : y]
        torch.testing.assert_close(a['prior'], b['prior'], atol=1e-5, rtol=0)
        torch.testing.assert_close(a['image'], b['image'])
        assert torch.equal(a['valid'], b['valid'])
        torch.testing.assert_close(a['bounds'], b['bounds'][:9])


def test_coarse_lookup_reads_class_indices(scene: Path, tmp_path: Path) -> None:
    # The NLCD raster rewritten as class indices 1..5 of [11, 21, 22, 41, 81].
    codes = [11, 21, 22, 41, 81]
    with rasterio.open(scene / 'nlcd' / 'nlcd.tif') as src:
        data = src.read(1)
    index = np.zeros_like(data)
    for i, code in enumerate(codes, start=1):
        index[data == code] = i
    write(tmp_path / 'index' / 'nlcd.tif', index, X0 - 15, Y0 + 15, res=30.0)
    by_code = datamodule(scene)
    by_index = datamodule(
        scene, coarse_paths=tmp_path / 'index', coarse_lookup=[0, *codes]
    )
    by_code.setup('validate')
    by_index.setup('validate')
    a = by_code.val_dataset[X0 + 10 : X0 + 42, Y0 - 42 : Y0 - 10]
    b = by_index.val_dataset[X0 + 10 : X0 + 42, Y0 - 42 : Y0 - 10]
    torch.testing.assert_close(a['prior'], b['prior'])


def test_tile_pixels_and_windows() -> None:
    transform = Affine(1.0, 0.0, 100.0, 0.0, -1.0, 50.0)  # 1 m pixels from (100, 50)
    assert tile_pixels((100, 40, 110, 50), transform, (20, 20)) == (0, 10, 0, 10)
    # Clipped to the grid.
    assert tile_pixels((90, 20, 130, 60), transform, (20, 20)) == (0, 20, 0, 20)
    layout = TileLayout(
        bounds=((100, 30, 110, 50), (110, 30, 130, 50), (500, 0, 510, 10)),
        paths=('a.tif', 'b.tif', 'c.tif'),
    )
    windows = layout.windows(transform, (20, 20))
    assert windows == [(0, (0, 20, 0, 10)), (1, (0, 20, 10, 20))]  # c misses it
    tile = tile_ids(windows, (20, 20))
    assert (tile[:, :10] == 0).all()
    assert (tile[:, 10:] == 1).all()
    assert (tile_ids([(0, (0, 5, 0, 5))], (10, 10)) == -1).sum() == 75


def test_tile_priors_cut_the_halo_at_each_tile_edge() -> None:
    builder = PriorBuilder(
        'enviroatlas-pittsburgh', sigma=2.0, kernel_size=5, coarse_nodata=[0]
    )
    halo = builder.halo
    priors = TilePriors(builder=builder)
    with pytest.raises(TypeError):
        TilePriors(builder)  # type: ignore[call-arg]
    rng = np.random.default_rng(1)
    # A raw sample of 12 + 2 halo pixels whose left 6 output columns are tile 0 and
    # the rest tile 1 (the tiles meet at x = 6 + halo of the raw grid).
    size = 12 + 2 * halo
    codes = rng.choice(np.array([11, 21, 41, 81], np.float32), (size, size))
    raw = Affine(1.0, 0.0, -halo, 0.0, -1.0, 12 + halo)
    tiles = TileLayout(bounds=((-100, -100, 6, 100), (6, -100, 100, 100)))
    output = raw @ Affine.translation(halo, halo)
    windows = tiles.windows(output, (12, 12))
    assert [index for index, _ in windows] == [0, 1]
    seen = []

    def layers(rows: tuple[int, int], cols: tuple[int, int]) -> dict[str, np.ndarray]:
        seen.append((rows, cols))
        return {}

    prior, valid = priors.build(codes, raw, tiles, windows, layers)
    assert prior.shape == (5, 12, 12)
    assert valid.all()
    # Each tile's part is built from its own codes only, its far edge reflected.
    left, _ = builder.build_window(codes[:, : 6 + halo], (0, 0, 0, halo))
    right, _ = builder.build_window(codes[:, 6 + halo :], (0, 0, halo, 0))
    np.testing.assert_allclose(prior[:, :, :6].numpy(), left, atol=1e-6)
    np.testing.assert_allclose(prior[:, :, 6:].numpy(), right, atol=1e-6)
    assert seen == [((0, size), (0, 6 + halo)), ((0, size), (6 + halo, size))]


def test_coarse_lookup_table() -> None:
    builder = PriorBuilder('enviroatlas-pittsburgh', coarse_nodata=[0])
    values = np.array([[0, 1, 2], [3, np.nan, 9]], np.float32)
    plain = TilePriors(builder=builder)
    assert plain.codes(values) is values
    table = TilePriors(builder=builder, coarse_lookup=(0, 11, 21))
    # NaN stays nodata; values outside the table are refused (test below).
    known = np.array([[0, 1, 2], [2, np.nan, 0]], np.float32)
    np.testing.assert_array_equal(table.codes(known), [[0, 11, 21], [21, np.nan, 0]])
    np.testing.assert_array_equal(
        table.codes(np.array([[0, 1, 2]], np.uint8)), [[0, 11, 21]]
    )


@pytest.mark.parametrize(
    ('values', 'named'),
    [([[3, np.nan, 9]], '3, 9'), ([[-1, 0]], '-1'), ([[1.5]], '1.5'), ([[255]], '255')],
)
def test_values_outside_the_coarse_lookup_are_refused(
    values: list[list[float]], named: str
) -> None:
    """Guards issue 16 item 9: out-of-table coarse values silently became nodata.

    The old code mapped them to NaN (nodata), so a wrong table masked pixels out
    without a word; now the error names the values and the table's size.
    """
    builder = PriorBuilder('enviroatlas-pittsburgh', coarse_nodata=[0])
    table = TilePriors(builder=builder, coarse_lookup=(0, 11, 21))
    message = rf'values \[{named}\] are not in coarse_lookup \(3 entries'
    with pytest.raises(ValueError, match=message):
        table.codes(np.array(values, np.float32))

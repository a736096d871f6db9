"""Split planning: which tiles and pixels each stage uses."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import shapely
import torch

from tests.datamodules.two_tiles import TILE, X0, Y0, datamodule
from torchgeo_lsr.datamodules.splits import (
    CentredGridSampler,
    SplitPlan,
    check_patch_fits,
)


def test_tile_split(scene: Path) -> None:
    dm = datamodule(scene, split='tiles', val_tiles=['tile_1'], test_tiles=['tile_1'])
    dm.setup('fit')
    assert len(dm.train_dataset) == 1
    assert all('tile_0' in f for f in dm.train_dataset.datasets[0].files)
    with pytest.raises(ValueError, match='no imagery file named'):
        datamodule(
            scene, split='tiles', val_tiles=['tile_9'], test_tiles=['tile_1']
        ).setup('fit')


def test_tile_split_validates_on_training_tiles(scene: Path) -> None:
    dm = datamodule(scene, split='tiles', test_tiles=['tile_1'])
    dm.setup('fit')
    files = dm.val_dataset.datasets[0].datasets[0].files
    assert all('tile_0' in f for f in files)
    dm.setup('test')
    assert all('tile_1' in f for f in dm.test_dataset.datasets[0].datasets[0].files)


def test_region_split(scene: Path, tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import box

    # Test on the right half of tile 1 (given as a file in another CRS), validate on
    # a box of tile 0; train on the rest.
    test_box = box(X0 + TILE + 75, Y0 - TILE, X0 + 2 * TILE, Y0)
    geopandas.GeoDataFrame(geometry=[test_box], crs='EPSG:32617').to_crs(
        'EPSG:4326'
    ).to_file(tmp_path / 'test_region.gpkg')
    val_box = (X0, Y0 - 64, X0 + 64, Y0)
    dm = datamodule(
        scene,
        split='regions',
        val_region=val_box,
        test_region=tmp_path / 'test_region.gpkg',
        patch_size=32,
        length=30,
        batch_size=5,
        train_labels=True,
    )
    dm.setup('fit')
    # Training pixels inside held-out regions are invalid and their labels ignored.
    for batch in dm.train_dataloader():
        for bounds, valid, mask in zip(
            batch['bounds'], batch['valid'], batch['mask'], strict=True
        ):
            xs = bounds[0] + 0.5 + torch.arange(32)
            ys = bounds[4] - 0.5 - torch.arange(32)
            in_test = (xs > X0 + TILE + 75.5)[None, :].expand(32, 32)
            in_val = (xs < X0 + 64)[None, :] & (ys > Y0 - 64)[:, None]
            held_out = in_test | in_val
            assert not valid[held_out].any()
            assert (mask[held_out] == 5).all()
    # Validation patches only count pixels of the validation box.
    val = list(dm.val_dataloader())
    bounds = torch.cat([b['bounds'] for b in val])
    assert bounds[:, 0].min() >= X0 - 32
    assert bounds[:, 1].max() <= X0 + 64 + 32
    valid_pixels = sum(int(b['valid'].sum()) for b in val)
    labelled = sum(int((b['mask'] < 5).sum()) for b in val)
    assert 0 < valid_pixels <= 64 * 64
    assert labelled <= 64 * 64
    dm.setup('test')
    test = list(dm.test_dataloader())
    for batch in test:
        for bounds, valid in zip(batch['bounds'], batch['valid'], strict=True):
            xs = bounds[0] + 0.5 + torch.arange(32)
            assert not valid[:, xs < X0 + TILE + 74.5].any()
    assert sum(int(b['valid'].sum()) for b in test) > 0.9 * 75 * TILE - 25


def test_region_split_errors(scene: Path) -> None:
    with pytest.raises(ValueError, match='needs test_region'):
        datamodule(scene, split='regions')
    with pytest.raises(ValueError, match="need split='regions'"):
        datamodule(scene, test_region=(0, 0, 1, 1))
    with pytest.raises(ValueError, match="need split='tiles'"):
        datamodule(scene, test_tiles=['tile_1'])
    with pytest.raises(ValueError, match='does not overlap the imagery'):
        datamodule(scene, split='regions', test_region=(0, 0, 10, 10)).setup('fit')
    with pytest.raises(ValueError, match='xmin, ymin, xmax, ymax'):
        datamodule(scene, split='regions', test_region=(X0 + 9, Y0, X0, Y0)).setup(
            'fit'
        )
    everything = (X0 - 10, Y0 - TILE - 10, X0 + 2 * TILE + 10, Y0 + 10)
    with pytest.raises(ValueError, match='nothing to train on'):
        datamodule(scene, split='regions', test_region=everything).setup('fit')


def test_split_plan_checks_its_arguments_together() -> None:
    with pytest.raises(ValueError, match="split must be 'transductive'"):
        SplitPlan(split='random')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split='tiles' needs test_tiles"):
        SplitPlan(split='tiles', val_tiles=('a',))
    with pytest.raises(ValueError, match="split='regions' needs test_region"):
        SplitPlan(split='regions', val_region=(0, 0, 1, 1))
    with pytest.raises(ValueError, match="need split='tiles', not 'regions'"):
        SplitPlan(split='regions', test_region=(0, 0, 1, 1), val_tiles=('a',))
    with pytest.raises(ValueError, match="need split='regions', not 'tiles'"):
        SplitPlan(split='tiles', test_tiles=('a',), val_region=(0, 0, 1, 1))
    with pytest.raises(TypeError):
        SplitPlan('tiles')  # type: ignore[call-arg]
    plan = SplitPlan(split='tiles', test_tiles=['b'])  # type: ignore[arg-type]
    assert plan.test_tiles == ('b',)  # lists from configs become tuples
    with pytest.raises(AttributeError):
        plan.split = 'transductive'  # type: ignore[misc]


def test_split_plan_tiles_of_each_stage() -> None:
    files = ['x/a.tif', 'x/b.tif', 'x/c.tif']
    transductive = SplitPlan()
    for stage in ('fit', 'validate', 'test', 'predict'):
        assert transductive.stage_tiles(files, stage) == files
    tiles = SplitPlan(split='tiles', val_tiles=('b',), test_tiles=('c.tif',))
    assert tiles.held_out_tiles == ('b', 'c.tif')
    assert tiles.tile_names('fit') == ((), ('b', 'c.tif'))
    assert tiles.stage_tiles(files, 'fit') == ['x/a.tif']
    assert tiles.stage_tiles(files, 'validate') == ['x/b.tif']
    assert tiles.stage_tiles(files, 'test') == ['x/c.tif']
    assert tiles.stage_tiles(files, 'predict') == files
    # Without validation tiles, validation reads the training tiles.
    only_test = SplitPlan(split='tiles', test_tiles=('c',))
    assert only_test.stage_tiles(files, 'validate') == ['x/a.tif', 'x/b.tif']


def test_split_plan_regions_of_each_stage() -> None:
    extent = shapely.box(0, 0, 100, 10)
    assert SplitPlan().regions(extent, 'EPSG:32617') == {}
    plan = SplitPlan(split='regions', test_region=(50, 0, 100, 10))
    regions = plan.regions(extent, 'EPSG:32617')
    assert regions['test'].equals(shapely.box(50, 0, 100, 10))
    assert regions['fit'].equals(shapely.box(0, 0, 50, 10))
    assert regions['validate'] is regions['fit']
    held_out = SplitPlan(
        split='regions', val_region=(0, 0, 10, 10), test_region=(90, 0, 100, 10)
    ).regions(extent, 'EPSG:32617')
    assert held_out['fit'].area == 80 * 10
    with pytest.raises(ValueError, match='test region does not overlap the imagery'):
        SplitPlan(split='regions', test_region=(200, 0, 300, 10)).regions(
            extent, 'EPSG:32617'
        )
    with pytest.raises(ValueError, match='nothing to train on'):
        SplitPlan(split='regions', test_region=(-1, -1, 101, 11)).regions(
            extent, 'EPSG:32617'
        )


def test_check_patch_fits_uses_torchgeos_condition() -> None:
    """Issue 16 item 12: a tile trains iff both its sides are >= patch_size px.

    The exact condition of TorchGeo's RandomBatchGeoSampler (``xmax - xmin >=
    size * xres and ymax - ymin >= size * yres``): a 64 x 40 px entry fits a
    40 px patch, not a 41 px one.
    """
    import geopandas

    dataset = SimpleNamespace(
        index=geopandas.GeoDataFrame(geometry=[shapely.box(0, 0, 128, 80)]),
        res=(2.0, 2.0),
    )
    tiles = SimpleNamespace(tile_paths=['a.tif'], tile_bounds=[(0, 0, 128, 80)])
    check_patch_fits(dataset, tiles, 40)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r'a\.tif \(64 x 40 px\); set patch_size <= 40'
    ):
        check_patch_fits(dataset, tiles, 41)  # type: ignore[arg-type]


def test_centred_grid_sampler_needs_cells_at_least_the_patch(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('predict')
    with pytest.raises(
        ValueError, match=r'val_stride \(16\) must be >= val_patch_size'
    ):
        CentredGridSampler(dm.predict_dataset, size=32, cell=16)
    # cell == size: TorchGeo's grid, tiling the extent.
    crops = list(CentredGridSampler(dm.predict_dataset, size=50, cell=50))
    assert len(crops) == 6 * 3

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.rasters import write_geotiff
from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.priors import PriorBuilder, write_prior

X0, Y0 = 500_000.0, 4_400_000.0
TILE = 150


def write(path: Path, data: np.ndarray, x: float, y: float, res: float = 1.0) -> Path:
    return write_geotiff(path, data, x, y, res)


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    nlcd = rng.choice(np.array([11, 21, 22, 41, 81], np.uint8), (6, 11))
    write(tmp_path / 'nlcd' / 'nlcd.tif', nlcd, X0 - 15, Y0 + 15, res=30.0)
    for i in range(2):
        x = X0 + i * TILE
        image = rng.integers(1, 255, (4, TILE, TILE), dtype=np.uint8)
        image[:, :5, :5] = 0  # nodata corner
        labels = rng.choice(np.array([10, 20, 30, 40, 70, 0], np.uint8), (TILE, TILE))
        write(tmp_path / 'naip' / f'tile_{i}.tif', image, x, Y0)
        write(tmp_path / 'lc' / f'tile_{i}.tif', labels, x, Y0)
    return tmp_path


def datamodule(scene: Path, **kwargs: object) -> LSRDataModule:
    options: dict[str, object] = {
        'image_paths': scene / 'naip',
        'coarse_paths': scene / 'nlcd',
        'label_paths': scene / 'lc',
        'cooccurrence': 'enviroatlas-pittsburgh',
        'prior_sigma': 4.0,
        'prior_kernel_size': 9,
        'batch_size': 3,
        'patch_size': 32,
        'context': 0,
        'length': 6,
    }
    options.update(kwargs)
    return LSRDataModule(**options)  # type: ignore[arg-type]


def test_training_batches(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert batch['image'].shape == (3, 4, 32, 32)
    assert batch['image'].dtype == torch.float32
    assert batch['image'].max() <= 1
    assert batch['prior'].shape == (3, 5, 32, 32)
    torch.testing.assert_close(batch['prior'].sum(1), torch.ones(3, 32, 32))
    assert batch['valid'].dtype == torch.bool
    # Learning from priors never reads a high-res label in training.
    assert 'mask' not in batch
    assert batch['bounds'].shape[0] == 3
    width = batch['bounds'][:, 1] - batch['bounds'][:, 0]
    torch.testing.assert_close(width, torch.full((3,), 32.0, dtype=width.dtype))


def test_training_labels_for_the_supervised_baselines(scene: Path) -> None:
    dm = datamodule(scene, train_labels=True)
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert batch['mask'].shape == (3, 32, 32)
    assert set(batch['mask'].unique().tolist()) <= {0, 1, 2, 3, 4, 5}  # 5 = ignore


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


def test_nodata_and_ignore(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('validate')
    sample = dm.val_dataset[X0 : X0 + 32, Y0 - 32 : Y0]
    assert not sample['valid'][:5, :5].any()  # imagery nodata corner
    assert sample['valid'][10:, 10:].all()
    with rasterio.open(scene / 'lc' / 'tile_0.tif') as src:
        labels = src.read(1, window=((0, 32), (0, 32)))
    assert (sample['mask'].numpy()[labels == 0] == 5).all()


def test_predict_covers_everything_and_keeps_bounds(scene: Path) -> None:
    dm = datamodule(scene, patch_size=64)
    dm.setup('predict')
    batches = list(dm.predict_dataloader())
    bounds = torch.cat([b['bounds'] for b in batches])
    # The grid covers the whole extent (TorchGeo centres it, overhanging evenly).
    assert bounds[:, 0].min() <= X0
    assert bounds[:, 1].max() >= X0 + 2 * TILE
    assert bounds[:, 4].max() >= Y0
    assert bounds[:, 3].min() <= Y0 - TILE
    # on_after_batch_transfer keeps the georeference for predict_step.
    kept = dm.on_after_batch_transfer(batches[0], 0)
    assert 'bounds' in kept
    assert 'transform' in kept


def test_tile_split(scene: Path) -> None:
    dm = datamodule(scene, split='tiles', val_tiles=['tile_1'], test_tiles=['tile_1'])
    dm.setup('fit')
    assert len(dm.train_dataset) == 1
    assert all('tile_0' in f for f in dm.train_dataset.datasets[0].files)
    with pytest.raises(ValueError, match='no imagery file named'):
        datamodule(
            scene, split='tiles', val_tiles=['tile_9'], test_tiles=['tile_1']
        ).setup('fit')


def test_bad_arguments(scene: Path) -> None:
    with pytest.raises(ValueError, match='prior_paths, or coarse_paths'):
        LSRDataModule(image_paths=scene / 'naip', coarse_paths=scene / 'nlcd')
    with pytest.raises(ValueError, match='split'):
        datamodule(scene, split='random')


def test_on_the_fly_fusion_equals_precomputed(scene: Path, tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import LineString, box

    roads = geopandas.GeoDataFrame(
        geometry=[LineString([(X0, Y0 - 40.5), (X0 + 2 * TILE, Y0 - 40.5)])],
        crs='EPSG:32617',
    )
    buildings = geopandas.GeoDataFrame(
        geometry=[box(X0 + 140, Y0 - 80, X0 + 160, Y0 - 60)], crs='EPSG:32617'
    ).to_crs('EPSG:4326')  # another CRS: reprojected to the imagery grid
    roads.to_file(tmp_path / 'roads.gpkg')
    buildings.to_file(tmp_path / 'buildings.gpkg')
    layers = {
        'roads': tmp_path / 'roads.gpkg',
        'buildings': tmp_path / 'buildings.gpkg',
    }
    fly = datamodule(
        scene, roads_paths=layers['roads'], buildings_paths=layers['buildings']
    )
    builder = fly.builder
    assert builder is not None
    assert builder.rules is not None
    assert [r.name for r in builder.rules.rules] == ['roads', 'buildings']
    for i in range(2):
        write_prior(
            builder,
            scene / 'nlcd' / 'nlcd.tif',
            tmp_path / 'prior' / f'tile_{i}.tif',
            like=scene / 'naip' / f'tile_{i}.tif',
            layers=layers,
            progress=False,
        )
    pre = datamodule(scene, prior_paths=tmp_path / 'prior', coarse_paths=None)
    fly.setup('validate')
    pre.setup('validate')
    for x, y in [(X0 + 120, Y0 - 50), (X0 + TILE, Y0 - 90), (X0, Y0 - 30)]:
        a = fly.val_dataset[x : x + 32, y - 32 : y]
        b = pre.val_dataset[x : x + 32, y - 32 : y]
        torch.testing.assert_close(a['prior'], b['prior'], atol=1e-5, rtol=0)
    # The road raises impervious (channel 1) along it.
    sample = fly.val_dataset[X0 + 60 : X0 + 92, Y0 - 56 : Y0 - 24]
    assert sample['prior'][1, 16].mean() > sample['prior'][1, 0].mean() + 0.05


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


def test_inputs_that_do_not_overlap(scene: Path) -> None:
    far = np.full((5, 5), 41, np.uint8)
    write(scene / 'far' / 'nlcd.tif', far, X0 + 10_000, Y0, res=30.0)
    with pytest.raises(ValueError, match='coarse labels do not overlap the imagery'):
        datamodule(scene, coarse_paths=scene / 'far').setup('fit')
    with pytest.raises(ValueError, match='high-res labels do not overlap'):
        datamodule(scene, label_paths=scene / 'far').setup('validate')


def test_missing_inputs_are_named(scene: Path) -> None:
    with pytest.raises(FileNotFoundError, match='no coarse labels files'):
        datamodule(scene, coarse_paths=scene / 'missing').setup('fit')
    with pytest.raises(FileNotFoundError, match=r"no imagery files matching '\*\.jp2'"):
        datamodule(scene, image_glob='*.jp2').setup('fit')


def test_coarse_labels_in_another_crs_are_reprojected(scene: Path) -> None:
    import rasterio.warp

    with rasterio.open(scene / 'nlcd' / 'nlcd.tif') as src:
        codes = src.read(1)
        bounds = src.bounds
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, 'EPSG:3857', src.width, src.height, *bounds
        )
        out = np.zeros((height, width), np.uint8)
        rasterio.warp.reproject(
            codes,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs='EPSG:3857',
            resampling=rasterio.warp.Resampling.nearest,
        )
    (scene / 'nlcd3857').mkdir()
    with rasterio.open(
        scene / 'nlcd3857' / 'nlcd.tif',
        'w',
        driver='GTiff',
        width=width,
        height=height,
        count=1,
        dtype='uint8',
        crs='EPSG:3857',
        transform=transform,
    ) as dst:
        dst.write(out, 1)
    a = datamodule(scene)
    b = datamodule(scene, coarse_paths=scene / 'nlcd3857')
    a.setup('validate')
    b.setup('validate')
    x, y = X0 + 60, Y0 - 60
    pa = a.val_dataset[x : x + 32, y - 32 : y]['prior']
    pb = b.val_dataset[x : x + 32, y - 32 : y]['prior']
    # Reprojection moves 30 m cell edges by a pixel or so: most pixels agree.
    assert (pa - pb).abs().max(0).values.lt(0.05).float().mean() > 0.9


def test_empty_vector_layer_gives_zeros_with_a_warning(
    scene: Path, tmp_path: Path
) -> None:
    import geopandas
    from shapely.geometry import box

    empty = geopandas.GeoDataFrame(geometry=[], crs='EPSG:32617')
    empty.to_file(tmp_path / 'roads.gpkg')
    geopandas.GeoDataFrame(
        geometry=[box(X0 + 10, Y0 - 20, X0 + 20, Y0 - 10)], crs='EPSG:32617'
    ).to_file(tmp_path / 'buildings.gpkg')
    with_empty = datamodule(
        scene,
        roads_paths=tmp_path / 'roads.gpkg',
        buildings_paths=tmp_path / 'buildings.gpkg',
    )
    only_buildings = datamodule(scene, buildings_paths=tmp_path / 'buildings.gpkg')
    with pytest.warns(UserWarning, match="'roads'.*has no features"):
        with_empty.setup('validate')
    only_buildings.setup('validate')
    a = with_empty.val_dataset[X0 : X0 + 32, Y0 - 32 : Y0]['prior']
    b = only_buildings.val_dataset[X0 : X0 + 32, Y0 - 32 : Y0]['prior']
    torch.testing.assert_close(a, b)


def test_context_margin(scene: Path) -> None:
    plain = datamodule(scene)
    wide = datamodule(scene, context=5)
    plain.setup('validate')
    wide.setup('validate')
    x, y = X0 + 140, Y0 - 60  # straddles the two tiles
    a = plain.val_dataset[x : x + 32, y - 32 : y]
    b = wide.val_dataset[x : x + 32, y - 32 : y]
    assert b['image'].shape == (4, 42, 42)
    assert b['prior'].shape == (5, 42, 42)
    for key in ('image', 'prior', 'valid', 'mask', 'tile'):
        torch.testing.assert_close(b[key][..., 5:-5, 5:-5], a[key])
    torch.testing.assert_close(
        b['bounds'][:6], a['bounds'][:6] + torch.tensor([-5.0, 5, 0, -5, 5, 0])
    )
    assert b['transform'][2] == a['transform'][2] - 5
    assert b['transform'][5] == a['transform'][5] + 5
    # Tile ids: tile 0 left of the shared edge, tile 1 right of it.
    assert (a['tile'][:, :10] == 0).all()
    assert (a['tile'][:, 10:] == 1).all()
    # The evaluation grid steps by the patch size: interiors tile the extent once.
    loader = wide.val_dataloader()
    counts = torch.zeros(TILE, 2 * TILE)
    for batch in loader:
        for bounds in batch['bounds']:
            col = round(float(bounds[0]) + 5 - X0)
            row = round(Y0 - float(bounds[4]) + 5)
            r0, c0 = max(row, 0), max(col, 0)
            counts[r0 : max(row + 32, 0), c0 : max(col + 32, 0)] += 1
    assert (counts == 1).all()


def test_image_statistics(scene: Path) -> None:
    dm = datamodule(scene)
    pixels = []
    for path in sorted((scene / 'naip').glob('*.tif')):
        with rasterio.open(path) as src:
            data = src.read().reshape(4, -1).astype(np.float64) / 255
        pixels.append(data[:, (data > 0).any(0)])  # the nodata corner is left out
    values = np.concatenate(pixels, 1)
    # Small rasters are read whole: the statistics are exact.
    mean, std = dm.image_statistics()
    np.testing.assert_allclose(mean, values.mean(1), rtol=1e-5)
    np.testing.assert_allclose(std, values.std(1), rtol=1e-5)
    # Larger ones are sampled in windows spread over each file.
    mean, std = dm.image_statistics(max_pixels=20_000)
    np.testing.assert_allclose(mean, values.mean(1), rtol=0.05)
    np.testing.assert_allclose(std, values.std(1), rtol=0.05)


def _road_and_building_files(scene: Path, tmp_path: Path) -> dict[str, Path]:
    import geopandas
    from shapely.geometry import LineString, box

    geopandas.GeoDataFrame(
        geometry=[LineString([(X0, Y0 - 40.5), (X0 + 2 * TILE, Y0 - 40.5)])],
        crs='EPSG:32617',
    ).to_file(tmp_path / 'roads.gpkg')
    geopandas.GeoDataFrame(
        geometry=[box(X0 + 140, Y0 - 80, X0 + 160, Y0 - 60)], crs='EPSG:32617'
    ).to_file(tmp_path / 'buildings.gpkg')
    return {'roads': tmp_path / 'roads.gpkg', 'buildings': tmp_path / 'buildings.gpkg'}


def _as_rasters(scene: Path, vectors: dict[str, Path], out: Path) -> dict[str, Path]:
    """The vector layers rasterised (with the paper's rules) on each imagery tile."""
    from torchgeo_lsr.datasets.vectors import rasterize_layer

    folders = {}
    for name, path in vectors.items():
        for i in range(2):
            with rasterio.open(scene / 'naip' / f'tile_{i}.tif') as src:
                layer = rasterize_layer(
                    path, name, src.crs, src.transform, src.width, src.height
                )
                x, y = src.transform.c, src.transform.f
            write(out / name / f'tile_{i}.tif', layer, x, y)
        folders[name] = out / name
    return folders


def test_raster_layers_fuse_like_vector_layers(scene: Path, tmp_path: Path) -> None:
    vectors = _road_and_building_files(scene, tmp_path)
    rasters = _as_rasters(scene, vectors, tmp_path / 'rasters')
    from_vectors = datamodule(
        scene, roads_paths=vectors['roads'], buildings_paths=vectors['buildings']
    )
    from_rasters = datamodule(
        scene, roads_paths=rasters['roads'], buildings_paths=rasters['buildings']
    )
    from_vectors.setup('validate')
    from_rasters.setup('validate')
    for x, y in [(X0 + 120, Y0 - 50), (X0 + TILE, Y0 - 90), (X0 + 60, Y0 - 24)]:
        a = from_vectors.val_dataset[x : x + 32, y - 32 : y]
        b = from_rasters.val_dataset[x : x + 32, y - 32 : y]
        torch.testing.assert_close(a['prior'], b['prior'], atol=1e-5, rtol=0)
        assert not any(key.startswith('layer_') for key in b)


def test_inputs_stack_prior_and_layers(scene: Path, tmp_path: Path) -> None:
    vectors = _road_and_building_files(scene, tmp_path)
    rasters = _as_rasters(scene, vectors, tmp_path / 'rasters')
    dm = datamodule(
        scene,
        roads_paths=rasters['roads'],
        buildings_paths=vectors['buildings'],
        fusion_rules='none',
        inputs=['prior', 'roads', 'buildings', 'imagery'],
        context=2,
    )
    plain = datamodule(scene, context=2)
    dm.setup('validate')
    plain.setup('validate')
    x, y = X0 + 130, Y0 - 30
    sample = dm.val_dataset[x : x + 32, y - 32 : y]
    reference = plain.val_dataset[x : x + 32, y - 32 : y]
    assert sample['image'].shape == (5 + 1 + 1 + 4, 36, 36)
    # No fusion: the prior is the NLCD-only one, and it is the first 5 channels.
    torch.testing.assert_close(sample['prior'], reference['prior'])
    torch.testing.assert_close(sample['image'][:5], reference['prior'])
    torch.testing.assert_close(sample['image'][7:], reference['image'])
    # The road row (y = Y0 - 40.5, widened to 3 px) and the building's pixels.
    road, building = sample['image'][5], sample['image'][6]
    assert set(road.unique().tolist()) == {0.0, 1.0}
    row = round((y + 2) - (Y0 - 40.5) - 0.5)
    assert bool((road[row - 1 : row + 2] == 1).all())
    # The sample (context 2) spans y Y0-64..Y0-28, x X0+128..X0+164: the building
    # (y Y0-80..Y0-60, x X0+140..X0+160) covers 4 of its rows and 20 columns.
    assert building.sum() == 4 * 20
    mean, std = dm.image_statistics()
    assert mean.shape == std.shape == (11,)
    assert mean[:7].abs().sum() == 0
    assert (std[:7] == 1).all()
    with pytest.raises(ValueError, match='need their layer paths'):
        datamodule(scene, inputs=['imagery', 'waterways'])
    with pytest.raises(ValueError, match='inputs must name'):
        datamodule(scene, inputs=['imagery', 'lidar'])


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

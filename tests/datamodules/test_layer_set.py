"""Auxiliary layers: vector and raster layers feed the fusion rules alike."""

from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.transform import from_origin

from tests.datamodules.two_tiles import (
    TILE,
    X0,
    Y0,
    as_rasters,
    datamodule,
    road_and_building_files,
)
from torchgeo_lsr.datamodules.layer_set import (
    LAYER_NAMES,
    OPTIONS_ATTR,
    StageLayers,
    check_inputs,
    layer_paths,
    layers_on_window,
    needed_layers,
)
from torchgeo_lsr.datasets.vectors import rasterize_layer
from torchgeo_lsr.priors import RasterisationOptions, load_rules, write_prior


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


def test_raster_layers_fuse_like_vector_layers(scene: Path, tmp_path: Path) -> None:
    vectors = road_and_building_files(scene, tmp_path)
    rasters = as_rasters(scene, vectors, tmp_path / 'rasters')
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


def test_layer_paths_and_inputs() -> None:
    assert LAYER_NAMES == ('buildings', 'roads', 'waterways', 'waterbodies')
    assert layer_paths() == {}
    assert layer_paths(roads='r.gpkg', waterbodies=['a.tif', Path('b.tif')]) == {
        'roads': ['r.gpkg'],
        'waterbodies': ['a.tif', 'b.tif'],
    }
    assert check_inputs(('prior', 'roads'), {'roads'}) == ['prior', 'roads']
    with pytest.raises(ValueError, match='inputs must name channels'):
        check_inputs([], {})
    with pytest.raises(ValueError, match=r"inputs \['roads'\] need their layer paths"):
        check_inputs(['imagery', 'roads'], {'buildings'})
    assert needed_layers(['imagery', 'prior', 'roads'], ['buildings', 'roads']) == [
        'buildings',
        'roads',
    ]


def test_stage_layers_open_rasters_and_vectors(scene: Path, tmp_path: Path) -> None:
    vectors = road_and_building_files(scene, tmp_path)
    rasters = as_rasters(scene, vectors, tmp_path / 'rasters')
    dm = datamodule(scene)
    imagery = dm.open_role('image', [str(scene / 'naip')])
    layers = StageLayers.open(
        ['buildings', 'roads'],
        {'buildings': [str(vectors['buildings'])], 'roads': [str(rasters['roads'])]},
        imagery.crs,
        imagery.res,
    )
    assert list(layers.rasters) == ['roads']
    assert layers.rasters['roads'].res == imagery.res
    assert list(layers.vectors) == ['buildings']
    assert len(layers.vectors['buildings']) == 1
    with pytest.raises(ValueError, match='the roads layer mixes raster and vector'):
        StageLayers.open(
            ['roads'],
            {'roads': [str(vectors['roads']), str(rasters['roads'])]},
            imagery.crs,
            imagery.res,
        )
    with pytest.raises(FileNotFoundError, match='no roads files for this stage'):
        StageLayers.open(['roads'], {}, imagery.crs, imagery.res)


CUSTOM_RULES = (
    'layers:\n'
    '  roads: {all_touched: true, widen: 5}\n'
    'rules:\n'
    '  - name: tracks\n'
    '    target: Impervious Surface\n'
    '    inputs: [{layer: roads}]\n'
    '    box_mean: 3\n'
)


def diagonal_road(tmp_path: Path) -> Path:
    """A diagonal road across both tiles (``all_touched`` burns more pixels)."""
    import geopandas
    from shapely.geometry import LineString

    geopandas.GeoDataFrame(
        geometry=[LineString([(X0 + 3.3, Y0 - 10.2), (X0 + 2 * TILE, Y0 - 120.7)])],
        crs='EPSG:32617',
    ).to_file(tmp_path / 'roads.gpkg')
    return tmp_path / 'roads.gpkg'


def test_custom_rule_options_on_the_fly_equal_write_prior(
    scene: Path, tmp_path: Path
) -> None:
    """Custom rule options: on-the-fly priors equal ``write_prior``'s.

    Issue 16 item 10: the per-sample rasterisation used the paper's options
    (roads: widen 3, not all_touched) whatever the rule file's ``layers:`` said,
    while ``write_prior`` used the rule file's: the two priors differed.
    """
    rules = tmp_path / 'rules.yaml'
    rules.write_text(CUSTOM_RULES)
    roads = diagonal_road(tmp_path)
    fly = datamodule(scene, roads_paths=roads, fusion_rules=rules)
    builder = fly.builder
    assert builder is not None
    assert builder.rules is not None
    assert builder.rules.options('roads') == RasterisationOptions(True, 5)
    for i in range(2):
        write_prior(
            builder,
            scene / 'nlcd' / 'nlcd.tif',
            tmp_path / 'prior' / f'tile_{i}.tif',
            like=scene / 'naip' / f'tile_{i}.tif',
            layers={'roads': roads},
            progress=False,
        )
    pre = datamodule(scene, prior_paths=tmp_path / 'prior', coarse_paths=None)
    fly.setup('validate')
    pre.setup('validate')
    nlcd_only = datamodule(scene)
    nlcd_only.setup('validate')
    # Windows centred on the road, one across the tiles' shared edge.
    for x, y in [(X0 + 20, Y0 - 9), (X0 + TILE - 16, Y0 - 49), (X0 + 200, Y0 - 73)]:
        a = fly.val_dataset[x : x + 32, y - 32 : y]
        b = pre.val_dataset[x : x + 32, y - 32 : y]
        torch.testing.assert_close(a['prior'], b['prior'], atol=1e-5, rtol=0)
        plain = nlcd_only.val_dataset[x : x + 32, y - 32 : y]['prior']
        assert (a['prior'][1] - plain[1]).max() > 0.2  # the road is in the window


def test_stage_layers_carry_the_rules_options(scene: Path, tmp_path: Path) -> None:
    """Vector layers the rules use are burnt per window with the rules' options."""
    rules = tmp_path / 'rules.yaml'
    rules.write_text(CUSTOM_RULES)
    roads = diagonal_road(tmp_path)
    dm = datamodule(scene)
    imagery = dm.open_role('image', [str(scene / 'naip')])
    paths = {'roads': [str(roads)]}
    custom = StageLayers.open(
        ['roads'], paths, imagery.crs, imagery.res, load_rules(rules)
    )
    paper = StageLayers.open(['roads'], paths, imagery.crs, imagery.res)
    assert custom.vectors['roads'].attrs[OPTIONS_ATTR] == RasterisationOptions(True, 5)
    assert OPTIONS_ATTR not in paper.vectors['roads'].attrs
    transform = from_origin(X0, Y0, 1.0, 1.0)
    window = ((0, 64), (0, 64))
    burnt = {
        key: layers_on_window(layers.vectors, imagery.crs, transform, *window, {})
        for key, layers in (('custom', custom), ('paper', paper))
    }
    for key, options in (('custom', RasterisationOptions(True, 5)), ('paper', None)):
        expected = rasterize_layer(
            roads, 'roads', imagery.crs, transform, 64, 64, options
        )
        np.testing.assert_array_equal(burnt[key]['roads'], expected)
    assert burnt['custom']['roads'].sum() > burnt['paper']['roads'].sum()

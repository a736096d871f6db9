"""Tests of rasterising layers with the paper's rules (and of their inputs)."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.transform import from_origin

from torchgeo_lsr.datasets.vector_files import read_vector_layer
from torchgeo_lsr.priors.fusion import RasterisationOptions

from .conftest import (
    GRID_BOUNDS,
    LINES,
    POLYGONS,
    ROAD,
    SIZE,
    STREAM,
    TRANSFORM,
    UTM,
    WATER,
    X0,
    Y0,
    frame,
    line,
    rasterize,
    square,
    write,
    xy,
)


def test_osm_xml_layers_are_rasterised_by_tag(osm_file: Path) -> None:
    roads = rasterize(osm_file, 'roads')
    np.testing.assert_array_equal(roads, rasterize(frame([line(*ROAD)]), 'roads'))
    water = rasterize(osm_file, 'waterbodies')
    assert water.sum() == 100
    np.testing.assert_array_equal(
        water, rasterize(frame([shapely.Polygon([xy(*p) for p in WATER])]), 'x')
    )
    # The culvert is left out of the waterways, as by the paper's OSM filter.
    waterways = rasterize(osm_file, 'waterways')
    np.testing.assert_array_equal(
        waterways, rasterize(frame([line(*STREAM)]), 'waterways')
    )
    with pytest.warns(UserWarning, match='buildings'):
        assert rasterize(osm_file, 'buildings').sum() == 0


# ------------------------------------------------------------- rasterisation rules


def test_roads_are_widened_to_three_pixels() -> None:
    road = frame([line((5.2, 10.4), (40.3, 10.4))])
    thin = rasterize(road, 'roads', RasterisationOptions(widen=1))
    assert thin[:, 20].sum() == 1
    assert thin[10, 6:40].all()
    wide = rasterize(road, 'roads')
    assert wide[:, 20].sum() == 3
    assert wide[9:12, 20].all()
    assert wide.sum() == 3 * thin[10].sum() + 2 * 3  # one more column at each end


def test_widening_sees_roads_just_outside_the_grid() -> None:
    outside = frame([line((5.2, -0.6), (40.3, -0.6))])  # in row -1
    with pytest.warns(UserWarning, match='no features over the output area'):
        assert rasterize(outside, 'roads', RasterisationOptions(widen=1)).sum() == 0
    wide = rasterize(outside, 'roads')
    assert wide[0, 10] == 1
    assert wide[1:].sum() == 0


def test_waterways_use_all_touched() -> None:
    diagonal = frame([line((5.3, 20.2), (40.7, 55.6))])
    touched = rasterize(diagonal, 'waterways')
    centres = rasterize(diagonal, 'waterways', RasterisationOptions(all_touched=False))
    assert touched.sum() > centres.sum()
    assert (touched >= centres).all()


@pytest.mark.parametrize('name', ['buildings', 'waterbodies'])
def test_polygons_are_burnt_by_pixel_centres(name: str) -> None:
    building = frame([square(10.25, 30.25, 10)])
    burnt = rasterize(building, name)
    assert burnt.sum() == 100  # centres inside; all_touched would give 11 x 11
    assert burnt[30:40, 10:20].all()
    touched = rasterize(building, name, RasterisationOptions(all_touched=True))
    assert touched.sum() == 121


def test_raster_layers_are_read_as_zero_one(tmp_path: Path) -> None:
    data = np.zeros((32, 32), dtype=np.uint8)
    data[3:7, 4:9] = 7
    path = tmp_path / 'buildings.tif'
    profile = {
        'driver': 'GTiff',
        'width': 32,
        'height': 32,
        'count': 1,
        'dtype': 'uint8',
        'crs': UTM,
        'transform': TRANSFORM,
    }
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data, 1)
    burnt = rasterize(path, 'buildings')
    assert burnt.shape == (SIZE, SIZE)
    assert burnt.sum() == 20
    assert burnt[3:7, 4:9].all()


# ------------------------------------------------------------------- reprojection


@pytest.mark.parametrize('epsg', [4326, 5070])
def test_reprojected_sources_give_the_same_raster(tmp_path: Path, epsg: int) -> None:
    for name, features in (
        ('roads', LINES),
        ('waterways', LINES),
        ('buildings', POLYGONS),
    ):
        expected = rasterize(features, name)
        path = tmp_path / f'{name}-{epsg}.gpkg'
        features.to_crs(epsg=epsg).to_file(path, driver='GPKG')
        assert CRS.from_user_input(read_vector_layer(path).crs) == CRS.from_epsg(epsg)
        for source in (path, features.to_crs(epsg=epsg)):
            result = rasterize(source, name)
            union = (result | expected).sum()
            assert (result & expected).sum() / union >= 0.95
            assert (result == expected).mean() >= 0.95


def test_layer_outside_the_grid(tmp_path: Path) -> None:
    far = frame([line((5_000, 10.5), (5_040, 10.5)), square(9_000, 9_000, 10)])
    with pytest.warns(UserWarning, match="'roads' has no features over the output"):
        assert rasterize(far, 'roads').sum() == 0
    path = write(far.to_crs(epsg=4326), tmp_path / 'far.geojson')
    with pytest.warns(UserWarning, match='no features over the output area'):
        burnt = rasterize(path, 'roads')
    assert burnt.shape == (SIZE, SIZE)
    assert burnt.sum() == 0
    with pytest.warns(UserWarning, match='within the requested bounds'):
        assert read_vector_layer(path, UTM, GRID_BOUNDS).empty
    raster = tmp_path / 'far.tif'
    profile = {
        'driver': 'GTiff',
        'width': 8,
        'height': 8,
        'count': 1,
        'dtype': 'uint8',
        'crs': UTM,
        'transform': from_origin(X0 + 10_000, Y0, 1.0, 1.0),
    }
    with rasterio.open(raster, 'w', **profile) as dst:
        dst.write(np.ones((1, 8, 8), dtype=np.uint8))
    with pytest.warns(UserWarning, match='does not overlap the output area'):
        assert rasterize(raster, 'buildings').sum() == 0

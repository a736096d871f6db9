from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

from torchgeo_lsr.priors import RasterisationOptions, open_layer

CRS_UTM = CRS.from_epsg(32617)
TRANSFORM = from_origin(500_000, 4_000_040, 1.0, 1.0)  # 40 x 40 px at 1 m


def write_vector(path: Path, geometries: list[object], crs: CRS = CRS_UTM) -> Path:
    gpd.GeoDataFrame(geometry=geometries, crs=crs).to_file(path)
    return path


def test_vector_layer_is_burned_on_the_grid_and_widened(tmp_path: Path) -> None:
    # A building of 4 x 3 px and a road along row 20.
    building = box(500_010, 4_000_040 - 8, 500_014, 4_000_040 - 5)
    road = LineString([(500_000, 4_000_019.5), (500_040, 4_000_019.5)])
    path = write_vector(tmp_path / 'layer.gpkg', [building, road])
    with open_layer(path, CRS_UTM, TRANSFORM, 40, 40) as layer:
        values = layer.read(0, 0, 40, 40)
        assert values.dtype == np.float32
        assert values[5:8, 10:14].all()
        assert values[20].sum() >= 39  # the road's row
        # A window reads the same pixels as the whole grid.
        np.testing.assert_array_equal(layer.read(4, 8, 10, 10), values[4:14, 8:18])
    widened = open_layer(
        path, CRS_UTM, TRANSFORM, 40, 40, RasterisationOptions(widen=3)
    ).read(0, 0, 40, 40)
    assert widened[19:22].all()  # 3 px wide road
    assert widened.sum() > values.sum()


def test_vector_layer_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    building = gpd.GeoSeries([box(500_010, 4_000_030, 500_020, 4_000_035)], crs=CRS_UTM)
    wgs84 = CRS.from_epsg(4326)
    path = write_vector(tmp_path / 'wgs84.gpkg', list(building.to_crs(wgs84)), wgs84)
    values = open_layer(path, CRS_UTM, TRANSFORM, 40, 40).read(0, 0, 40, 40)
    assert abs(values.sum() - 50) <= 12  # 10 x 5 px, up to a pixel at the edges
    assert values[7, 15] == 1


def test_raster_layer_is_warped_to_the_grid(tmp_path: Path) -> None:
    # A 2 m raster with one wet cell (value 7 > 0 means present), nodata elsewhere.
    data = np.zeros((20, 20), np.uint8)
    data[5, 5] = 7
    path = tmp_path / 'water.tif'
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=20,
        height=20,
        count=1,
        dtype='uint8',
        crs=CRS_UTM,
        transform=from_origin(500_000, 4_000_040, 2.0, 2.0),
        nodata=0,
    ) as dst:
        dst.write(data, 1)
    with open_layer(path, CRS_UTM, TRANSFORM, 40, 40) as layer:
        values = layer.read(0, 0, 40, 40)
    assert values[10:12, 10:12].all()
    assert values.sum() == 4


def test_missing_and_unreadable_layers(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='does not exist'):
        open_layer(tmp_path / 'nope.gpkg', CRS_UTM, TRANSFORM, 40, 40)
    text = tmp_path / 'notes.txt'
    text.write_text('not a layer')
    with pytest.raises(ValueError, match=r'neither|raster|vector'):
        open_layer(text, CRS_UTM, TRANSFORM, 40, 40)

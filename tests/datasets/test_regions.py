import geopandas
import pytest
import shapely
from rasterio.crs import CRS

from torchgeo_lsr.datasets.regions import region_geometry

UTM = CRS.from_epsg(32617)


def test_region_geometry_box() -> None:
    assert region_geometry([0, 1, 2, 3], UTM).bounds == (0, 1, 2, 3)
    with pytest.raises(ValueError, match='xmin, ymin, xmax, ymax'):
        region_geometry([2, 1, 0, 3], UTM)


def test_region_geometry_file_is_reprojected(tmp_path) -> None:
    path = tmp_path / 'region.geojson'
    box = shapely.box(500_000, 4_000_000, 500_100, 4_000_100)
    frame = geopandas.GeoDataFrame(geometry=[box], crs=UTM).to_crs('EPSG:4326')
    frame.to_file(path)
    geometry = region_geometry(path, UTM)
    assert geometry.bounds == pytest.approx(box.bounds, abs=0.5)


def test_region_file_without_polygons(tmp_path) -> None:
    path = tmp_path / 'points.geojson'
    geopandas.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=UTM).to_file(path)
    with pytest.raises(ValueError, match='holds no polygon'):
        region_geometry(path, UTM)

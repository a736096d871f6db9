"""Tests of reading vector files (formats, OSM XML, clipping, CRS, bad input)."""

from pathlib import Path

import geopandas
import numpy as np
import pytest
from rasterio.crs import CRS

from torchgeo_lsr.datasets.vector_files import read_vector_layer

from .conftest import (
    FORMATS,
    LINES,
    POLYGONS,
    SIZE,
    UTM,
    X0,
    Y0,
    frame,
    rasterize,
    write,
)

# ------------------------------------------------------------------ file formats


@pytest.mark.parametrize('suffix', list(FORMATS))
def test_formats_give_identical_rasters(tmp_path: Path, suffix: str) -> None:
    for name, features in (('roads', LINES), ('buildings', POLYGONS)):
        expected = rasterize(features, name)
        assert expected.dtype == np.uint8
        assert expected.shape == (SIZE, SIZE)
        assert 0 < expected.sum() < SIZE * SIZE
        assert set(np.unique(expected)) == {0, 1}
        path = write(features, tmp_path / f'{name}.{suffix}')
        np.testing.assert_array_equal(rasterize(path, name), expected)
        read = read_vector_layer(path).sort_values('kind').reset_index(drop=True)
        assert list(read['kind']) == list(features['kind'])
        assert CRS.from_user_input(read.crs) == UTM
        assert read.geometry.geom_equals_exact(features.geometry, 1e-6).all()


def test_parquet_without_pyarrow_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / 'roads.parquet'
    path.write_bytes(b'PAR1')

    def no_pyarrow(*args: object, **kwargs: object) -> None:
        raise ImportError('pyarrow is required')

    monkeypatch.setattr(geopandas, 'read_parquet', no_pyarrow)
    with pytest.raises(ValueError, match=r'roads\.parquet.*pyarrow'):
        read_vector_layer(path)


def test_osm_xml_is_read_with_osmnx(osm_file: Path) -> None:
    features = read_vector_layer(osm_file)
    assert len(features) == 4
    assert CRS.from_user_input(features.crs) == CRS.from_epsg(4326)
    assert sorted(features.geom_type) == [
        'LineString',
        'LineString',
        'LineString',
        'Polygon',
    ]
    assert (features['highway'] == 'residential').sum() == 1
    roads = read_vector_layer(osm_file, UTM, layer='roads')
    assert list(roads['highway']) == ['residential']
    assert CRS.from_user_input(roads.crs) == UTM
    water = read_vector_layer(osm_file, 'EPSG:32617', layer='waterbodies')
    assert list(water.geom_type) == ['Polygon']
    # Reprojected to UTM, the water polygon is the 10 x 10 m square again.
    assert water.geometry.iloc[0].area == pytest.approx(100.0, rel=1e-3)


def test_read_vector_layer_clips_and_reprojects(tmp_path: Path) -> None:
    path = write(POLYGONS.to_crs(epsg=4326), tmp_path / 'buildings.gpkg')
    bounds = (X0, Y0 - 50, X0 + 15, Y0)  # the left half of the first square only
    clipped = read_vector_layer(path, UTM, bounds)
    assert len(clipped) == 1
    assert CRS.from_user_input(clipped.crs) == UTM
    assert clipped.geometry.iloc[0].area == pytest.approx(47.5, rel=1e-3)
    assert clipped.total_bounds[2] <= X0 + 15 + 1e-6


# ---------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / 'nowhere.gpkg'
    with pytest.raises(FileNotFoundError, match=r'nowhere\.gpkg'):
        read_vector_layer(missing)
    with pytest.raises(FileNotFoundError, match=r'nowhere\.gpkg'):
        rasterize(missing, 'roads')


@pytest.mark.parametrize('filename', ['junk.gpkg', 'junk.osm', 'junk.txt'])
def test_unreadable_file(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_bytes(b'\x00\x01 this is not a vector file \xff' * 10)
    with pytest.raises(ValueError, match=rf'{filename}.*GeoPackage.*OSM XML'):
        read_vector_layer(path)
    with pytest.raises(ValueError, match=filename.replace('.', r'\.')):
        rasterize(path, 'roads')


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs(tmp_path: Path) -> None:
    path = write(frame(list(POLYGONS.geometry), crs=None), tmp_path / 'nocrs.shp')
    with pytest.raises(ValueError, match=r'nocrs\.shp has no CRS'):
        read_vector_layer(path)
    with pytest.warns(UserWarning, match='no CRS'):
        assumed = read_vector_layer(path, crs=UTM)
    assert CRS.from_user_input(assumed.crs) == UTM
    assert len(assumed) == 2
    with pytest.warns(UserWarning, match='no CRS'):
        burnt = rasterize(path, 'buildings')
    np.testing.assert_array_equal(burnt, rasterize(POLYGONS, 'buildings'))
    with pytest.warns(UserWarning, match='no CRS'):
        burnt = rasterize(frame(list(POLYGONS.geometry), crs=None), 'buildings')
    np.testing.assert_array_equal(burnt, rasterize(POLYGONS, 'buildings'))


@pytest.mark.parametrize('suffix', ['gpkg', 'geojson'])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    empty = geopandas.GeoDataFrame({'kind': []}, geometry=[], crs=UTM.to_wkt())
    path = write(empty, tmp_path / f'empty.{suffix}')
    with pytest.warns(UserWarning, match='no features'):
        read = read_vector_layer(path, UTM)
    assert read.empty
    with pytest.warns(UserWarning, match='no features'):
        burnt = rasterize(path, 'waterbodies')
    assert burnt.shape == (SIZE, SIZE)
    assert burnt.sum() == 0
    with pytest.warns(UserWarning, match='no features'):
        assert rasterize(empty, 'waterbodies').sum() == 0

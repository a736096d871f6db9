"""Tests of the auxiliary vector layers (reading, rasterising, OSM download cache)."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from torchgeo_lsr.datasets import vectors
from torchgeo_lsr.datasets.vectors import (
    LAYER_OPTIONS,
    OSM_LAYERS,
    download_osm_layers,
    osm_cache_paths,
    rasterize_layer,
    read_vector_layer,
)
from torchgeo_lsr.priors.fusion import RasterisationOptions

UTM = CRS.from_epsg(32617)
X0, Y0 = 500_000.0, 3_873_400.0
SIZE = 64
TRANSFORM = from_origin(X0, Y0, 1.0, 1.0)
GRID_BOUNDS = (X0, Y0 - SIZE, X0 + SIZE, Y0)


def xy(col: float, row: float) -> tuple[float, float]:
    """Map coordinates of a point given in pixel units of the test grid."""
    return X0 + col, Y0 - row


def line(*points: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([xy(*p) for p in points])


def square(col: float, row: float, side: float) -> shapely.Polygon:
    return shapely.Polygon(
        [
            xy(col, row),
            xy(col + side, row),
            xy(col + side, row + side),
            xy(col, row + side),
        ]
    )


def frame(geometries: list[shapely.Geometry], crs: CRS | None = UTM):
    return geopandas.GeoDataFrame(
        {'kind': [f'f{i}' for i in range(len(geometries))]},
        geometry=geometries,
        crs=None if crs is None else crs.to_wkt(),
    )


def rasterize(source, name: str, options: RasterisationOptions | None = None):
    return rasterize_layer(source, name, UTM, TRANSFORM, SIZE, SIZE, options)


LINES = frame(
    [
        line((5.2, 10.4), (40.3, 10.4)),  # horizontal, one pixel wide at 1 m
        line((5.3, 20.2), (40.7, 55.6)),  # diagonal
    ]
)
POLYGONS = frame([square(10.25, 30.25, 10), square(40.2, 5.7, 12.4)])

FORMATS = {
    'gpkg': {'driver': 'GPKG'},
    'geojson': {'driver': 'GeoJSON'},
    'shp': {'driver': 'ESRI Shapefile'},
    'fgb': {'driver': 'FlatGeobuf'},
    'parquet': {},
}


def write(data, path: Path) -> Path:
    """Write a frame in the format its suffix names."""
    if path.suffix == '.parquet':
        pytest.importorskip('pyarrow', reason='GeoParquet needs pyarrow')
        data.to_parquet(path)
    else:
        data.to_file(path, **FORMATS[path.suffix[1:]])
    return path


# ----------------------------------------------------------------- paper defaults


def test_layer_options_are_the_papers() -> None:
    assert LAYER_OPTIONS['roads'] == RasterisationOptions(all_touched=False, widen=3)
    assert LAYER_OPTIONS['waterways'] == RasterisationOptions(all_touched=True)
    assert LAYER_OPTIONS['waterbodies'] == RasterisationOptions(all_touched=False)
    assert LAYER_OPTIONS['buildings'] == RasterisationOptions(all_touched=False)
    assert set(OSM_LAYERS) == set(LAYER_OPTIONS)


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


# ---------------------------------------------------------------------- OSM XML

TO_LONLAT = Transformer.from_crs(UTM.to_wkt(), 'EPSG:4326', always_xy=True)


def osm_xml(ways: dict[int, tuple[list[tuple[float, float]], dict[str, str]]]) -> str:
    """OSM XML of ways given by pixel coordinates on the test grid."""
    nodes, way_lines, node_id = [], [], 0
    for way_id, (points, tags) in ways.items():
        refs = []
        closed = points[0] == points[-1]
        for point in points[:-1] if closed else points:
            node_id += 1
            lon, lat = TO_LONLAT.transform(*xy(*point))
            nodes.append(f'  <node id="{node_id}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
            refs.append(node_id)
        if closed:
            refs.append(refs[0])
        members = ''.join(f'<nd ref="{ref}"/>' for ref in refs)
        tag_text = ''.join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        way_lines.append(f'  <way id="{way_id}">{members}{tag_text}</way>')
    body = '\n'.join(nodes + way_lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<osm version="0.6" generator="test">\n{body}\n</osm>\n'
    )


ROAD = [(5.2, 10.4), (40.3, 10.4)]
WATER = [(10.25, 30.25), (20.25, 30.25), (20.25, 40.25), (10.25, 40.25), (10.25, 30.25)]
STREAM = [(5.3, 20.2), (40.7, 55.6)]
CULVERT = [(50.2, 5.1), (60.7, 50.3)]


@pytest.fixture
def osm_file(tmp_path: Path) -> Path:
    path = tmp_path / 'area.osm'
    path.write_text(
        osm_xml(
            {
                100: (ROAD, {'highway': 'residential'}),
                101: (WATER, {'natural': 'water'}),
                102: (STREAM, {'waterway': 'stream'}),
                103: (CULVERT, {'waterway': 'ditch', 'tunnel': 'culvert'}),
            }
        )
    )
    return path


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


# ---------------------------------------------------------------- OSM downloading


def forbid(name: str) -> Callable[..., None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f'{name} must not be called')

    return refuse


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any attempt to reach the network or osmnx's downloaders."""
    import osmnx

    for name in ('graph_from_bbox', 'features_from_bbox', 'graph_from_polygon'):
        monkeypatch.setattr(osmnx, name, forbid(f'osmnx.{name}'))
    monkeypatch.setattr(socket, 'create_connection', forbid('socket.create_connection'))
    monkeypatch.setattr(socket, 'getaddrinfo', forbid('socket.getaddrinfo'))


def test_osm_cache_paths_are_keyed_by_box_and_layer(tmp_path: Path) -> None:
    paths = osm_cache_paths(GRID_BOUNDS, UTM, tmp_path)
    assert list(paths) == list(OSM_LAYERS)
    assert all(path.parent == tmp_path for path in paths.values())
    assert all(path.suffix == '.gpkg' for path in paths.values())
    assert paths['roads'].name.startswith('osm_roads_-81.05')
    assert len(set(paths.values())) == 4
    assert osm_cache_paths(GRID_BOUNDS, 'EPSG:32617', tmp_path) == paths
    other = osm_cache_paths(GRID_BOUNDS, UTM, tmp_path, margin_degrees=0.1)
    assert other['roads'] != paths['roads']
    with pytest.raises(ValueError, match='unknown OSM layers'):
        osm_cache_paths(GRID_BOUNDS, UTM, tmp_path, layers=('rivers',))
    with pytest.raises(ValueError, match='empty'):
        osm_cache_paths((X0, Y0, X0, Y0 + 1), UTM, tmp_path)


@pytest.mark.usefixtures('no_network')
def test_cache_hit_needs_no_network(tmp_path: Path) -> None:
    cached = osm_cache_paths(GRID_BOUNDS, UTM, tmp_path)
    LINES.to_file(cached['roads'], driver='GPKG')
    LINES.to_file(cached['waterways'], driver='GPKG')
    POLYGONS.to_file(cached['waterbodies'], driver='GPKG')
    POLYGONS.to_file(cached['buildings'], driver='GPKG')
    paths = download_osm_layers(GRID_BOUNDS, UTM, tmp_path)
    assert paths == cached
    np.testing.assert_array_equal(
        rasterize(paths['roads'], 'roads'), rasterize(LINES, 'roads')
    )
    subset = download_osm_layers(GRID_BOUNDS, UTM, tmp_path, layers=('buildings',))
    assert subset == {'buildings': cached['buildings']}


def no_dns(*args: object, **kwargs: object) -> None:
    raise socket.gaierror(-3, 'Temporary failure in name resolution')


def slow_dns(*args: object, **kwargs: object) -> None:
    time.sleep(2)
    raise socket.gaierror(-3, 'Temporary failure in name resolution')


def loopback(*args: object, **kwargs: object) -> list[tuple]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('127.0.0.1', 443))]


def unreachable(*args: object, **kwargs: object) -> None:
    raise OSError(101, 'Network is unreachable')


@pytest.mark.parametrize(
    ('lookup', 'connect'),
    [(no_dns, None), (slow_dns, None), (loopback, unreachable)],
    ids=['no-dns', 'hanging-dns', 'no-route'],
)
@pytest.mark.usefixtures('no_network')
def test_offline_fails_fast_asking_for_local_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lookup: Callable[..., object],
    connect: Callable[..., object] | None,
) -> None:
    monkeypatch.setattr(vectors, '_CONNECT_TIMEOUT', 0.2)
    monkeypatch.setattr(socket, 'getaddrinfo', lookup)
    if connect is not None:
        monkeypatch.setattr(socket, 'create_connection', connect)
    start = time.monotonic()
    cached = osm_cache_paths(GRID_BOUNDS, UTM, tmp_path, layers=('roads',))
    LINES.to_file(cached['roads'], driver='GPKG')
    with pytest.raises(RuntimeError, match='offline') as error:
        download_osm_layers(GRID_BOUNDS, UTM, tmp_path / 'cache')
    message = str(error.value)
    assert 'local files' in message
    for layer in OSM_LAYERS:
        assert f'--{layer} FILE' in message
    assert time.monotonic() - start < 1.5
    # Only the missing layers are asked for.
    with pytest.raises(RuntimeError, match='offline') as error:
        download_osm_layers(GRID_BOUNDS, UTM, tmp_path, layers=('roads', 'buildings'))
    assert '--buildings FILE' in str(error.value)
    assert '--roads FILE' not in str(error.value)


@pytest.mark.usefixtures('no_network')
def test_connection_error_during_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import osmnx
    import requests

    def refused(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.ConnectionError('Max retries exceeded')

    monkeypatch.setattr(vectors, '_check_overpass_connection', lambda layers: None)
    monkeypatch.setattr(osmnx, 'graph_from_bbox', refused)
    timeout = osmnx.settings.requests_timeout
    with pytest.raises(RuntimeError, match=r'offline.*--roads FILE'):
        download_osm_layers(GRID_BOUNDS, UTM, tmp_path, layers=('roads',))
    assert osmnx.settings.requests_timeout == timeout
    assert not any(tmp_path.glob('*.gpkg'))


@pytest.mark.usefixtures('no_network')
def test_download_saves_layers_as_the_paper_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download path end to end, with osmnx's Overpass calls served locally."""
    import osmnx

    roads_xml = tmp_path / 'roads.osm'
    roads_xml.write_text(osm_xml({100: (ROAD, {'highway': 'residential'})}))
    streams_xml = tmp_path / 'streams.osm'
    streams_xml.write_text(osm_xml({102: (STREAM, {'waterway': 'stream'})}))
    features_xml = tmp_path / 'features.osm'
    features_xml.write_text(
        osm_xml({101: (WATER, {'natural': 'water'}), 100: (ROAD, {'highway': 'x'})})
    )
    calls: list[tuple[str, object]] = []
    cache = tmp_path / 'cache'

    def graph_from_bbox(bbox, **kwargs):
        calls.append(('graph', kwargs))
        assert osmnx.settings.cache_folder == cache / 'overpass'
        assert osmnx.settings.requests_timeout == 12
        xml = streams_xml if 'custom_filter' in kwargs else roads_xml
        return osmnx.graph_from_xml(xml, retain_all=True)

    def features_from_bbox(bbox, tags):
        calls.append(('features', tags))
        return osmnx.features_from_xml(features_xml, tags=tags)

    monkeypatch.setattr(vectors, '_check_overpass_connection', lambda layers: None)
    monkeypatch.setattr(osmnx, 'graph_from_bbox', graph_from_bbox)
    monkeypatch.setattr(osmnx, 'features_from_bbox', features_from_bbox)
    paths = download_osm_layers(GRID_BOUNDS, UTM, cache, timeout=12)
    assert paths == osm_cache_paths(GRID_BOUNDS, UTM, cache)
    assert all(path.exists() for path in paths.values())
    assert calls == [
        ('graph', {'network_type': 'all_private', 'retain_all': True}),
        ('graph', {'retain_all': True, 'custom_filter': vectors.WATERWAY_FILTER}),
        ('features', {'natural': 'water'}),
        ('features', {'building': True}),
    ]
    assert osmnx.settings.cache_folder != cache / 'overpass'
    roads = read_vector_layer(paths['roads'])
    assert CRS.from_user_input(roads.crs) == UTM
    assert set(roads['highway']) == {'residential'}
    np.testing.assert_array_equal(
        rasterize(paths['roads'], 'roads'), rasterize(frame([line(*ROAD)]), 'roads')
    )
    np.testing.assert_array_equal(
        rasterize(paths['waterways'], 'waterways'),
        rasterize(frame([line(*STREAM)]), 'waterways'),
    )
    assert rasterize(paths['waterbodies'], 'waterbodies').sum() == 100
    with pytest.warns(UserWarning, match='no features'):
        assert rasterize(paths['buildings'], 'buildings').sum() == 0

    # A second call reads the cache (the osmnx functions now refuse to run).
    monkeypatch.setattr(osmnx, 'graph_from_bbox', forbid('graph_from_bbox'))
    monkeypatch.setattr(osmnx, 'features_from_bbox', forbid('features_from_bbox'))
    assert download_osm_layers(GRID_BOUNDS, UTM, cache) == paths

"""Tests of the OpenStreetMap download and its cache (never reaching the network)."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS

from torchgeo_lsr.datasets import osm
from torchgeo_lsr.datasets.layer_options import OSM_LAYERS, WATERWAY_FILTER
from torchgeo_lsr.datasets.osm import download_osm_layers, osm_cache_paths
from torchgeo_lsr.datasets.vector_files import read_vector_layer

from .conftest import (
    GRID_BOUNDS,
    LINES,
    POLYGONS,
    ROAD,
    STREAM,
    UTM,
    WATER,
    X0,
    Y0,
    frame,
    line,
    osm_xml,
    rasterize,
)

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


def loopback(*args: object, **kwargs: object) -> list[tuple[object, ...]]:
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
    monkeypatch.setattr(osm, '_CONNECT_TIMEOUT', 0.2)
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

    monkeypatch.setattr(osm, '_check_overpass_connection', lambda layers: None)
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

    def graph_from_bbox(bbox: object, **kwargs: object) -> object:
        calls.append(('graph', kwargs))
        assert osmnx.settings.cache_folder == cache / 'overpass'
        assert osmnx.settings.requests_timeout == 12
        xml = streams_xml if 'custom_filter' in kwargs else roads_xml
        return osmnx.graph_from_xml(xml, retain_all=True)

    def features_from_bbox(
        bbox: object, tags: dict[str, bool | str | list[str]]
    ) -> object:
        calls.append(('features', tags))
        return osmnx.features_from_xml(features_xml, tags=tags)

    monkeypatch.setattr(osm, '_check_overpass_connection', lambda layers: None)
    monkeypatch.setattr(osmnx, 'graph_from_bbox', graph_from_bbox)
    monkeypatch.setattr(osmnx, 'features_from_bbox', features_from_bbox)
    paths = download_osm_layers(GRID_BOUNDS, UTM, cache, timeout=12)
    assert paths == osm_cache_paths(GRID_BOUNDS, UTM, cache)
    assert all(path.exists() for path in paths.values())
    assert calls == [
        ('graph', {'network_type': 'all_private', 'retain_all': True}),
        ('graph', {'retain_all': True, 'custom_filter': WATERWAY_FILTER}),
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

"""Download OpenStreetMap layers with osmnx, as the paper did, with a file cache.

:func:`download_osm_layers` fetches roads, waterways, water bodies and buildings
(:data:`~.layer_options.OSM_LAYERS`) for a box and caches them as GeoPackages named
by layer and box (:func:`osm_cache_paths`); a later call for the same box reads the
cache and never touches the network. Offline, it fails at once (a name lookup and a
connection within about 3 seconds) and asks for local files instead.
"""

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas
import numpy as np
import pyproj
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from .layer_options import OSM_LAYERS, OSM_TAGS, WATERWAY_FILTER, select_osm_features
from .vector_files import Bounds, CRSLike, empty_frame, pyproj_crs, rasterio_crs

__all__ = ('download_osm_layers', 'osm_cache_paths')

#: OSM attributes kept (as text) in cached layers.
_OSM_COLUMNS = (
    'element',
    'id',
    'osmid',
    'highway',
    'waterway',
    'natural',
    'water',
    'building',
    'tunnel',
    'name',
)
#: Seconds allowed for the connectivity check before downloading.
_CONNECT_TIMEOUT = 3.0


def osm_cache_paths(
    bounds: Bounds,
    crs: CRSLike,
    cache_dir: str | os.PathLike[str],
    layers: Sequence[str] = OSM_LAYERS,
    margin_degrees: float = 0.05,
) -> dict[str, Path]:
    """Cache files :func:`download_osm_layers` uses for a box (whether or not present).

    Files are named by layer and by the box in longitude/latitude (with the margin)
    rounded to 4 decimals, e.g. ``osm_roads_-81.0500_34.9500_-80.9500_35.0500.gpkg``.

    Args:
        bounds: ``(left, bottom, right, top)`` in ``crs``.
        crs: CRS of ``bounds``.
        cache_dir: cache folder.
        layers: layer names, from :data:`~.layer_options.OSM_LAYERS`.
        margin_degrees: margin added around the box, in degrees.

    Returns:
        Cache path of each layer.

    Raises:
        ValueError: On an unknown layer or empty bounds.
    """
    unknown = [layer for layer in layers if layer not in OSM_LAYERS]
    if unknown:
        raise ValueError(f'unknown OSM layers {unknown}: choose from {OSM_LAYERS}')
    west, south, east, north = _lonlat_bbox(bounds, crs, margin_degrees)
    key = f'{west:.4f}_{south:.4f}_{east:.4f}_{north:.4f}'
    return {layer: Path(cache_dir) / f'osm_{layer}_{key}.gpkg' for layer in layers}


def download_osm_layers(
    bounds: Bounds,
    crs: CRSLike,
    cache_dir: str | os.PathLike[str],
    layers: Sequence[str] = OSM_LAYERS,
    margin_degrees: float = 0.05,
    timeout: float = 30,
) -> dict[str, Path]:
    """Download OpenStreetMap layers for a box as the paper did, with a file cache.

    Roads are the edges of ``osmnx.graph_from_bbox(network_type='all_private',
    retain_all=True)``; waterways the edges of a graph with the custom filter
    :data:`~.layer_options.WATERWAY_FILTER`; water bodies the ``natural=water``
    polygons and buildings the ``building=*`` polygons of
    ``osmnx.features_from_bbox``. Each is reprojected to ``crs`` and saved as a
    GeoPackage in ``cache_dir`` (an empty one when OSM has nothing there, which
    rasterises to zeros). Layers whose cache file exists are not downloaded again;
    if all exist, nothing touches the network.

    Args:
        bounds: ``(left, bottom, right, top)`` in ``crs``.
        crs: CRS of ``bounds`` and of the saved layers.
        cache_dir: cache folder (created if needed; osmnx's HTTP cache goes in its
            ``overpass`` subfolder).
        layers: layers to fetch, from :data:`~.layer_options.OSM_LAYERS`.
        margin_degrees: margin added around the box, in degrees.
        timeout: seconds allowed for each Overpass request.

    Returns:
        Path of each layer's GeoPackage.

    Raises:
        ValueError: On an unknown layer or empty bounds.
        RuntimeError: If the Overpass API cannot be reached (offline) or refuses
            the request; pass local files then.
    """
    paths = osm_cache_paths(bounds, crs, cache_dir, layers, margin_degrees)
    missing = [layer for layer, path in paths.items() if not path.exists()]
    if not missing:
        return paths
    _check_overpass_connection(missing)
    # osmnx (networkx, requests) is heavy and needed only to download.
    import osmnx

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    bbox = _lonlat_bbox(bounds, crs, margin_degrees)
    target = pyproj_crs(crs)
    with _osmnx_settings(osmnx, Path(cache_dir) / 'overpass', timeout):
        for layer in missing:
            frame = _fetch_osm_layer(osmnx, layer, bbox, missing)
            frame = _tidy_osm_frame(frame, target)
            partial = paths[layer].with_name(f'.{paths[layer].stem}.partial.gpkg')
            frame.to_file(partial, driver='GPKG', layer=layer)
            os.replace(partial, paths[layer])
    return paths


def _offline_message(layers: Sequence[str], detail: str) -> str:
    """The error message for an unreachable Overpass API.

    Args:
        layers: layers that were to be downloaded.
        detail: what failed.

    Returns:
        The message.
    """
    flags = ', '.join(f'--{layer} FILE' for layer in layers)
    return (
        f'cannot download OpenStreetMap layers {list(layers)}: {detail}. You seem '
        f'to be offline; pass local files instead ({flags}), e.g. GeoPackage, '
        'GeoJSON, Shapefile, GeoParquet, FlatGeobuf or .osm files'
    )


def _check_overpass_connection(layers: Sequence[str]) -> None:
    """Fail fast if the Overpass API host cannot be reached.

    The name lookup and the TCP connection together get about 3 seconds, so that
    an offline machine (whose resolver may hang) fails at once.

    Args:
        layers: layers that are to be downloaded (for the message).

    Raises:
        RuntimeError: If the host cannot be resolved or connected to in time.
    """
    # osmnx is heavy: loaded only when a download is due (its settings hold the URL).
    import osmnx

    url = urlparse(str(osmnx.settings.overpass_url))
    host = url.hostname or 'overpass-api.de'
    port = url.port or (80 if url.scheme == 'http' else 443)
    deadline = time.monotonic() + _CONNECT_TIMEOUT
    try:
        addresses = _resolve(host, port, _CONNECT_TIMEOUT)
        error: OSError = OSError(f'no address for {host}')
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no connection within {_CONNECT_TIMEOUT:g} s')
            try:
                connection = socket.create_connection(address, timeout=remaining)
            except OSError as failure:
                error = failure
            else:
                connection.close()
                return
        raise error
    except OSError as error:
        raise RuntimeError(
            _offline_message(layers, f'cannot reach {host}:{port} ({error})')
        ) from error


def _resolve(host: str, port: int, timeout: float) -> list[tuple[str, int]]:
    """Look a host up, giving up after ``timeout`` seconds.

    Args:
        host: host name.
        port: TCP port.
        timeout: seconds to wait for the resolver.

    Returns:
        ``(address, port)`` pairs to connect to.

    Raises:
        OSError: If the lookup fails or times out (``TimeoutError``).
    """
    results: list[list[tuple[str, int]] | OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            results.append(error)
        else:
            results.append([(str(info[4][0]), port) for info in infos])

    thread = threading.Thread(target=lookup, name='overpass-lookup', daemon=True)
    thread.start()
    thread.join(timeout)
    if not results:
        raise TimeoutError(f'looking up {host} took over {timeout:g} s')
    if isinstance(results[0], OSError):
        raise results[0]
    return results[0]


@contextmanager
def _osmnx_settings(osmnx: Any, cache_folder: Path, timeout: float) -> Iterator[None]:
    """Temporarily set osmnx's HTTP cache folder and request timeout.

    Args:
        osmnx: the osmnx module.
        cache_folder: folder of osmnx's HTTP cache.
        timeout: request timeout in seconds.

    Yields:
        Nothing; the previous settings are restored on exit.
    """
    settings = osmnx.settings
    previous = (settings.cache_folder, settings.requests_timeout)
    settings.cache_folder, settings.requests_timeout = cache_folder, timeout
    try:
        yield
    finally:
        settings.cache_folder, settings.requests_timeout = previous


def _fetch_osm_layer(
    osmnx: Any, layer: str, bbox: Bounds, missing: Sequence[str]
) -> geopandas.GeoDataFrame:
    """Download one layer (in EPSG:4326 or the graph's CRS).

    Args:
        osmnx: the osmnx module.
        layer: one of :data:`~.layer_options.OSM_LAYERS`.
        bbox: ``(west, south, east, north)`` in degrees.
        missing: layers being downloaded (for messages).

    Returns:
        The layer's features, possibly empty.

    Raises:
        RuntimeError: If the Overpass API cannot be reached or answers an error.
    """
    # Loaded with osmnx itself, only when downloading.
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    try:
        if layer in ('roads', 'waterways'):
            if layer == 'roads':
                graph = osmnx.graph_from_bbox(
                    bbox, network_type='all_private', retain_all=True
                )
            else:
                graph = osmnx.graph_from_bbox(
                    bbox, retain_all=True, custom_filter=WATERWAY_FILTER
                )
            if graph.number_of_edges() == 0:
                return empty_frame('EPSG:4326')
            frame = osmnx.graph_to_gdfs(graph, nodes=False).reset_index()
        else:
            frame = osmnx.features_from_bbox(bbox, tags=OSM_TAGS[layer]).reset_index()
    except ResponseStatusCodeError as error:
        raise RuntimeError(
            f'the Overpass API refused the {layer} request ({error}); try again '
            'later or pass local files instead '
            f'({", ".join(f"--{name} FILE" for name in missing)})'
        ) from error
    except InsufficientResponseError:
        return empty_frame('EPSG:4326')
    except ValueError as error:
        if 'no graph nodes' in str(error):
            return empty_frame('EPSG:4326')
        raise
    except OSError as error:
        # requests' ConnectionError and Timeout are OSErrors.
        raise RuntimeError(
            _offline_message(missing, f'downloading {layer} failed ({error})')
        ) from error
    return select_osm_features(frame, layer)


def _tidy_osm_frame(
    frame: geopandas.GeoDataFrame, crs: pyproj.CRS
) -> geopandas.GeoDataFrame:
    """Keep the geometry and a few OSM attributes as text, reprojected to ``crs``.

    Args:
        frame: downloaded features.
        crs: CRS to save in.

    Returns:
        A frame GeoPackage can store.
    """
    data = {
        column: [_as_text(value) for value in frame[column]]
        for column in _OSM_COLUMNS
        if column in frame.columns
    }
    tidy = geopandas.GeoDataFrame(
        data, geometry=list(frame.geometry), crs=frame.crs or 'EPSG:4326'
    )
    return tidy.to_crs(crs)


def _as_text(value: Any) -> str | None:
    """OSM attribute as text (lists joined with ``;``, missing as None).

    Args:
        value: attribute value.

    Returns:
        The text, or None.
    """
    if isinstance(value, list | tuple | set):
        return ';'.join(str(item) for item in value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _lonlat_bbox(bounds: Bounds, crs: CRSLike, margin_degrees: float) -> Bounds:
    """Bounds in a CRS as a longitude/latitude box with a margin.

    Args:
        bounds: ``(left, bottom, right, top)`` in ``crs``.
        crs: CRS of ``bounds``.
        margin_degrees: margin in degrees.

    Returns:
        ``(west, south, east, north)``.

    Raises:
        ValueError: If the bounds are empty.
    """
    left, bottom, right, top = bounds
    if not (left < right and bottom < top):
        raise ValueError(f'bounds {bounds} are empty: need left < right, bottom < top')
    west, south, east, north = transform_bounds(
        rasterio_crs(crs), CRS.from_epsg(4326), left, bottom, right, top
    )
    return (
        max(west - margin_degrees, -180.0),
        max(south - margin_degrees, -90.0),
        min(east + margin_degrees, 180.0),
        min(north + margin_degrees, 90.0),
    )

"""Auxiliary vector layers (roads, waterways, water bodies, buildings) on a grid.

The land-cover experiments of the paper (REFERENCE, "Resolving label uncertainty
with implicit posterior models") add four vector layers to the priors. They come from
local files or from OpenStreetMap and are rasterised to 0/1 onto the imagery grid with
the paper's rules (:data:`LAYER_OPTIONS`):

============  ============================================  ============  =========
layer         OpenStreetMap source                          all_touched   widen
============  ============================================  ============  =========
roads         highway lines (``graph_from_bbox``,           False         3x3
              ``network_type='all_private'``)
waterways     ``["waterway"]["tunnel"!~"culvert|yes"]``     True          no
              lines
waterbodies   ``natural=water`` polygons                    False         no
buildings     ``building=*`` polygons (or Microsoft         False         no
              building footprints)
============  ============================================  ============  =========

Local files may be GeoPackage, GeoJSON, Shapefile, GeoParquet, FlatGeobuf or OSM XML
(``.osm``), in any CRS; rasters work too (values > 0 become 1). Vector files are read
and rasterised through :class:`~torchgeo_lsr.priors.layers.LayerSource` where GDAL
reads them; GeoParquet and OSM XML are read here (:func:`read_vector_layer`).

:func:`download_osm_layers` fetches the layers with osmnx as the paper did and caches
them as GeoPackages; a later call for the same box reads the cache and never touches
the network. Offline, it fails at once and asks for local files instead.
"""

import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas
import numpy as np
import numpy.typing as npt
import pyproj
import rasterio
import rasterio.features
import rasterio.transform
import rasterio.windows
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from ..priors.fusion import RasterisationOptions, dilate
from ..priors.layers import LayerSource

__all__ = (
    'LAYER_OPTIONS',
    'OSM_LAYERS',
    'OSM_TAGS',
    'SUPPORTED_FORMATS',
    'WATERWAY_FILTER',
    'download_osm_layers',
    'osm_cache_paths',
    'rasterize_layer',
    'read_vector_layer',
)

#: A CRS: a rasterio or pyproj CRS, an EPSG code, or any string they understand.
type CRSLike = CRS | pyproj.CRS | str | int

#: Bounds ``(left, bottom, right, top)``.
type Bounds = tuple[float, float, float, float]

#: The paper's rasterisation rules for its four auxiliary layers.
LAYER_OPTIONS: dict[str, RasterisationOptions] = {
    'roads': RasterisationOptions(all_touched=False, widen=3),
    'waterways': RasterisationOptions(all_touched=True, widen=1),
    'waterbodies': RasterisationOptions(all_touched=False, widen=1),
    'buildings': RasterisationOptions(all_touched=False, widen=1),
}

#: Layers :func:`download_osm_layers` can fetch.
OSM_LAYERS: tuple[str, ...] = ('roads', 'waterways', 'waterbodies', 'buildings')

#: Overpass filter of the paper's waterways (culverts and tunnels left out).
WATERWAY_FILTER = '["waterway"]["tunnel"!~"culvert|yes"]'

#: OSM tags of each layer (used for features and to filter ``.osm`` files).
OSM_TAGS: dict[str, dict[str, bool | str | list[str]]] = {
    'roads': {'highway': True},
    'waterways': {'waterway': True},
    'waterbodies': {'natural': 'water'},
    'buildings': {'building': True},
}

#: Vector formats :func:`read_vector_layer` reads (other GDAL formats may work).
SUPPORTED_FORMATS = (
    'GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), '
    'GeoParquet (.parquet, .geoparquet), FlatGeobuf (.fgb), OSM XML (.osm)'
)

_LINES = ('LineString', 'MultiLineString')
_POLYGONS = ('Polygon', 'MultiPolygon')
#: Geometry types kept for each OSM layer.
_OSM_GEOMETRIES: dict[str, tuple[str, ...]] = {
    'roads': _LINES,
    'waterways': _LINES,
    'waterbodies': _POLYGONS,
    'buildings': _POLYGONS,
}
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
_PARQUET_SUFFIXES = ('.parquet', '.geoparquet')
#: Seconds allowed for the connectivity check before downloading.
_CONNECT_TIMEOUT = 3.0


def read_vector_layer(
    path: str | os.PathLike[str],
    crs: CRSLike | None = None,
    bounds: Bounds | None = None,
    *,
    layer: str | None = None,
) -> geopandas.GeoDataFrame:
    """Read a vector file, optionally clipped to bounds and reprojected.

    OSM XML files are read with osmnx (``features_from_xml``); if ``layer`` is one of
    :data:`OSM_LAYERS`, only that layer's features are kept (its :data:`OSM_TAGS`
    and geometry type, and for waterways no culverts or tunnels, as the paper's
    filter).

    Args:
        path: GeoPackage, GeoJSON, Shapefile, GeoParquet, FlatGeobuf or OSM XML
            file (see :data:`SUPPORTED_FORMATS`).
        crs: CRS to reproject to; also the CRS assumed (with a warning) for a file
            that has none. Default: keep the file's CRS.
        bounds: ``(left, bottom, right, top)`` in ``crs`` (or in the file's CRS if
            ``crs`` is None) to clip the features to.
        layer: name of the layer, for messages and to select OSM features.

    Returns:
        The features, without null or empty geometries (possibly none, then with a
        warning).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be read as vectors, or has no CRS and ``crs`` is
            None.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'vector layer file {path} does not exist')
    label = repr(layer) if layer else str(path)
    target = None if crs is None else pyproj.CRS.from_user_input(_pyproj_input(crs))
    frame = _read_features(path, target, bounds, layer)
    if frame.crs is None:
        if target is None:
            raise ValueError(
                f'{path} has no CRS: pass the CRS its coordinates are in (crs=...)'
            )
        warnings.warn(f'{path} has no CRS; assuming {target.name}', stacklevel=2)
        frame = frame.set_crs(target)
    if target is not None:
        frame = frame.to_crs(target)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if bounds is not None and not frame.empty:
        frame = geopandas.clip(frame, shapely.box(*bounds))
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        where = ' within the requested bounds' if bounds is not None else ''
        warnings.warn(
            f'vector layer {label} ({path.name}) has no features{where}', stacklevel=2
        )
    return frame.reset_index(drop=True)


def _read_features(
    path: Path, target: pyproj.CRS | None, bounds: Bounds | None, layer: str | None
) -> geopandas.GeoDataFrame:
    """Read a file's features (no reprojection).

    Args:
        path: existing file.
        target: CRS of ``bounds`` if given.
        bounds: box to pre-filter features with (GDAL formats only).
        layer: layer name (selects OSM features).

    Returns:
        The features as read.

    Raises:
        ValueError: If the file cannot be read as vectors.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == '.osm':
            frame = _read_osm_xml(path, layer)
        elif suffix in _PARQUET_SUFFIXES:
            frame = geopandas.read_parquet(path)
        else:
            bbox = None
            if bounds is not None:
                header = geopandas.read_file(path, rows=0)
                bbox = bounds
                if target is not None and header.crs is not None:
                    bbox = transform_bounds(
                        _rasterio_crs(target), _rasterio_crs(header.crs), *bounds
                    )
            frame = geopandas.read_file(path, bbox=bbox)
    except ImportError as error:
        raise ValueError(
            f'cannot read {path}: GeoParquet needs pyarrow (pip install pyarrow); '
            f'supported formats: {SUPPORTED_FORMATS}'
        ) from error
    except Exception as error:
        raise ValueError(
            f'cannot read {path} as a vector layer ({type(error).__name__}: {error}); '
            f'supported formats: {SUPPORTED_FORMATS}'
        ) from error
    if not isinstance(frame, geopandas.GeoDataFrame):
        raise ValueError(  # noqa: TRY004
            f'{path} has no geometries; supported formats: {SUPPORTED_FORMATS}'
        )
    return frame


def _read_osm_xml(path: Path, layer: str | None) -> geopandas.GeoDataFrame:
    """Read an OSM XML file with osmnx.

    Args:
        path: ``.osm`` file.
        layer: if one of :data:`OSM_LAYERS`, keep only its features.

    Returns:
        Features in EPSG:4326.
    """
    import osmnx
    from osmnx._errors import InsufficientResponseError

    tags = OSM_TAGS.get(layer) if layer else None
    try:
        frame = osmnx.features_from_xml(path, tags=tags)
    except InsufficientResponseError:
        return _empty_frame('EPSG:4326')
    frame = frame.reset_index()
    if layer in OSM_TAGS:
        frame = _select_osm_features(frame, layer)
    return frame


def _select_osm_features(
    frame: geopandas.GeoDataFrame, layer: str
) -> geopandas.GeoDataFrame:
    """Keep the OSM features that belong to a layer (by geometry type and tags).

    Args:
        frame: OSM features.
        layer: one of :data:`OSM_LAYERS`.

    Returns:
        The selected features.
    """
    frame = frame[frame.geom_type.isin(_OSM_GEOMETRIES[layer])]
    if layer == 'waterways' and 'tunnel' in frame.columns:
        frame = frame[~frame['tunnel'].isin(['culvert', 'yes'])]
    return frame


def rasterize_layer(
    source: str | os.PathLike[str] | geopandas.GeoDataFrame,
    name: str,
    crs: CRSLike,
    transform: Affine,
    width: int,
    height: int,
    options: RasterisationOptions | None = None,
) -> npt.NDArray[np.uint8]:
    """Rasterise a layer onto a grid as 0/1.

    Raster files are warped with nearest resampling (values > 0 become 1); vector
    files and frames are reprojected and burnt with the layer's options (``widen``
    dilates the burnt layer, counting features just outside the grid).

    Args:
        source: raster or vector file, or a GeoDataFrame.
        name: layer name (``'roads'``, ``'waterways'``, ``'waterbodies'``,
            ``'buildings'`` or any other); chooses the paper's options from
            :data:`LAYER_OPTIONS` (defaults for other names) and, for ``.osm``
            files, the OSM features.
        crs: grid CRS.
        transform: grid transform.
        width: grid width in pixels.
        height: grid height in pixels.
        options: rasterisation options instead of the layer's defaults.

    Returns:
        (height, width) uint8 array of 0 and 1.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is neither a raster nor a readable vector file.
    """
    if options is None:
        options = LAYER_OPTIONS.get(name, RasterisationOptions())
    grid_crs = _rasterio_crs(crs)
    if isinstance(source, geopandas.GeoDataFrame):
        return _burn(source, name, grid_crs, transform, width, height, options)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f'auxiliary layer {name!r}: {path} does not exist')
    if path.suffix.lower() in (*_PARQUET_SUFFIXES, '.osm'):
        # Formats GDAL may not read: read here, burn as LayerSource does.
        frame = read_vector_layer(path, grid_crs, layer=name)
        return _burn(frame, name, grid_crs, transform, width, height, options)
    _warn_if_raster_outside(path, name, grid_crs, transform, width, height)
    source_layer = LayerSource(path, grid_crs, transform, width, height, options)
    try:
        values = source_layer.read(0, 0, height, width)
    finally:
        source_layer.close()
    return np.asarray(values > 0, dtype=np.uint8)


def _burn(
    frame: geopandas.GeoDataFrame,
    name: str,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    options: RasterisationOptions,
) -> npt.NDArray[np.uint8]:
    """Burn a frame's geometries onto a grid (as LayerSource does for files).

    Args:
        frame: features (assumed in ``crs`` if they have no CRS, with a warning).
        name: layer name, for messages.
        crs: grid CRS.
        transform: grid transform.
        width: grid width.
        height: grid height.
        options: rasterisation options.

    Returns:
        (height, width) uint8 0/1 array.
    """
    if frame.crs is None:
        warnings.warn(
            f'auxiliary layer {name!r} has no CRS; assuming the grid CRS', stacklevel=3
        )
        frame = frame.set_crs(crs.to_wkt())
    geometries = frame.geometry
    # Reprojecting or filtering makes a new series, whose spatial index is built
    # again: skip both when the frame is already clean and on the grid's CRS (the
    # data module burns the same frame for every patch).
    if not pyproj.CRS.from_user_input(geometries.crs).equals(crs.to_wkt()):
        geometries = geometries.to_crs(crs.to_wkt())
    unusable = geometries.isna() | geometries.is_empty
    if unusable.any():
        geometries = geometries[~unusable]
    widen = options.widen // 2
    outer = rasterio.windows.Window(
        -widen, -widen, width + 2 * widen, height + 2 * widen
    )
    box = shapely.box(*_sorted(rasterio.windows.bounds(outer, transform)))
    candidates = geometries.iloc[
        geometries.sindex.query(box, predicate='intersects')
    ].reset_index(drop=True)
    if candidates.empty:
        warnings.warn(
            f'auxiliary layer {name!r} has no features over the output area',
            stacklevel=3,
        )
        return np.zeros((height, width), dtype=np.uint8)
    burned = rasterio.features.rasterize(
        ((geometry, 1) for geometry in candidates),
        out_shape=(height + 2 * widen, width + 2 * widen),
        transform=rasterio.windows.transform(outer, transform),
        all_touched=options.all_touched,
        fill=0,
        dtype='uint8',
    )
    layer = dilate(burned, options.widen)[widen : widen + height, widen : widen + width]
    return np.asarray(layer > 0, dtype=np.uint8)


def _warn_if_raster_outside(
    path: Path, name: str, crs: CRS, transform: Affine, width: int, height: int
) -> None:
    """Warn if a raster file does not overlap the grid (nothing if not a raster).

    Args:
        path: file.
        name: layer name.
        crs: grid CRS.
        transform: grid transform.
        width: grid width.
        height: grid height.
    """
    try:
        with rasterio.open(path) as raster:
            if raster.crs is None:
                return
            left, bottom, right, top = transform_bounds(raster.crs, crs, *raster.bounds)
    except RasterioIOError:
        return
    grid = _sorted(rasterio.transform.array_bounds(height, width, transform))
    if left >= grid[2] or right <= grid[0] or bottom >= grid[3] or top <= grid[1]:
        warnings.warn(
            f'auxiliary layer {name!r} ({path}) does not overlap the output area',
            stacklevel=3,
        )


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
        layers: layer names, from :data:`OSM_LAYERS`.
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
    :data:`WATERWAY_FILTER`; water bodies the ``natural=water`` polygons and
    buildings the ``building=*`` polygons of ``osmnx.features_from_bbox``. Each is
    reprojected to ``crs`` and saved as a GeoPackage in ``cache_dir`` (an empty
    one when OSM has nothing there, which rasterises to zeros). Layers whose cache
    file exists are not downloaded again; if all exist, nothing touches the
    network.

    Args:
        bounds: ``(left, bottom, right, top)`` in ``crs``.
        crs: CRS of ``bounds`` and of the saved layers.
        cache_dir: cache folder (created if needed; osmnx's HTTP cache goes in its
            ``overpass`` subfolder).
        layers: layers to fetch, from :data:`OSM_LAYERS`.
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
    import osmnx

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    bbox = _lonlat_bbox(bounds, crs, margin_degrees)
    target = pyproj.CRS.from_user_input(_pyproj_input(crs))
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
        layer: one of :data:`OSM_LAYERS`.
        bbox: ``(west, south, east, north)`` in degrees.
        missing: layers being downloaded (for messages).

    Returns:
        The layer's features, possibly empty.

    Raises:
        RuntimeError: If the Overpass API cannot be reached or answers an error.
    """
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
                return _empty_frame('EPSG:4326')
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
        return _empty_frame('EPSG:4326')
    except ValueError as error:
        if 'no graph nodes' in str(error):
            return _empty_frame('EPSG:4326')
        raise
    except OSError as error:
        # requests' ConnectionError and Timeout are OSErrors.
        raise RuntimeError(
            _offline_message(missing, f'downloading {layer} failed ({error})')
        ) from error
    return _select_osm_features(frame, layer)


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


def _empty_frame(crs: str) -> geopandas.GeoDataFrame:
    """An empty frame with a geometry column.

    Args:
        crs: its CRS.

    Returns:
        The frame.
    """
    return geopandas.GeoDataFrame(geometry=[], crs=crs)


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
        _rasterio_crs(crs), CRS.from_epsg(4326), left, bottom, right, top
    )
    return (
        max(west - margin_degrees, -180.0),
        max(south - margin_degrees, -90.0),
        min(east + margin_degrees, 180.0),
        min(north + margin_degrees, 90.0),
    )


def _sorted(bounds: Sequence[float]) -> Bounds:
    """Bounds as ``(left, bottom, right, top)`` whatever the transform's signs.

    Args:
        bounds: two corners.

    Returns:
        The ordered bounds.
    """
    x0, y0, x1, y1 = bounds
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _pyproj_input(crs: CRSLike) -> Any:
    """A CRS in a form pyproj understands.

    Args:
        crs: a CRS.

    Returns:
        The same CRS for ``pyproj.CRS.from_user_input``.
    """
    return crs.to_wkt() if isinstance(crs, CRS) else crs


def _rasterio_crs(crs: CRSLike) -> CRS:
    """A rasterio CRS.

    Args:
        crs: a CRS.

    Returns:
        The rasterio CRS.
    """
    if isinstance(crs, CRS):
        return crs
    if isinstance(crs, int):
        return CRS.from_epsg(crs)
    if isinstance(crs, pyproj.CRS):
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)

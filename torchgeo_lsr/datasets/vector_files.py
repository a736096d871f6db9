"""Read vector files of any common format, clipped to bounds and reprojected.

Local files may be GeoPackage, GeoJSON, Shapefile, GeoParquet, FlatGeobuf or OSM XML
(``.osm``), in any CRS (:data:`SUPPORTED_FORMATS`). GDAL formats are read with
geopandas (pre-filtered by the bounds), GeoParquet with pyarrow, OSM XML with osmnx
(selecting a layer's features by :data:`~.layer_options.OSM_TAGS`). Also the CRS
conversions the vector modules share.
"""

import os
import warnings
from pathlib import Path
from typing import Any

import geopandas
import pyproj
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from .layer_options import OSM_TAGS, select_osm_features

__all__ = (
    'PARQUET_SUFFIXES',
    'SUPPORTED_FORMATS',
    'Bounds',
    'CRSLike',
    'empty_frame',
    'pyproj_crs',
    'rasterio_crs',
    'read_vector_layer',
)

#: A CRS: a rasterio or pyproj CRS, an EPSG code, or any string they understand.
type CRSLike = CRS | pyproj.CRS | str | int

#: Bounds ``(left, bottom, right, top)``.
type Bounds = tuple[float, float, float, float]

#: Vector formats :func:`read_vector_layer` reads (other GDAL formats may work).
SUPPORTED_FORMATS = (
    'GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), '
    'GeoParquet (.parquet, .geoparquet), FlatGeobuf (.fgb), OSM XML (.osm)'
)

#: Suffixes of GeoParquet files (read with pyarrow, not GDAL).
PARQUET_SUFFIXES = ('.parquet', '.geoparquet')


def read_vector_layer(
    path: str | os.PathLike[str],
    crs: CRSLike | None = None,
    bounds: Bounds | None = None,
    *,
    layer: str | None = None,
) -> geopandas.GeoDataFrame:
    """Read a vector file, optionally clipped to bounds and reprojected.

    OSM XML files are read with osmnx (``features_from_xml``); if ``layer`` is one of
    :data:`~.layer_options.OSM_LAYERS`, only that layer's features are kept (its
    :data:`~.layer_options.OSM_TAGS` and geometry type, and for waterways no
    culverts or tunnels, as the paper's filter).

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
    target = None if crs is None else pyproj_crs(crs)
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
        elif suffix in PARQUET_SUFFIXES:
            frame = geopandas.read_parquet(path)
        else:
            bbox = None
            if bounds is not None:
                header = geopandas.read_file(path, rows=0)
                bbox = bounds
                if target is not None and header.crs is not None:
                    bbox = transform_bounds(
                        rasterio_crs(target), rasterio_crs(header.crs), *bounds
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
        layer: if one of :data:`~.layer_options.OSM_LAYERS`, keep only its
            features.

    Returns:
        Features in EPSG:4326.
    """
    # osmnx (networkx, requests) is heavy and needed only for OSM files.
    import osmnx
    from osmnx._errors import InsufficientResponseError

    tags = OSM_TAGS.get(layer) if layer else None
    try:
        frame = osmnx.features_from_xml(path, tags=tags)
    except InsufficientResponseError:
        return empty_frame('EPSG:4326')
    frame = frame.reset_index()
    if layer in OSM_TAGS:
        frame = select_osm_features(frame, layer)
    return frame


def empty_frame(crs: str) -> geopandas.GeoDataFrame:
    """An empty frame with a geometry column.

    Args:
        crs: its CRS.

    Returns:
        The frame.
    """
    return geopandas.GeoDataFrame(geometry=[], crs=crs)


def pyproj_crs(crs: CRSLike) -> pyproj.CRS:
    """A pyproj CRS.

    Args:
        crs: a CRS.

    Returns:
        The pyproj CRS.
    """
    source: Any = crs.to_wkt() if isinstance(crs, CRS) else crs
    return pyproj.CRS.from_user_input(source)


def rasterio_crs(crs: CRSLike) -> CRS:
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

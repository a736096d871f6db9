"""Rasterise an auxiliary layer onto a grid as 0/1, with the paper's rules.

A layer is a raster file (warped with nearest resampling; values > 0 become 1), a
vector file or a GeoDataFrame (reprojected and burnt with the layer's
:class:`~torchgeo_lsr.priors.fusion.RasterisationOptions`: ``all_touched``, and
``widen`` dilating the burnt layer, counting features just outside the grid). Files
GDAL reads go through :class:`~torchgeo_lsr.priors.layers.LayerSource`, as for
priors; GeoParquet and OSM XML are read by :func:`~.vector_files.read_vector_layer`
and burnt here the same way.
"""

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

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
from .layer_options import LAYER_OPTIONS
from .vector_files import (
    PARQUET_SUFFIXES,
    Bounds,
    CRSLike,
    rasterio_crs,
    read_vector_layer,
)

__all__ = ('rasterize_layer',)


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
            :data:`~.layer_options.LAYER_OPTIONS` (defaults for other names) and,
            for ``.osm`` files, the OSM features.
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
    grid_crs = rasterio_crs(crs)
    if isinstance(source, geopandas.GeoDataFrame):
        return _burn(source, name, grid_crs, transform, width, height, options)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f'auxiliary layer {name!r}: {path} does not exist')
    if path.suffix.lower() in (*PARQUET_SUFFIXES, '.osm'):
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

    A warning, not an error: a layer file may cover a larger area than one run's
    grid, and an empty layer rasterises to zeros.

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


def _sorted(bounds: Sequence[float]) -> Bounds:
    """Bounds as ``(left, bottom, right, top)`` whatever the transform's signs.

    Args:
        bounds: two corners.

    Returns:
        The ordered bounds.
    """
    x0, y0, x1, y1 = bounds
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

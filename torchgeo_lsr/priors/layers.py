"""Auxiliary layers (roads, water, buildings, ...) read onto an output grid.

A layer comes from a raster (read with nearest resampling; values > 0 become 1, nodata
0) or from any vector file geopandas reads (reprojected once, rasterised window by
window to 0/1, optionally widened by a square dilation).
"""

import os
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np
import rasterio
import rasterio.features
import rasterio.windows
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from .fusion import RasterisationOptions, dilate

__all__ = ('LayerSource', 'labels_on_grid', 'open_layer')


def labels_on_grid(
    src: rasterio.DatasetReader, crs: CRS, transform: Affine, width: int, height: int
) -> WarpedVRT:
    """Label codes of a raster on another grid (nearest), as float32 with NaN nodata.

    Float with NaN nodata because GDAL would otherwise alter source codes equal to an
    integer fill value, and pixels outside the raster must stay distinguishable.

    Args:
        src: the label raster.
        crs: output CRS.
        transform: output transform.
        width: output width.
        height: output height.

    Returns:
        A warped view to read windows from (close it, or use it as a context).
    """
    return WarpedVRT(
        src,
        crs=crs,
        transform=transform,
        width=width,
        height=height,
        resampling=Resampling.nearest,
        dtype='float32',
        nodata=float('nan'),
    )


class LayerSource:
    """A layer on an output grid, readable window by window."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        crs: CRS,
        transform: Affine,
        width: int,
        height: int,
        options: RasterisationOptions | None = None,
    ) -> None:
        """Open a layer for an output grid.

        Args:
            path: raster or vector file.
            crs: output CRS.
            transform: output transform.
            width: output width.
            height: output height.
            options: how vectors are rasterised.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If it is neither a raster nor a vector file.
        """
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f'auxiliary layer {self.path} does not exist')
        self.crs, self.transform = crs, transform
        self.width, self.height = width, height
        self.options = options or RasterisationOptions()
        self._raster: Any = None
        self._vrt: Any = None
        self._geometries: Any = None
        try:
            self._raster = rasterio.open(self.path)
        except RasterioIOError:
            self._read_vector()
        else:
            self._vrt = WarpedVRT(
                self._raster,
                crs=crs,
                transform=transform,
                width=width,
                height=height,
                resampling=Resampling.nearest,
            )

    def _read_vector(self) -> None:
        """Read and reproject the features that touch the output grid.

        Raises:
            ValueError: If the file cannot be read as vectors.
        """
        # geopandas (pandas, pyogrio) is heavy: load it only for vector layers.
        import geopandas

        bounds = rasterio.transform.array_bounds(
            self.height, self.width, self.transform
        )
        try:
            info = geopandas.read_file(self.path, rows=0)
            source_crs = info.crs or self.crs
            bbox = transform_bounds(self.crs, source_crs, *bounds)
            frame = geopandas.read_file(self.path, bbox=bbox)
        except Exception as error:
            raise ValueError(
                f'{self.path} is neither a raster nor a vector file geopandas reads'
            ) from error
        if frame.crs is None:
            warnings.warn(
                f'{self.path} has no CRS; assuming the output CRS', stacklevel=3
            )
            frame = frame.set_crs(self.crs)
        frame = frame.to_crs(self.crs)
        frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
        if frame.empty:
            warnings.warn(
                f'auxiliary layer {self.path} has no features over the output area',
                stacklevel=3,
            )
        self._geometries = frame.geometry.reset_index(drop=True)

    def read(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """Read a window (inside the grid) as float32 0/1 values.

        Args:
            row: top row.
            col: left column.
            height: window height.
            width: window width.

        Returns:
            (height, width) float32 array.
        """
        window = rasterio.windows.Window(col, row, width, height)
        if self._vrt is not None:
            values = self._vrt.read(1, window=window, masked=True)
            return np.asarray(values.filled(0) > 0, dtype=np.float32)
        widen = self.options.widen // 2
        # Rasterise with a margin so that widening sees features just outside.
        outer = rasterio.windows.Window(
            col - widen, row - widen, width + 2 * widen, height + 2 * widen
        )
        outer_transform = rasterio.windows.transform(outer, self.transform)
        bounds = rasterio.windows.bounds(outer, self.transform)
        candidates = self._geometries.iloc[
            self._geometries.sindex.query(_box(bounds), predicate='intersects')
        ]
        if candidates.empty:
            return np.zeros((height, width), dtype=np.float32)
        burned = rasterio.features.rasterize(
            ((geometry, 1) for geometry in candidates),
            out_shape=(height + 2 * widen, width + 2 * widen),
            transform=outer_transform,
            all_touched=self.options.all_touched,
            fill=0,
            dtype='uint8',
        ).astype(np.float32)
        layer = dilate(burned, self.options.widen)
        return layer[widen : widen + height, widen : widen + width]

    def close(self) -> None:
        """Release file handles."""
        if self._vrt is not None:
            self._vrt.close()
        if self._raster is not None:
            self._raster.close()

    def __enter__(self) -> Self:
        """Use the layer as a context that closes it.

        Returns:
            The layer.
        """
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the layer.

        Args:
            exc_info: the exception, if any (not suppressed).
        """
        self.close()


def _box(bounds: tuple[float, float, float, float]) -> Any:
    """A shapely box from (left, bottom, right, top)."""
    return shapely.box(*bounds)


def open_layer(
    path: str | os.PathLike[str],
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    options: RasterisationOptions | None = None,
) -> LayerSource:
    """Open a raster or vector layer on an output grid (see :class:`LayerSource`).

    Args:
        path: raster or vector file.
        crs: output CRS.
        transform: output transform.
        width: output width.
        height: output height.
        options: how vectors are rasterised.

    Returns:
        The layer source.
    """
    return LayerSource(path, crs, transform, width, height, options)

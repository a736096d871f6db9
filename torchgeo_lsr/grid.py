"""Raster grids: blocks with a halo, sample windows, overlap checks, GeoTIFF profiles.

The one place the package cuts a raster grid into pieces and compares extents:

* :func:`iter_blocks`: row-major blocks of a grid, each with the window to read
  (the block plus a halo, clipped to the grid), the window to write and how much of
  the halo the grid's edge cut off (what
  :meth:`~torchgeo_lsr.priors.PriorBuilder.build_window` reflects instead);
* :func:`sample_windows`: a regular spread of small windows covering a fraction of
  a raster (image statistics, code checks);
* :func:`check_overlap`: refuse two extents (bounds in any CRS, or geometries)
  that share no area, with a message naming both extents and CRSs;
* :func:`geotiff_profile`: the profile of every tiled GeoTIFF the package writes.

Regions (a box or a vector file) become geometries in
:mod:`torchgeo_lsr.datasets.regions`, beside the vector readers: this module reads
no vector file, so every layer of the package may import it.
"""

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import rasterio.windows
import shapely
from rasterio.warp import transform_bounds
from rasterio.windows import Window

__all__ = (
    'Block',
    'Bounds',
    'Region',
    'check_overlap',
    'crs_name',
    'geotiff_profile',
    'halo_window',
    'iter_blocks',
    'sample_windows',
    'window_bounds',
)

#: ``(minx, miny, maxx, maxy)``.
Bounds = tuple[float, float, float, float]

#: A region: ``(xmin, ymin, xmax, ymax)`` in the imagery CRS, or a vector file of
#: polygons (any CRS; reprojected).
Region = Sequence[float] | str | os.PathLike[str]


@dataclass(frozen=True)
class Block:
    """One block of a grid and the halo read around it.

    Attributes:
        row: first row of the block.
        col: first column of the block.
        height: rows of the block.
        width: columns of the block.
        halo: pixels of context wanted on every side.
        grid_height: rows of the whole grid.
        grid_width: columns of the whole grid.
    """

    row: int
    col: int
    height: int
    width: int
    halo: int = 0
    grid_height: int = 0
    grid_width: int = 0

    @property
    def window(self) -> Window:
        """The block's own window (what is written)."""
        return Window(self.col, self.row, self.width, self.height)

    @property
    def _reach(
        self,
    ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
        """Read rows, read columns and cut of the block (see :func:`halo_window`)."""
        return halo_window(
            (self.row, self.row + self.height),
            (self.col, self.col + self.width),
            self.halo,
            (0, self.grid_height, 0, self.grid_width),
        )

    @property
    def read_rows(self) -> tuple[int, int]:
        """(start, stop) rows of the block plus its halo, clipped to the grid."""
        return self._reach[0]

    @property
    def read_cols(self) -> tuple[int, int]:
        """(start, stop) columns of the block plus its halo, clipped to the grid."""
        return self._reach[1]

    @property
    def read_window(self) -> Window:
        """The window to read: the block plus its halo, clipped to the grid."""
        (top, bottom), (left, right) = self.read_rows, self.read_cols
        return Window(left, top, right - left, bottom - top)

    @property
    def cut(self) -> tuple[int, int, int, int]:
        """Halo pixels (top, bottom, left, right) the grid's edge cut off."""
        return self._reach[2]

    @property
    def inner(self) -> tuple[slice, slice]:
        """Row and column slices of the block within the read window's array."""
        top, left = self.read_rows[0], self.read_cols[0]
        return (
            slice(self.row - top, self.row - top + self.height),
            slice(self.col - left, self.col - left + self.width),
        )


def halo_window(
    rows: tuple[int, int],
    cols: tuple[int, int],
    halo: int,
    limits: tuple[int, int, int, int],
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """The pixels to read around a window, and the halo cut off by the limits.

    The one halo / reflection cut of the package: the raster writer clips each
    block's halo at the grid's edge, the data module at each tile's edge, and the
    prior builder reflects what was cut.

    Args:
        rows: (start, stop) rows of the window.
        cols: (start, stop) columns of the window.
        halo: context pixels wanted on every side.
        limits: (row0, row1, col0, col1) of the pixels that exist (a grid or a
            tile, in the same pixel coordinates).

    Returns:
        ``(read rows, read columns, (top, bottom, left, right) cut)``: the window
        plus its halo clipped to the limits, and how many halo pixels each side
        lost.
    """
    row0, row1, col0, col1 = limits
    top, bottom = max(row0, rows[0] - halo), min(row1, rows[1] + halo)
    left, right = max(col0, cols[0] - halo), min(col1, cols[1] + halo)
    cut = (
        halo - (rows[0] - top),
        halo - (bottom - rows[1]),
        halo - (cols[0] - left),
        halo - (right - cols[1]),
    )
    return (top, bottom), (left, right), cut


def iter_blocks(height: int, width: int, size: int, halo: int = 0) -> Iterator[Block]:
    """Row-major blocks of at most ``size`` pixels covering a grid.

    Args:
        height: rows of the grid.
        width: columns of the grid.
        size: block side in pixels.
        halo: context pixels read around each block (clipped at the grid's edge).

    Yields:
        The blocks, left to right, top to bottom.

    Raises:
        ValueError: If ``size`` is not positive or ``halo`` is negative.
    """
    if size <= 0:
        raise ValueError(f'block size must be positive, got {size}')
    if halo < 0:
        raise ValueError(f'halo must be >= 0, got {halo}')
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Block(
                row,
                col,
                min(size, height - row),
                min(size, width - col),
                halo,
                height,
                width,
            )


def sample_windows(
    height: int, width: int, pixels: float, side: int = 128
) -> list[Window]:
    """A regular grid of square windows covering about ``pixels`` of a raster.

    Args:
        height: raster rows.
        width: raster columns.
        pixels: pixels wanted in all.
        side: side of each window.

    Returns:
        The windows; the whole raster if it is small enough.
    """
    if height * width <= pixels:
        return [Window(0, 0, width, height)]
    count = max(1, math.ceil(pixels / side**2))
    per_row = max(1, round(math.sqrt(count * width / height)))
    rows = max(1, math.ceil(count / per_row))
    windows = []
    for i in range(rows):
        for j in range(per_row):
            row = min(height - side, (2 * i + 1) * height // (2 * rows) - side // 2)
            col = min(width - side, (2 * j + 1) * width // (2 * per_row) - side // 2)
            windows.append(
                Window(max(0, col), max(0, row), min(side, width), min(side, height))
            )
    return windows


def crs_name(crs: Any) -> str:
    """A short name of a CRS for messages (``EPSG:32617`` where possible).

    Args:
        crs: a rasterio or pyproj CRS (or None).

    Returns:
        The name.
    """
    if crs is None:
        return 'no CRS'
    text = str(crs.to_string() if hasattr(crs, 'to_string') else crs)
    return text if len(text) < 80 else str(getattr(crs, 'name', text))


def _rounded(bounds: Sequence[float]) -> tuple[float, ...]:
    """Bounds rounded for messages."""
    return tuple(round(float(v), 3) for v in bounds)


def _as_geometry(extent: Any) -> Any:
    """Bounds ``(minx, miny, maxx, maxy)``, a ``BoundingBox`` or a geometry, as one."""
    if isinstance(extent, shapely.Geometry):
        return extent
    return shapely.box(*(float(v) for v in extent))


def check_overlap(
    first: Any,
    second: Any,
    *,
    first_name: str,
    second_name: str,
    first_crs: Any,
    second_crs: Any = None,
    plural: bool = False,
) -> Any:
    """Refuse two extents that share no area.

    Args:
        first: the reference extent: bounds ``(minx, miny, maxx, maxy)`` or a
            shapely geometry, in ``first_crs``.
        second: the other extent, in ``second_crs`` (reprojected to
            ``first_crs``; only its bounds when the CRSs differ).
        first_name: what the first extent is, for the message (``'the imagery'``).
        second_name: what the second extent is (``'the coarse labels'``); the
            message starts with it.
        first_crs: CRS of ``first``.
        second_crs: CRS of ``second`` (default: ``first_crs``).
        plural: ``second_name`` is plural ("do not overlap").

    Returns:
        The shared area, a geometry in ``first_crs``.

    Raises:
        ValueError: If either has no CRS, or they share no area; the message names
            both extents and CRSs.
    """
    if second_crs is None:
        second_crs = first_crs
    for name, crs in ((first_name, first_crs), (second_name, second_crs)):
        if crs is None:
            raise ValueError(
                f'{name} has no CRS: assign one (e.g. gdal_edit.py -a_srs EPSG:...)'
            )
    a = _as_geometry(first)
    b = _as_geometry(second)
    if second_crs != first_crs:
        b = shapely.box(*transform_bounds(second_crs, first_crs, *b.bounds))
    shared = a.intersection(b)
    if shared.is_empty or shared.area == 0:
        verb = 'do' if plural else 'does'
        other = (
            ''
            if second_crs == first_crs
            else f', {_rounded(_as_geometry(second).bounds)} in {crs_name(second_crs)}'
        )
        raise ValueError(
            f'{second_name} {verb} not overlap {first_name}: {first_name} bounds '
            f'{_rounded(a.bounds)}, {second_name} bounds {_rounded(b.bounds)} '
            f'(both in {crs_name(first_crs)}{other}); check the files and their CRS'
        )
    return shared


def geotiff_profile(
    crs: Any,
    transform: Any,
    width: int,
    height: int,
    count: int,
    dtype: str,
    **options: Any,
) -> dict[str, Any]:
    """Profile of a tiled, deflate-compressed GeoTIFF (every GeoTIFF we write).

    Fast deflate (level 1): about 3x faster than the default level for 2% larger
    files, readable by every GIS. Final maps are converted to COGs from it.

    Args:
        crs: the CRS.
        transform: the affine transform.
        width: columns.
        height: rows.
        count: bands.
        dtype: data type.
        **options: further creation options (``nodata``, ``predictor``, ...).

    Returns:
        The profile for ``rasterio.open(path, 'w', **profile)``.
    """
    return {
        'driver': 'GTiff',
        'width': width,
        'height': height,
        'count': count,
        'dtype': dtype,
        'crs': crs,
        'transform': transform,
        'tiled': True,
        'blockxsize': 256,
        'blockysize': 256,
        'compress': 'deflate',
        'zlevel': 1,
        'interleave': 'pixel' if count > 1 else 'band',
        'BIGTIFF': 'IF_SAFER',
        **options,
    }


def window_bounds(window: Window, transform: Any) -> Bounds:
    """``(minx, miny, maxx, maxy)`` of a window on a grid.

    Args:
        window: the window.
        transform: the grid's affine transform.

    Returns:
        The bounds.
    """
    left, bottom, right, top = rasterio.windows.bounds(window, transform)
    return left, bottom, right, top

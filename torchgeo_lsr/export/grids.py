"""The grid of each output map: an imagery tile's own grid, or a region across tiles."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
import rasterio.transform
import shapely
import torch
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window
from torch import Tensor

from ..datasets.regions import region_geometry
from ..grid import Region, check_overlap, window_bounds
from .protocols import TileTransforms

__all__ = ('TileGrid', 'region_grid', 'tile_grids')


@dataclass(frozen=True)
class TileGrid:
    """The grid of one output map: an imagery tile, or a region across tiles.

    Attributes:
        path: the imagery file (its stem names the outputs), or ``region.tif``.
        index: the tile's index in the data module's dataset (-1: any tile).
        crs: the CRS.
        transform: the affine transform of the grid.
        width: columns.
        height: rows.
        region: pixels outside this geometry (in ``crs``) are nodata (None: none).
    """

    path: Path
    index: int
    crs: Any
    transform: Affine
    width: int
    height: int
    region: Any = None

    def valid_mask(self, tile: Tensor, row: int, col: int) -> Tensor:
        """Pixels of a block that belong to this map.

        Args:
            tile: (h, w) tile index of each pixel of the block (-1: no tile).
            row: the block's first row.
            col: the block's first column.

        Returns:
            (h, w) boolean tensor: in this tile (or any tile, for a region) and
            inside the region.
        """
        inside = tile >= 0 if self.index < 0 else tile == self.index
        if self.region is not None:
            height, width = tile.shape
            block = self.transform @ Affine.translation(col, row)
            in_region = geometry_mask(
                [self.region], out_shape=(height, width), transform=block, invert=True
            )
            inside = inside & torch.from_numpy(in_region).to(tile.device)
        return inside

    def block_bounds(
        self, row: int, col: int, height: int, width: int
    ) -> tuple[float, float, float, float]:
        """(minx, maxx, miny, maxy) of a block of pixels: how the dataset is sliced.

        Args:
            row: the block's first row.
            col: the block's first column.
            height: its rows.
            width: its columns.

        Returns:
            The x range, then the y range.
        """
        left, bottom, right, top = window_bounds(
            Window(col, row, width, height), self.transform
        )
        return left, right, bottom, top


def tile_grids(transforms: TileTransforms) -> list[TileGrid]:
    """The grid of every imagery tile of a dataset, in tile-index order.

    Args:
        transforms: the dataset's sample transform (its tiles' files and CRS).

    Returns:
        The grids.

    Raises:
        ValueError: If a tile's CRS differs from the dataset's (exports are on each
            file's own grid; export such tiles with a data module of their CRS).
    """
    grids = []
    for index, path in enumerate(transforms.tile_paths):
        with rasterio.open(path) as src:
            if src.crs != transforms.crs and src.crs is not None:
                raise ValueError(
                    f'{path} is in {src.crs}, the data module reads {transforms.crs}: '
                    'export tiles of another CRS with a data module of their own'
                )
            grids.append(
                TileGrid(
                    Path(path), index, src.crs, src.transform, src.width, src.height
                )
            )
    return grids


def _shared_resolution(tiles: Sequence[TileGrid]) -> tuple[float, float]:
    """The pixel size (x, y) all tiles share.

    Raises:
        ValueError: If the tiles' resolutions differ.
    """
    reference = tiles[0]
    res_x, res_y = reference.transform.a, -reference.transform.e
    for tile in tiles:
        if not (
            math.isclose(tile.transform.a, res_x)
            and math.isclose(-tile.transform.e, res_y)
        ):
            raise ValueError(
                f'{tile.path} has another resolution than {reference.path}: a region '
                'map needs tiles that share one pixel size'
            )
    return res_x, res_y


def region_grid(tiles: Sequence[TileGrid], region: Region) -> TileGrid:
    """The imagery's pixel grid cut to a region's bounding box.

    Args:
        tiles: the imagery tiles (the first one's grid is the reference).
        region: a box ``(xmin, ymin, xmax, ymax)`` in the imagery CRS, or a vector
            file of polygons (any CRS).

    Returns:
        The region's grid (tile index -1: pixels of any tile), masked to the part
        of the region over the imagery.

    Raises:
        ValueError: If the region does not overlap the imagery, or the tiles'
            resolutions differ.
    """
    reference = tiles[0]
    geometry = region_geometry(region, reference.crs)
    res_x, res_y = _shared_resolution(tiles)
    extent = shapely.union_all(
        [
            shapely.box(
                *rasterio.transform.array_bounds(t.height, t.width, t.transform)
            )
            for t in tiles
        ]
    )
    clipped = check_overlap(
        extent,
        geometry,
        first_name='the imagery',
        second_name='the region',
        first_crs=reference.crs,
    )
    minx, miny, maxx, maxy = clipped.bounds
    x0, y0 = reference.transform.c, reference.transform.f
    # Snap outwards to whole pixels of the reference grid.
    col0 = math.floor((minx - x0) / res_x + 1e-9)
    col1 = math.ceil((maxx - x0) / res_x - 1e-9)
    row0 = math.floor((y0 - maxy) / res_y + 1e-9)
    row1 = math.ceil((y0 - miny) / res_y - 1e-9)
    transform = Affine(res_x, 0.0, x0 + col0 * res_x, 0.0, -res_y, y0 - row0 * res_y)
    return TileGrid(
        Path('region.tif'),
        -1,
        reference.crs,
        transform,
        col1 - col0,
        row1 - row0,
        clipped,
    )

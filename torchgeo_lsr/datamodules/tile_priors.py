"""Per-tile priors of a sample: each imagery tile's part gets that tile's prior.

A sample may straddle several imagery tiles. The raster writer builds each tile's
prior on its own, reflecting the coarse codes at the tile's edges; to agree with it,
each tile's part of a sample gets its prior from the codes inside that tile only,
with the halo the tile's edges cut off reflected, through the one halo cut of the
package (:func:`~torchgeo_lsr.grid.halo_window`). :class:`TileLayout` says where the
tiles are, :class:`TilePriors` builds the parts.
"""

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from affine import Affine
from rasterio.errors import WindowError
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds
from torch import Tensor

from ..grid import Bounds, halo_window, iter_blocks
from ..io import open_raster
from ..priors.builder import PriorBuilder
from ..priors.separable import axis_weights, compress_blocks

__all__ = (
    'PixelWindow',
    'TileLayout',
    'TilePriors',
    'WindowLayers',
    'tile_ids',
    'tile_pixels',
)

#: ``(row0, row1, col0, col1)`` pixels of a grid.
PixelWindow = tuple[int, int, int, int]


def tile_pixels(bounds: Bounds, transform: Affine, shape: Sequence[int]) -> PixelWindow:
    """The pixels of a grid inside a tile's bounds, clipped to the grid.

    Args:
        bounds: ``(minx, miny, maxx, maxy)`` of the tile.
        transform: affine transform of the grid (north up).
        shape: (height, width) of the grid.

    Returns:
        ``(row0, row1, col0, col1)``; empty (``row0 >= row1`` or ``col0 >= col1``)
        if the tile misses the grid.
    """
    minx, miny, maxx, maxy = bounds
    xres, yres = transform.a, -transform.e
    left, top = transform.c, transform.f
    return (
        max(0, round((top - maxy) / yres)),
        min(shape[0], round((top - miny) / yres)),
        max(0, round((minx - left) / xres)),
        min(shape[1], round((maxx - left) / xres)),
    )


@dataclass(frozen=True, kw_only=True)
class TileLayout:
    """The imagery tiles of a stage.

    Attributes:
        bounds: ``(minx, miny, maxx, maxy)`` of every tile, in ``crs``.
        paths: the imagery file of each tile (in ``bounds`` order), for exports
            on each file's grid.
        crs: CRS of the imagery grid.
    """

    bounds: tuple[Bounds, ...] = ()
    paths: tuple[str, ...] = ()
    crs: Any = None

    def windows(
        self, transform: Affine, shape: Sequence[int]
    ) -> list[tuple[int, PixelWindow]]:
        """Each tile's part of a grid, in pixels.

        Args:
            transform: affine transform of the grid.
            shape: (height, width) of the grid.

        Returns:
            ``(tile index, (row0, row1, col0, col1))`` for each tile overlapping it.
        """
        windows = []
        for index, bounds in enumerate(self.bounds):
            row0, row1, col0, col1 = tile_pixels(bounds, transform, shape)
            if col0 < col1 and row0 < row1:
                windows.append((index, (row0, row1, col0, col1)))
        return windows


def tile_ids(
    windows: Sequence[tuple[int, PixelWindow]], shape: Sequence[int]
) -> Tensor:
    """The index of each pixel's tile (-1 outside all).

    Args:
        windows: each tile's part of the grid (see :meth:`TileLayout.windows`).
        shape: (height, width) of the grid.

    Returns:
        An int64 (H, W) tensor.
    """
    tile = torch.full(tuple(shape), -1, dtype=torch.int64)
    for index, (row0, row1, col0, col1) in windows:
        tile[row0:row1, col0:col1] = index
    return tile


#: The auxiliary layers on a window ``(rows, cols)`` of the raw sample.
WindowLayers = Callable[[tuple[int, int], tuple[int, int]], Mapping[str, np.ndarray]]


@dataclass(frozen=True, kw_only=True)
class TilePriors:
    """Builds a sample's prior tile by tile from its coarse labels.

    Attributes:
        builder: builds priors from coarse codes.
        tile_builders: a builder per tile (in :class:`TileLayout` order) when
            tiles take different co-occurrence matrices (e.g. one per state);
            None: ``builder`` for all.
        coarse_lookup: value ``v`` of the coarse raster means code
            ``coarse_lookup[v]`` (e.g. EnviroAtlas stores NLCD as class indices);
            None: the raster holds the codes.
    """

    builder: PriorBuilder
    tile_builders: tuple[PriorBuilder, ...] | None = None
    coarse_lookup: tuple[float, ...] | None = None

    @property
    def halo(self) -> int:
        """Pixels of codes read around the sample and cropped."""
        return self.builder.halo

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Coarse raster values as codes, through :attr:`coarse_lookup`.

        Args:
            values: raw coarse values (NaN is nodata).

        Returns:
            The codes (float32, NaN where a value is NaN); the values themselves
            without a table.

        Raises:
            ValueError: If a value is not an index of the table (negative, too
                large or not a whole number): it would silently become nodata.
        """
        if self.coarse_lookup is None:
            return values
        size = len(self.coarse_lookup)
        table = np.asarray([*self.coarse_lookup, np.nan], np.float32)
        nodata = np.isnan(values)
        with np.errstate(invalid='ignore'):
            whole = values == np.round(values)
            outside = ~nodata & ((values < 0) | (values >= size) | ~whole)
        index = np.where(nodata, size, values)
        if outside.any():
            bad = np.unique(values[outside])
            shown = ', '.join(f'{v:g}' for v in bad[:10])
            more = f' and {len(bad) - 10} more' if len(bad) > 10 else ''
            raise ValueError(
                f'coarse raster values [{shown}{more}] are not in coarse_lookup '
                f'({size} entries: it indexes the values 0..{size - 1}): give a '
                'table with an entry for every value (map nodata values to a code '
                'in coarse_nodata), or coarse_lookup=None if the raster holds codes'
            )
        result: np.ndarray = table[index.astype(np.int64)]
        return result

    def check_coarse_files(
        self, files: Sequence[str], bounds: Bounds, crs: Any
    ) -> None:
        """Check every coarse value over an extent at set-up, not one sample later.

        Without this, a value the matrix (or :attr:`coarse_lookup`) lacks is found
        only when a training sample happens to contain it, naming only the codes of
        that sample. This reads each file where it meets ``bounds`` (block by
        block) and names all of them, as ``torchgeo-lsr prior`` does.

        Args:
            files: the stage's coarse raster files.
            bounds: ``(minx, miny, maxx, maxy)`` of the imagery, in ``crs``.
            crs: CRS of ``bounds``.

        Raises:
            ValueError: Naming the file and every value the lookup table or the
                matrices lack.
        """
        builders = self.tile_builders or (self.builder,)
        for path in files:
            values = _coarse_values(path, os.path.getmtime(path), bounds, str(crs))
            if values.size == 0:
                continue
            try:
                codes = self.codes(values.astype(np.float32))
                codes = codes[~np.isnan(codes)]
                unknown = set.intersection(
                    *(set(b.unknown_codes(codes)) for b in builders)
                )
                if unknown:
                    builders[0].check_codes(np.asarray(sorted(unknown)))
            except ValueError as error:
                raise ValueError(f'coarse raster {path}: {error}') from None

    def build(
        self,
        codes: np.ndarray,
        raw_transform: Affine,
        tiles: TileLayout,
        windows: Sequence[tuple[int, PixelWindow]],
        layers: WindowLayers,
    ) -> tuple[Tensor, Tensor]:
        """Build the prior of each tile's part of the output grid.

        The output grid is the raw sample without its halo: pixel ``(r, c)`` of
        the output is pixel ``(r + halo, c + halo)`` of the raw sample.

        Args:
            codes: (H + 2 halo, W + 2 halo) coarse codes of the raw sample.
            raw_transform: affine transform of the raw sample.
            tiles: the stage's tiles.
            windows: each tile's part of the output grid (see
                :meth:`TileLayout.windows`).
            layers: the auxiliary layers on a window of the raw sample.

        Returns:
            The (C, H, W) prior (0 where invalid) and its (H, W) validity.
        """
        halo = self.halo
        shape = (codes.shape[0] - 2 * halo, codes.shape[1] - 2 * halo)
        prior = np.zeros((self.builder.scheme.num_classes, *shape), np.float32)
        valid = np.zeros(shape, bool)
        for index, (row0, row1, col0, col1) in windows:
            # The tile's codes within reach of the window, and how much of the
            # halo the tile's edges cut off (reflected instead, as the writer does).
            rows, cols, cut = halo_window(
                (row0 + halo, row1 + halo),
                (col0 + halo, col1 + halo),
                halo,
                tile_pixels(tiles.bounds[index], raw_transform, codes.shape),
            )
            builder = self.tile_builders[index] if self.tile_builders else self.builder
            piece, piece_valid = builder.build_window(
                codes[rows[0] : rows[1], cols[0] : cols[1]], cut, layers(rows, cols)
            )
            prior[:, row0:row1, col0:col1] = piece
            valid[row0:row1, col0:col1] = piece_valid
        return torch.from_numpy(prior), torch.from_numpy(valid)

    def weights(
        self,
        values: np.ndarray,
        raw_transform: Affine,
        tiles: TileLayout,
        windows: Sequence[tuple[int, PixelWindow]],
        maps: tuple[np.ndarray, np.ndarray] | None = None,
        layers: WindowLayers | None = None,
    ) -> dict[str, Tensor]:
        """What the device needs to build this sample's prior as :meth:`build` does.

        See :mod:`~torchgeo_lsr.priors.separable`: for each tile's part, the
        remapped class mass of the distinct blocks of the raw sample's codes
        (through that tile's matrix) and the blur weights of every block along
        rows and columns, with the halo the tile's edges cut off reflected; with
        fusion rules, each part's layers (:mod:`~torchgeo_lsr.priors.device_fusion`).

        Args:
            values: (H + 2 halo, W + 2 halo) coarse raster values of the raw
                sample (through :meth:`codes`).
            raw_transform: affine transform of the raw sample.
            tiles: the stage's tiles.
            windows: each tile's part of the output grid.
            maps: the block row of every raw row and the block column of every
                raw column, when ``values`` are blocks already (coarse pixels read
                at their own resolution); None: ``values`` are on the raw grid.
            layers: the auxiliary layers on a window of the raw sample (needed
                with fusion rules).

        Returns:
            ``prior_mass`` (P, C, h, w), ``prior_rows`` (P, H, h) and
            ``prior_cols`` (P, W, w) float32 (P >= 1 parts; all zero when the
            sample meets no tile); with fusion rules also ``prior_layers``
            (P, L, H + 2 halo, W + 2 halo) uint8 and ``prior_windows`` (P, 8).

        Raises:
            ValueError: On codes the matrix does not know.
        """
        builder = self.builder
        # Blocks first: the lookups and checks then touch one value per block.
        if maps is None:
            blocks, block_rows, block_cols = compress_blocks(values)
        else:
            blocks, (block_rows, block_cols) = values, maps
        codes = self.codes(blocks)
        raw_shape = (len(block_rows), len(block_cols))
        parts = [
            self._part(index, window, raw_transform, tiles, raw_shape)
            for index, window in windows
        ]
        masses = [self._tile_mass(codes, index) for index, _ in windows] or [
            np.zeros((builder.scheme.num_classes, *codes.shape), np.float32)
        ]
        rows = [
            self._axis(block_rows, read[0], cut[:2], out[:2], raw_shape[0])
            for read, cut, out in parts
        ] or [np.zeros((raw_shape[0] - 2 * self.halo, len(codes)), np.float32)]
        cols = [
            self._axis(block_cols, read[1], cut[2:], out[2:], raw_shape[1])
            for read, cut, out in parts
        ] or [np.zeros((raw_shape[1] - 2 * self.halo, codes.shape[1]), np.float32)]
        out = {
            'prior_mass': torch.from_numpy(np.stack(masses)),
            'prior_rows': torch.from_numpy(np.stack(rows)),
            'prior_cols': torch.from_numpy(np.stack(cols)),
        }
        rules = builder.rules
        if rules is not None and rules.rules:
            assert layers is not None
            out.update(_part_layers(parts, layers, rules.layers, raw_shape))
        return out

    def _tile_mass(self, codes: np.ndarray, index: int) -> np.ndarray:
        """Blocks' codes remapped through one tile's matrix (checked by it)."""
        builder = self.tile_builders[index] if self.tile_builders else self.builder
        builder.check_codes(codes)
        return builder.remap(codes)

    def _part(
        self,
        index: int,
        window: PixelWindow,
        raw_transform: Affine,
        tiles: TileLayout,
        raw_shape: tuple[int, int],
    ) -> tuple[tuple[tuple[int, int], tuple[int, int]], tuple[int, ...], PixelWindow]:
        """A tile's part: its read window on the raw sample, the cut halo, output."""
        row0, row1, col0, col1 = window
        halo = self.halo
        read_rows, read_cols, cut = halo_window(
            (row0 + halo, row1 + halo),
            (col0 + halo, col1 + halo),
            halo,
            tile_pixels(tiles.bounds[index], raw_transform, raw_shape),
        )
        return (read_rows, read_cols), cut, window

    def _axis(
        self,
        block_of: np.ndarray,
        read: tuple[int, int],
        cut: tuple[int, ...],
        output: tuple[int, int],
        raw_length: int,
    ) -> np.ndarray:
        """One part's blur weights of every block along one axis."""
        kernel = self.builder.kernel
        # Padded pixel -> raw pixel, reflected at the tile's edges as np.pad
        # reflects the codes in build(); the halo beyond the kernel's reach
        # (wider for fusion rules) is trimmed as build() trims it.
        padded = read[0] + _reflected(read[1] - read[0], cut[0], cut[1])
        trim = self.halo - len(kernel) // 2
        if trim:
            padded = padded[trim : len(padded) - trim]
        blocks = int(block_of.max()) + 1
        return axis_weights(
            kernel, block_of[padded], output, raw_length - 2 * self.halo, blocks
        )


def _part_layers(
    parts: Sequence[tuple[tuple[tuple[int, int], tuple[int, int]], Any, PixelWindow]],
    layers: WindowLayers,
    names: Sequence[str],
    raw_shape: tuple[int, int],
) -> dict[str, Tensor]:
    """Each part's fusion layers on the raw sample (zero outside its read window).

    Args:
        parts: each part's read window, cut halo and output window.
        layers: the auxiliary layers on a window of the raw sample.
        names: the rules' layers, in order.
        raw_shape: (H, W) of the raw sample.

    Returns:
        ``prior_layers`` (P, L, H, W) uint8 and ``prior_windows`` (P, 8) int64
        (read and output windows; one empty part when there is none).
    """
    stacked = np.zeros((max(len(parts), 1), len(names), *raw_shape), np.uint8)
    boxes = np.zeros((max(len(parts), 1), 8), np.int64)
    for number, ((rows, cols), _, output) in enumerate(parts):
        found = layers(rows, cols)
        for channel, name in enumerate(names):
            stacked[number, channel, rows[0] : rows[1], cols[0] : cols[1]] = (
                np.asarray(found[name]) > 0
            )
        boxes[number] = [*rows, *cols, *output]
    return {
        'prior_layers': torch.from_numpy(stacked),
        'prior_windows': torch.from_numpy(boxes),
    }


@functools.lru_cache(maxsize=1024)
def _reflected(length: int, before: int, after: int) -> np.ndarray:
    """Indexes ``0..length-1`` padded as ``np.pad`` reflects (read-only, shared)."""
    index = np.pad(np.arange(length), (before, after), mode='reflect')
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=256)
def _coarse_values(path: str, mtime: float, bounds: Bounds, crs: str) -> np.ndarray:
    """The distinct valid values of a coarse raster within an extent.

    Cached: the stages of one data module (fit, validate, test) check the same
    files over the same extent.

    Args:
        path: the raster.
        mtime: its modification time (the cache key: a rewritten file is re-read).
        bounds: the extent, in ``crs``.
        crs: CRS of ``bounds``.

    Returns:
        The sorted distinct values (the raster's nodata and masked pixels left out).
    """
    with open_raster(path, 'coarse raster') as src:
        left, bottom, right, top = transform_bounds(crs, src.crs, *bounds)
        window = (
            from_bounds(left, bottom, right, top, src.transform)
            .round_offsets()
            .round_lengths()
        )
        try:
            window = window.intersection(Window(0, 0, src.width, src.height))
        except WindowError:
            return np.zeros(0)
        found: set[float] = set()
        for block in iter_blocks(int(window.height), int(window.width), 2048):
            part = Window(
                window.col_off + block.window.col_off,
                window.row_off + block.window.row_off,
                block.window.width,
                block.window.height,
            )
            data = src.read(1, window=part, masked=True).compressed()
            found.update(np.unique(data).tolist())
    return np.asarray(sorted(found))

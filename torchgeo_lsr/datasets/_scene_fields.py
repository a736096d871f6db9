"""Random streams, smooth random fields, and work on rasters by blocks of rows.

Elementwise NumPy work on blocks of a few megabytes runs about twice as fast as on
whole 8-megapixel scenes (the arrays stay in cache and reuse freed memory), and
blocks can be shared between threads, since NumPy releases the GIL in its loops.
"""

import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.ndimage

__all__ = (
    'BLOCK_ROWS',
    'NoiseFields',
    'SmoothField',
    'row_blocks',
    'run_blocks',
    'scene_rng',
)

#: Rows processed at a time.
BLOCK_ROWS = 256


def scene_rng(seed: int, purpose: str, index: int = 0) -> np.random.Generator:
    """An independent random stream for one part of the scene.

    Separate streams keep each part stable when another part changes.

    Args:
        seed: scene seed.
        purpose: what the stream is for.
        index: tile or feature index.

    Returns:
        A generator seeded from all three.
    """
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), index])


def row_blocks(height: int, rows: int = BLOCK_ROWS) -> Iterator[slice]:
    """Consecutive row ranges covering a raster.

    Args:
        height: raster height.
        rows: rows per block.

    Yields:
        Row slices.
    """
    for start in range(0, height, rows):
        yield slice(start, min(start + rows, height))


def run_blocks(work: Callable[[slice], None], height: int) -> None:
    """Run independent work on blocks of rows in parallel threads.

    NumPy releases the GIL in its array loops, so threads use all cores; every block
    writes its own rows, so the result does not depend on the order.

    Args:
        work: function of a row slice.
        height: raster height.
    """
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1:
        for rows in row_blocks(height):
            work(rows)
        return
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, row_blocks(height)):
            pass


class SmoothField:
    """Gaussian-smoothed white noise (unit deviation), read at 1 m by blocks of rows.

    Drawn on a grid of ``cell`` metres and upsampled bilinearly on demand, which is
    far cheaper than smoothing, or even storing, fields at full resolution.
    """

    def __init__(
        self, rng: np.random.Generator, shape: tuple[int, int], cell: int, sigma: float
    ) -> None:
        """Draw the field.

        Args:
            rng: random stream.
            shape: full-resolution shape.
            cell: grid spacing (pixels).
            sigma: smoothing in grid cells.
        """
        self.shape, self.cell = shape, cell
        grid_shape = (shape[0] // cell + 2, shape[1] // cell + 2)
        white = rng.standard_normal(grid_shape, dtype=np.float32)
        grid = scipy.ndimage.gaussian_filter(white, sigma, mode='wrap')
        self.set_grid(grid / max(float(grid.std()), 1e-6))

    def set_grid(self, grid: np.ndarray) -> None:
        """Replace the grid values (same shape).

        Args:
            grid: new values at the grid cells.
        """
        self.grid = grid
        first, second, fraction = _interpolation(
            self.shape[1], self.cell, grid.shape[1]
        )
        # Columns are upsampled once, rows block by block.
        self._columns = grid[:, first] + (grid[:, second] - grid[:, first]) * fraction
        self._rows = _interpolation(self.shape[0], self.cell, grid.shape[0])

    def __getitem__(self, rows: slice) -> np.ndarray:
        """The field on a range of rows.

        Args:
            rows: row slice (step 1).

        Returns:
            (rows, W) float32.
        """
        first, second, fraction = (part[rows] for part in self._rows)
        upper = self._columns[first]
        result: np.ndarray = upper + (self._columns[second] - upper) * fraction[:, None]
        return result


class NoiseFields:
    """The smooth random fields a scene's surfaces and textures share."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int]) -> None:
        """Draw the fields.

        Args:
            rng: random stream.
            shape: scene shape.
        """
        self.low = SmoothField(rng, shape, 16, 3.0)
        self.medium = SmoothField(rng, shape, 4, 1.2)
        self.crown = SmoothField(rng, shape, 2, 0.9)
        self.light = SmoothField(rng, shape, 64, 2.0)
        self.forest = SmoothField(rng, shape, 8, 7.0)
        detail = SmoothField(rng, shape, 8, 2.5).grid
        self.forest.set_grid(self.forest.grid + 0.6 * detail)


def _interpolation(
    length: int, factor: int, cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring grid cells and weights of each output pixel (bilinear).

    Args:
        length: output length.
        factor: cell size in output pixels.
        cells: grid length.

    Returns:
        First cell, second cell and float32 weight of the second.
    """
    position = (np.arange(length) + 0.5) / factor - 0.5
    below = np.floor(position)
    first = np.clip(below.astype(np.int64), 0, cells - 1)
    return (
        first,
        np.clip(first + 1, 0, cells - 1),
        (position - below).astype(np.float32),
    )

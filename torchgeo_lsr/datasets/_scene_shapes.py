"""Shape primitives of synthetic scenes and their fast rasterisation.

Thousands of small objects (buildings, driveways, parking lots, tree crowns) are kept
as arrays of oriented rectangles and discs and burnt into rasters in bulk with NumPy:
``rasterio.features.rasterize`` costs tens of microseconds per shape, which adds up
to seconds for a town. Larger irregular shapes (:func:`blob` lakes and towns,
:func:`meander` streams, fields) are shapely geometries burnt by rasterio
(:func:`burn_polygons`). Every burn sets the pixels whose centre is inside a shape,
as rasterio does, and later shapes win.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = (
    'Discs',
    'Rectangles',
    'blob',
    'burn_discs',
    'burn_polygons',
    'burn_rectangles',
    'meander',
)


@dataclass
class Rectangles:
    """Oriented rectangles.

    Attributes:
        centres: (n, 2) centres.
        axes: (n, 2) unit vectors along the ``lengths`` side.
        lengths: (n,) sides along ``axes``.
        depths: (n,) sides across ``axes``.
    """

    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    axes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    depths: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        """Number of rectangles."""
        return len(self.lengths)

    def extend(
        self,
        centres: np.ndarray,
        axes: np.ndarray,
        lengths: np.ndarray | float,
        depths: np.ndarray | float,
    ) -> None:
        """Append rectangles (axes and sides are broadcast, axes normalised).

        Args:
            centres: (n, 2) centres.
            axes: (n, 2) or (2,) vectors along the first side.
            lengths: (n,) or one first side.
            depths: (n,) or one other side.
        """
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        axes = np.broadcast_to(np.asarray(axes, dtype=np.float64), centres.shape)
        axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
        self.centres = np.concatenate([self.centres, centres])
        self.axes = np.concatenate([self.axes, axes])
        self.lengths = np.concatenate(
            [self.lengths, np.broadcast_to(lengths, len(centres))]
        )
        self.depths = np.concatenate(
            [self.depths, np.broadcast_to(depths, len(centres))]
        )

    def subset(self, keep: np.ndarray) -> 'Rectangles':
        """The rectangles selected by a mask or index array.

        Args:
            keep: boolean mask or indices.

        Returns:
            A new collection.
        """
        return Rectangles(
            self.centres[keep], self.axes[keep], self.lengths[keep], self.depths[keep]
        )

    def corners(self) -> np.ndarray:
        """(n, 5, 2) closed rings of corners."""
        across = np.column_stack([-self.axes[:, 1], self.axes[:, 0]])
        half_a = self.axes * (self.lengths / 2)[:, None]
        half_b = across * (self.depths / 2)[:, None]
        c = self.centres
        ring = [c - half_a - half_b, c + half_a - half_b, c + half_a + half_b]
        ring += [c - half_a + half_b, c - half_a - half_b]
        return np.stack(ring, axis=1)

    def polygons(self) -> np.ndarray:
        """Object array of shapely polygons."""
        if not len(self):
            return np.empty(0, dtype=object)
        result: np.ndarray = shapely.polygons(self.corners())
        return result


@dataclass
class Discs:
    """Discs (tree crowns).

    Attributes:
        centres: (n, 2) centres.
        radii: (n,) radii.
    """

    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        """Number of discs."""
        return len(self.radii)

    def extend(self, centres: np.ndarray, radii: np.ndarray | float) -> None:
        """Append discs.

        Args:
            centres: (n, 2) centres.
            radii: (n,) or one radius.
        """
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        self.centres = np.concatenate([self.centres, centres])
        self.radii = np.concatenate([self.radii, np.broadcast_to(radii, len(centres))])


def blob(
    rng: np.random.Generator,
    centre: tuple[float, float],
    radius: float,
    roughness: float,
    vertices: int = 96,
) -> Polygon:
    """An irregular, star-shaped polygon (lakes, towns, bare patches).

    Args:
        rng: random stream.
        centre: (x, y) centre.
        radius: mean radius.
        roughness: amplitude of the radial harmonics (0 gives a circle).
        vertices: number of vertices.

    Returns:
        A valid polygon (star-shaped around ``centre``).
    """
    angles = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
    radii = np.ones(vertices)
    for harmonic in range(2, 8):
        amplitude = roughness * rng.normal() / harmonic
        radii += amplitude * np.cos(harmonic * angles + rng.uniform(0, 2 * math.pi))
    radii = radius * np.clip(radii, 0.3, None)
    return Polygon(
        np.column_stack(
            [centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)]
        )
    )


def meander(
    rng: np.random.Generator,
    start: tuple[float, float],
    end: tuple[float, float],
    step: float = 4.0,
) -> LineString:
    """A meandering line from ``start`` to ``end`` (streams).

    The heading follows a persistent random turn rate and is pulled towards the end,
    which gives the alternating bends of a stream.

    Args:
        rng: random stream.
        start: (x, y) start.
        end: (x, y) end.
        step: vertex spacing (m).

    Returns:
        The line.
    """
    position = np.asarray(start, dtype=np.float64)
    target = np.asarray(end, dtype=np.float64)
    heading = math.atan2(target[1] - position[1], target[0] - position[0])
    turn = 0.0
    points = [position]
    limit = int(3 * math.dist(start, end) / step) + 10
    noise = rng.normal(0.0, 0.025, limit)
    for wobble in noise:
        offset = target - position
        if math.hypot(offset[0], offset[1]) < 2 * step:
            break
        pull = math.remainder(math.atan2(offset[1], offset[0]) - heading, 2 * math.pi)
        turn = min(max(0.93 * turn + wobble, -0.12), 0.12)
        heading += turn + 0.05 * pull
        position = position + step * np.array([math.cos(heading), math.sin(heading)])
        points.append(position)
    points.append(target)
    return LineString(np.asarray(points))


def burn_rectangles(
    canvas: np.ndarray, rectangles: Rectangles, values: np.ndarray, chunk: int = 1024
) -> None:
    """Burn rectangles into a raster: pixels whose centre is inside; later ones win.

    Args:
        canvas: (H, W) raster, edited in place.
        rectangles: the rectangles (scene pixel coordinates).
        values: value of each rectangle.
        chunk: rectangles handled at a time.
    """
    if not len(rectangles):
        return
    corners = rectangles.corners()[:, :4]
    axes = rectangles.axes

    def inside(index: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx = x - rectangles.centres[index, 0, None, None]
        dy = y - rectangles.centres[index, 1, None, None]
        cos, sin = axes[index, 0, None, None], axes[index, 1, None, None]
        along = np.abs(dx * cos + dy * sin) <= rectangles.lengths[index, None, None] / 2
        across = np.abs(dy * cos - dx * sin) <= rectangles.depths[index, None, None] / 2
        return np.asarray(along & across)

    _burn(canvas, corners.min(1), corners.max(1), values, inside, chunk)


def burn_discs(
    canvas: np.ndarray, discs: Discs, values: np.ndarray, chunk: int = 2048
) -> None:
    """Burn discs into a raster: pixels whose centre is inside; later ones win.

    Args:
        canvas: (H, W) raster, edited in place.
        discs: the discs (scene pixel coordinates).
        values: value of each disc.
        chunk: discs handled at a time.
    """
    if not len(discs):
        return

    def inside(index: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx = x - discs.centres[index, 0, None, None]
        dy = y - discs.centres[index, 1, None, None]
        return np.asarray(dx * dx + dy * dy <= discs.radii[index, None, None] ** 2)

    radii = discs.radii[:, None]
    _burn(canvas, discs.centres - radii, discs.centres + radii, values, inside, chunk)


def _burn(
    canvas: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    values: np.ndarray,
    inside: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    chunk: int,
) -> None:
    """Burn shapes given by bounding boxes and a test of pixel centres.

    Args:
        canvas: (H, W) raster, edited in place.
        lower: (n, 2) minimum x, y of each shape.
        upper: (n, 2) maximum x, y.
        values: value of each shape.
        inside: test (shape indices (n,), x (n, 1, s), y (n, s, 1)) -> (n, s, s).
        chunk: shapes handled at a time.
    """
    height, width = canvas.shape
    start = np.floor(lower).astype(np.int64)
    extent = np.ceil(upper).astype(np.int64) - start + 1
    for first in range(0, len(values), chunk):
        index = np.arange(first, min(first + chunk, len(values)))
        offsets = np.arange(int(extent[index].max()))
        cols = start[index, 0, None, None] + offsets[None, None, :]
        rows = start[index, 1, None, None] + offsets[None, :, None]
        hit = inside(index, cols + 0.5, rows + 0.5)
        hit &= (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        which = np.broadcast_to(index[:, None, None], hit.shape)[hit]
        pixel = (np.broadcast_to(rows, hit.shape)[hit] * width).ravel()
        pixel += np.broadcast_to(cols, hit.shape)[hit]
        # Fancy assignment promises no order among repeated pixels: keep the last
        # (highest) shape of each pixel explicitly.
        _, from_end = np.unique(pixel[::-1], return_index=True)
        last = len(pixel) - 1 - from_end
        canvas[np.divmod(pixel[last], width)] = values[which[last]]


def burn_polygons(
    canvas: np.ndarray,
    shapes: Sequence[tuple[BaseGeometry, int]],
    transform: Affine | None = None,
) -> None:
    """Burn polygons with rasterio: pixels whose centre is inside; later ones win.

    Args:
        canvas: (H, W) raster, edited in place.
        shapes: (geometry, value) pairs in scene pixel coordinates.
        transform: raster pixel to scene pixel coordinates (default: identity).
    """
    burnt = [(g, int(v)) for g, v in shapes if not g.is_empty]
    if burnt:
        rasterio.features.rasterize(
            burnt,
            out=canvas,
            transform=transform or Affine.identity(),
            dtype=canvas.dtype,
        )

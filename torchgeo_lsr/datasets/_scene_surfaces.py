"""Surfaces of a synthetic scene: what each pixel is, and how it looks.

Every pixel gets a *surface*: one field, one roof slope, one tree crown, one road...
Surfaces are burnt in order of height (fields first, buildings last). Each surface
carries a class code and its own appearance (two colours mixed by a texture, a
shadow length) in a :class:`SurfaceTable`, so the imagery varies within a class the
way real objects do; :mod:`~torchgeo_lsr.datasets._scene_render` paints it.
"""

import math

import numpy as np
import scipy.ndimage
from affine import Affine
from shapely.geometry.base import BaseGeometry

from ._scene_fields import NoiseFields, row_blocks
from ._scene_layout import BuildingKind, FieldUse, SceneLayout
from ._scene_shapes import Rectangles, burn_discs, burn_polygons, burn_rectangles

__all__ = (
    'BARREN',
    'CANOPY',
    'GRASS',
    'IMPERVIOUS',
    'NOISE',
    'STRIPES',
    'TREES',
    'WATER',
    'Colour',
    'SurfaceTable',
    'burn_surfaces',
)

WATER, IMPERVIOUS, BARREN, TREES, GRASS = 10, 20, 30, 40, 70

#: How a surface's two colours are mixed per pixel.
NOISE, CANOPY, STRIPES = 0, 1, 2

#: A colour: red, green, blue and near-infrared digital numbers.
Colour = tuple[float, float, float, float]

#: Field looks by use: colour, second colour, texture, range of stripe periods (m).
FIELD_LOOKS: dict[int, tuple[Colour, Colour, int, tuple[float, float]]] = {
    FieldUse.GRASSLAND: ((100, 112, 72, 150), (140, 134, 100, 118), NOISE, (1, 1)),
    FieldUse.PASTURE: ((88, 122, 70, 178), (120, 132, 88, 148), STRIPES, (8, 16)),
    FieldUse.CROPS: ((72, 108, 60, 190), (138, 122, 96, 112), STRIPES, (3, 6)),
    FieldUse.BARE: ((142, 122, 96, 152), (110, 95, 80, 124), STRIPES, (2.5, 4)),
}

#: Forest looks by type (deciduous, evergreen, mixed): crowns and gaps.
FOREST_LOOKS: tuple[tuple[Colour, Colour], ...] = (
    ((72, 102, 60, 168), (30, 45, 30, 72)),
    ((46, 72, 48, 120), (22, 35, 25, 52)),
    ((60, 88, 55, 148), (26, 40, 28, 62)),
)

#: Roof colours by building kind (house, commercial, farm).
ROOFS: tuple[tuple[Colour, ...], ...] = (
    (
        (72, 72, 76, 66),
        (112, 110, 108, 98),
        (158, 156, 152, 142),
        (118, 88, 70, 84),
        (150, 78, 62, 92),
        (168, 148, 118, 160),
    ),
    (
        (205, 205, 200, 190),
        (170, 170, 168, 158),
        (92, 92, 94, 86),
        (160, 150, 135, 140),
    ),
    ((150, 70, 55, 85), (175, 178, 180, 165), (112, 110, 108, 98)),
)

#: Road colours by kind (main, street, lane).
ROAD_LOOKS: tuple[tuple[Colour, ...], ...] = (
    ((86, 88, 92, 80), (96, 97, 100, 88)),
    ((102, 103, 104, 94), (112, 111, 110, 100), (150, 150, 146, 136)),
    ((118, 114, 108, 104), (132, 126, 116, 112)),
)

#: Other looks: (colour, second colour).
LAWN: tuple[Colour, Colour] = ((82, 112, 66, 168), (128, 128, 92, 128))
HEDGE: tuple[Colour, Colour] = ((66, 96, 58, 160), (28, 42, 29, 66))
BARE_PATCH: tuple[Colour, Colour] = ((155, 138, 110, 165), (120, 104, 84, 130))
SITE: tuple[Colour, Colour] = ((168, 152, 126, 172), (128, 112, 90, 136))
PARKING: tuple[Colour, Colour] = ((96, 97, 100, 90), (190, 190, 185, 175))
CLEAR_WATER: tuple[Colour, Colour] = ((40, 56, 62, 20), (52, 72, 62, 30))
TURBID_WATER: tuple[Colour, Colour] = ((62, 80, 70, 32), (52, 72, 62, 30))
STREAM: tuple[Colour, Colour] = ((58, 72, 64, 36), (44, 58, 56, 26))
WORN_ROAD: Colour = (130, 128, 124, 115)
CONCRETE: Colour = (158, 156, 150, 140)


class SurfaceTable:
    """Appearance of every surface; index 0 is never used."""

    _FIELDS = (
        'code',
        'colour',
        'colour2',
        'texture',
        'amplitude',
        'variation',
        'angle',
        'period',
        'grass_type',
        'cast',
    )

    def __init__(self) -> None:
        """Start with the unused surface 0."""
        self.count = 0
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in self._FIELDS}
        self.add(np.random.default_rng(0), 1, GRASS, (0, 0, 0, 0), jitter=0.0)

    def add(
        self,
        rng: np.random.Generator,
        count: int,
        code: int,
        colour: Colour | np.ndarray,
        colour2: Colour | np.ndarray | None = None,
        texture: int = NOISE,
        amplitude: float | np.ndarray = 0.3,
        variation: float = 0.0,
        period: float | np.ndarray = 1.0,
        grass_type: int = 0,
        cast: float | np.ndarray = 0.0,
        jitter: float = 0.06,
    ) -> np.ndarray:
        """Add surfaces of one class, each with its own colour jitter.

        Args:
            rng: random stream.
            count: number of surfaces.
            code: class code.
            colour: main colour, (4,) or (count, 4).
            colour2: second colour (default: ``colour`` darkened by 20 %).
            texture: how the colours mix (noise, canopy or stripes).
            amplitude: how much of the second colour the texture mixes in.
            variation: strength of slow brightness variation across a surface.
            period: stripe period (m).
            grass_type: NLCD grass type (0: 71, 1: 81, 2: 82).
            cast: length of the shadow a surface casts (m).
            jitter: relative colour jitter (brightness, and half of it per band).

        Returns:
            The new surfaces' indices.
        """
        scale = rng.normal(1.0, jitter, (count, 1)) * rng.normal(
            1.0, jitter / 2, (count, 4)
        )
        main = np.broadcast_to(np.asarray(colour, dtype=np.float64), (count, 4))
        second = (
            main * 0.8 if colour2 is None else np.asarray(colour2, dtype=np.float64)
        )
        values = {
            'code': np.full(count, code, dtype=np.uint8),
            'colour': main * scale,
            'colour2': np.broadcast_to(second, (count, 4)) * scale,
            'texture': np.full(count, texture, dtype=np.uint8),
            'amplitude': np.broadcast_to(amplitude, count),
            'variation': np.full(count, variation),
            'angle': rng.uniform(0, math.pi, count),
            'period': np.broadcast_to(period, count),
            'grass_type': np.full(count, grass_type, dtype=np.uint8),
            'cast': np.broadcast_to(cast, count),
        }
        for name, value in values.items():
            self._parts[name].append(np.asarray(value))
        first = self.count
        self.count += count
        return np.arange(first, self.count, dtype=np.int32)

    def array(self, name: str, dtype: type = np.float32) -> np.ndarray:
        """One attribute of all surfaces, contiguous.

        Args:
            name: attribute name.
            dtype: array dtype.

        Returns:
            The array (colours are (n, 4)).
        """
        return np.ascontiguousarray(np.concatenate(self._parts[name]), dtype=dtype)


def burn_surfaces(
    layout: SceneLayout,
    table: SurfaceTable,
    noise: NoiseFields,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Burn all surfaces, lowest first.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        noise: shared noise fields.
        rng: random stream.

    Returns:
        The (H, W) int32 surface of each pixel, and the (H, W) int16 forest-type zone
        (1-based index into the layout's zones).
    """
    tan_zenith = rng.uniform(0.5, 0.85)
    surface = np.zeros((layout.height, layout.width), dtype=np.int32)
    _burn_ground(layout, table, rng, surface)
    zone = _burn_forest(layout, table, noise, rng, surface, tan_zenith)
    _burn_hedges_and_patches(layout, table, rng, surface, tan_zenith)
    _burn_water(layout, table, rng, surface)
    _burn_trees(layout, table, rng, surface, tan_zenith)
    _burn_built(layout, table, rng, surface)
    _burn_roofs(layout, table, surface, rng, tan_zenith)
    return surface, zone


def _burn_ground(
    layout: SceneLayout,
    table: SurfaceTable,
    rng: np.random.Generator,
    surface: np.ndarray,
) -> None:
    """Burn the fields (a partition of the scene) and the lawns of the towns.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        rng: random stream.
        surface: surface raster, edited in place.
    """
    shapes: list[tuple[BaseGeometry, int]] = []
    for polygon, use in zip(layout.fields, layout.field_use, strict=True):
        colour, colour2, texture, periods = FIELD_LOOKS[use]
        (value,) = table.add(
            rng,
            1,
            BARREN if use == FieldUse.BARE else GRASS,
            colour,
            colour2,
            texture,
            amplitude=rng.uniform(0.4, 0.9),
            variation=0.08,
            period=rng.uniform(*periods),
            grass_type=use if use != FieldUse.BARE else 0,
        )
        shapes.append((polygon, value))
    for area in layout.developed:
        (value,) = table.add(rng, 1, GRASS, *LAWN, amplitude=0.6, variation=0.06)
        shapes.append((area, value))
    burn_polygons(surface, shapes)


def _burn_hedges_and_patches(
    layout: SceneLayout,
    table: SurfaceTable,
    rng: np.random.Generator,
    surface: np.ndarray,
    tan_zenith: float,
) -> None:
    """Burn the hedgerows and the bare patches and farm tracks, over the forest.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        rng: random stream.
        surface: surface raster, edited in place.
        tan_zenith: shadow length per metre of height.
    """
    hedges = table.add(
        rng, len(layout.hedgerows), TREES, *HEDGE, CANOPY, 0.9, cast=9.0 * tan_zenith
    )
    patches = table.add(
        rng, len(layout.barren_patches), BARREN, *BARE_PATCH, NOISE, 0.8
    )
    shapes = [
        *zip(layout.hedgerows, hedges, strict=True),
        *zip(layout.barren_patches, patches, strict=True),
    ]
    burn_polygons(surface, shapes)


def _burn_water(
    layout: SceneLayout,
    table: SurfaceTable,
    rng: np.random.Generator,
    surface: np.ndarray,
) -> None:
    """Burn lakes and ponds (clear or turbid) and streams.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        rng: random stream.
        surface: surface raster, edited in place.
    """
    shapes: list[tuple[BaseGeometry, int]] = []
    for lake in layout.waterbodies:
        looks = CLEAR_WATER if rng.random() < 0.6 else TURBID_WATER
        (value,) = table.add(rng, 1, WATER, *looks, NOISE, 0.4, 0.05)
        shapes.append((lake, value))
    streams = table.add(rng, len(layout.streams), WATER, *STREAM, NOISE, 0.5)
    shapes += [*zip(layout.stream_polygons(), streams, strict=True)]
    burn_polygons(surface, shapes)


def _burn_trees(
    layout: SceneLayout,
    table: SurfaceTable,
    rng: np.random.Generator,
    surface: np.ndarray,
    tan_zenith: float,
) -> None:
    """Burn the yard, street, farmstead and lone trees' crowns.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        rng: random stream.
        surface: surface raster, edited in place.
        tan_zenith: shadow length per metre of height.
    """
    trees = layout.trees
    crowns, gaps = FOREST_LOOKS[0]
    values = table.add(
        rng,
        len(trees),
        TREES,
        crowns,
        gaps,
        CANOPY,
        amplitude=rng.uniform(0.6, 0.9, len(trees)),
        cast=(2 * trees.radii + 3.0) * tan_zenith,
        jitter=0.1,
    )
    burn_discs(surface, trees, values)


def _burn_built(
    layout: SceneLayout,
    table: SurfaceTable,
    rng: np.random.Generator,
    surface: np.ndarray,
) -> None:
    """Burn construction sites, parking lots, roads and driveways, in this order.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        rng: random stream.
        surface: surface raster, edited in place.
    """
    values = table.add(rng, len(layout.construction), BARREN, *SITE, NOISE, 0.8)
    burn_rectangles(surface, layout.construction, values)
    values = table.add(
        rng, len(layout.parking), IMPERVIOUS, *PARKING, STRIPES, 0.25, period=2.7
    )
    burn_rectangles(surface, layout.parking, values)
    kinds = np.asarray(layout.road_kind, dtype=np.int64)
    colours = np.array(
        [ROAD_LOOKS[kind][int(rng.integers(len(ROAD_LOOKS[kind])))] for kind in kinds]
    ).reshape(-1, 4)
    values = table.add(rng, len(kinds), IMPERVIOUS, colours, WORN_ROAD, NOISE, 0.3)
    burn_polygons(surface, [*zip(layout.road_polygons(), values, strict=True)])
    values = table.add(
        rng, len(layout.driveways), IMPERVIOUS, CONCRETE, None, NOISE, 0.2, jitter=0.1
    )
    burn_rectangles(surface, layout.driveways, values)


def _burn_forest(
    layout: SceneLayout,
    table: SurfaceTable,
    noise: NoiseFields,
    rng: np.random.Generator,
    surface: np.ndarray,
    tan_zenith: float,
) -> np.ndarray:
    """Forest: a smooth random field thinned in towns, plus trees along streams.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        noise: shared noise fields.
        rng: random stream.
        surface: surface raster, edited in place.
        tan_zenith: shadow length per metre of height.

    Returns:
        The (H, W) int16 forest-type zone of each pixel (1-based).
    """
    height, width = surface.shape
    field = noise.forest
    town = np.zeros(field.grid.shape, dtype=np.uint8)
    burn_polygons(town, [(a, 1) for a in layout.developed], Affine.scale(field.cell))
    # Thin the forest in and near towns; then about 28 % of the rest is forest.
    weight = scipy.ndimage.gaussian_filter(town.astype(np.float32), 3.0)
    grid = field.grid - 1.3 * weight
    field.set_grid(grid - float(np.quantile(grid[town == 0], 0.72)))
    zone = np.zeros((height, width), dtype=np.int16)
    burn_polygons(zone, [(g, i + 1) for i, g in enumerate(layout.zones)])
    zone_surfaces = np.zeros(len(layout.zones) + 1, dtype=np.int32)
    for index, kind in enumerate(layout.zone_type):
        crowns, gaps = FOREST_LOOKS[kind]
        (zone_surfaces[index + 1],) = table.add(
            rng,
            1,
            TREES,
            crowns,
            gaps,
            CANOPY,
            amplitude=rng.uniform(0.75, 1.0),
            variation=0.06,
            cast=rng.uniform(14.0, 22.0) * tan_zenith,
        )
    # Trees line streams in the countryside, with gaps.
    riparian = np.zeros((height, width), dtype=np.uint8)
    burn_polygons(riparian, [(g, 1) for g in layout.riparian])
    burn_polygons(riparian, [(area, 0) for area in layout.developed])
    for rows in row_blocks(height):
        medium = noise.medium[rows]
        forest = field[rows] + 0.12 * medium > 0
        forest |= (riparian[rows] > 0) & (medium > -0.3)
        block = surface[rows]
        block[forest] = zone_surfaces[zone[rows][forest]]
    return zone


def _burn_roofs(
    layout: SceneLayout,
    table: SurfaceTable,
    surface: np.ndarray,
    rng: np.random.Generator,
    tan_zenith: float,
) -> None:
    """Burn roofs: flat on commercial buildings, two slopes elsewhere.

    Args:
        layout: the scene layout.
        table: surface table to fill.
        surface: surface raster, edited in place.
        rng: random stream.
        tan_zenith: shadow length per metre of height.
    """
    buildings = layout.buildings
    count = len(buildings)
    if not count:
        return
    kinds = layout.building_kind
    colours = np.array(
        [ROOFS[kind][int(rng.integers(len(ROOFS[kind])))] for kind in kinds]
    ).reshape(-1, 4)
    cast = layout.building_height * tan_zenith
    flat = kinds == BuildingKind.COMMERCIAL
    values = table.add(
        rng,
        int(flat.sum()),
        IMPERVIOUS,
        colours[flat],
        None,
        NOISE,
        0.15,
        cast=cast[flat],
    )
    burn_rectangles(surface, buildings.subset(flat), values)
    gable = buildings.subset(~flat)
    # The ridge runs along the longer side; the two slopes are lit differently.
    turn = gable.depths > gable.lengths
    axes = np.where(
        turn[:, None],
        np.column_stack([-gable.axes[:, 1], gable.axes[:, 0]]),
        gable.axes,
    )
    long_side = np.maximum(gable.lengths, gable.depths)
    short_side = np.minimum(gable.lengths, gable.depths)
    across = np.column_stack([-axes[:, 1], axes[:, 0]])
    shade = np.column_stack([np.ones(len(gable)), rng.uniform(0.7, 0.85, len(gable))])
    for slope, sign in enumerate((-1.0, 1.0)):
        half = Rectangles()
        half.extend(
            gable.centres + sign * across * (short_side / 4)[:, None],
            axes,
            long_side,
            short_side / 2,
        )
        values = table.add(
            rng,
            len(half),
            IMPERVIOUS,
            colours[~flat] * shade[:, slope, None],
            None,
            NOISE,
            0.1,
            cast=cast[~flat],
        )
        burn_rectangles(surface, half, values)

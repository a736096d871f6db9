"""Vector layout of a synthetic scene: roads, buildings, water, fields and trees.

Everything is laid out in scene pixel coordinates: x grows east, y grows south, one
unit is one metre, and the scene spans ``[0, width] x [0, height]`` (all tiles side by
side). Each tile gets a developed area (a street grid with houses, yard and street
trees, a commercial core with large buildings and parking lots, a construction site);
main roads, fields, forest-type zones and farmsteads span the scene; every tile has a
lake, maybe a pond, and a meandering stream through the lake.

The thousands of small objects (buildings, driveways, parking lots, trees) are kept as
arrays of rectangles and discs (:mod:`~torchgeo_lsr.datasets._scene_shapes`), so that
they are made and rasterised in bulk.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ._scene_fields import scene_rng
from ._scene_shapes import Discs, Rectangles, blob, meander

__all__ = (
    'BUILDING_HEIGHTS',
    'ROAD_KIND_NAMES',
    'BuildingKind',
    'FieldUse',
    'RoadKind',
    'SceneLayout',
    'layout_scene',
)


class FieldUse:
    """Land use of a rural field (the grass uses give NLCD 71, 81, 82)."""

    GRASSLAND = 0
    PASTURE = 1
    CROPS = 2
    BARE = 3


class RoadKind:
    """Kind of road: wide main roads, the town's street grid, rural lanes."""

    MAIN = 0
    STREET = 1
    LANE = 2


class BuildingKind:
    """Kind of building (decides roof colours, roof shape and height)."""

    HOUSE = 0
    COMMERCIAL = 1
    FARM = 2


#: Names of the road kinds, as written to the roads file.
ROAD_KIND_NAMES = ('main', 'street', 'lane')

#: Mean spacing of the seeds of rural fields and of forest-type zones (m).
FIELD_SPACING = 160.0
ZONE_SPACING = 380.0

#: Probabilities of the field uses (grassland, pasture/hay, crops, bare soil).
FIELD_USE_WEIGHTS = (0.27, 0.34, 0.33, 0.06)

#: Clumps of lone trees per square kilometre of countryside.
SCATTERED_TREES = 250.0

#: Building heights (m) by kind: house, commercial, farm.
BUILDING_HEIGHTS = ((5.0, 9.0), (8.0, 18.0), (6.0, 10.0))


@dataclass
class SceneLayout:
    """Geometries of a scene in scene pixel coordinates.

    Attributes:
        height: scene height (m).
        width: scene width (m), all tiles.
        sun: unit vector pointing away from the sun (the direction of shadows).
        developed: developed area of each tile.
        cores: commercial core of each tile.
        fields: rural field polygons (a partition of the scene).
        field_use: :class:`FieldUse` of each field.
        zones: forest-type zone polygons (a partition of the scene).
        zone_type: forest type of each zone (0 deciduous, 1 evergreen, 2 mixed).
        roads: road centre lines.
        road_width: width of each road (m).
        road_kind: :class:`RoadKind` of each road.
        streams: stream centre lines.
        stream_width: width of each stream (m).
        waterbodies: lake and pond polygons.
        buildings: building footprints.
        building_kind: :class:`BuildingKind` of each building.
        building_height: height of each building (m), for shadows.
        driveways: driveways (impervious, absent from the vector files).
        parking: parking lots (impervious, absent from the vector files).
        construction: construction sites (barren).
        barren_patches: small bare patches and gravel farm tracks (barren).
        hedgerows: tree strips along field borders.
        trees: yard, street and farmstead tree crowns.
        riparian: strips along streams where trees may grow.
    """

    height: int
    width: int
    sun: tuple[float, float]
    developed: list[Polygon] = field(default_factory=list)
    cores: list[Polygon] = field(default_factory=list)
    fields: list[BaseGeometry] = field(default_factory=list)
    field_use: list[int] = field(default_factory=list)
    zones: list[BaseGeometry] = field(default_factory=list)
    zone_type: list[int] = field(default_factory=list)
    roads: list[LineString] = field(default_factory=list)
    road_width: list[float] = field(default_factory=list)
    road_kind: list[int] = field(default_factory=list)
    streams: list[LineString] = field(default_factory=list)
    stream_width: list[float] = field(default_factory=list)
    waterbodies: list[Polygon] = field(default_factory=list)
    buildings: Rectangles = field(default_factory=Rectangles)
    building_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    building_height: np.ndarray = field(default_factory=lambda: np.zeros(0))
    driveways: Rectangles = field(default_factory=Rectangles)
    parking: Rectangles = field(default_factory=Rectangles)
    construction: Rectangles = field(default_factory=Rectangles)
    barren_patches: list[BaseGeometry] = field(default_factory=list)
    hedgerows: list[BaseGeometry] = field(default_factory=list)
    trees: Discs = field(default_factory=Discs)
    riparian: list[BaseGeometry] = field(default_factory=list)

    def road_polygons(self, margin: float = 0.0) -> np.ndarray:
        """Road surfaces: centre lines buffered by half their width.

        Args:
            margin: extra distance added on each side.

        Returns:
            Object array of polygons.
        """
        widths = np.asarray(self.road_width, dtype=np.float64)
        lines = np.asarray(self.roads, dtype=object)
        result: np.ndarray = shapely.buffer(
            lines, widths / 2 + margin, cap_style='flat'
        )
        return result

    def stream_polygons(self, margin: float = 0.0) -> np.ndarray:
        """Stream surfaces: centre lines buffered by half their width.

        Args:
            margin: extra distance added on each side.

        Returns:
            Object array of polygons.
        """
        widths = np.asarray(self.stream_width, dtype=np.float64)
        lines = np.asarray(self.streams, dtype=object)
        result: np.ndarray = shapely.buffer(lines, widths / 2 + margin)
        return result

    def add_buildings(
        self, rng: np.random.Generator, rectangles: Rectangles, kind: int
    ) -> None:
        """Append buildings of one kind with random heights.

        Args:
            rng: random stream.
            rectangles: footprints.
            kind: :class:`BuildingKind`.
        """
        low, high = BUILDING_HEIGHTS[kind]
        self.buildings.extend(
            rectangles.centres, rectangles.axes, rectangles.lengths, rectangles.depths
        )
        self.building_kind = np.concatenate(
            [self.building_kind, np.full(len(rectangles), kind)]
        )
        self.building_height = np.concatenate(
            [self.building_height, rng.uniform(low, high, len(rectangles))]
        )


def layout_scene(seed: int, size: int, tiles: int) -> SceneLayout:
    """Lay out a whole scene.

    Args:
        seed: scene seed.
        size: tile side (m).
        tiles: number of tiles, side by side from west to east.

    Returns:
        The layout.
    """
    azimuth = math.radians(scene_rng(seed, 'sun').uniform(120.0, 240.0))
    layout = SceneLayout(
        height=size, width=size * tiles, sun=(-math.sin(azimuth), math.cos(azimuth))
    )
    for tile in range(tiles):
        _developed_area(layout, scene_rng(seed, 'developed', tile), tile * size, size)
    _main_roads(layout, scene_rng(seed, 'roads'), size, tiles)
    for tile in range(tiles):
        _water(layout, scene_rng(seed, 'water', tile), tile * size, size)
    _partition(layout, scene_rng(seed, 'fields'), FIELD_SPACING, is_fields=True)
    _partition(layout, scene_rng(seed, 'zones'), ZONE_SPACING, is_fields=False)
    _hedgerows(layout, scene_rng(seed, 'hedgerows'))
    for tile in range(tiles):
        _town(layout, scene_rng(seed, 'town', tile), tile)
        _farmsteads(layout, scene_rng(seed, 'farms', tile), tile * size, size)
        _barren_patches(layout, scene_rng(seed, 'barren', tile), tile * size, size)
        _scattered_trees(layout, scene_rng(seed, 'scattered', tile), tile * size, size)
    _remove_colliding_buildings(layout)
    return layout


def _smooth_path(
    rng: np.random.Generator, anchors: np.ndarray, start: float, stop: float
) -> np.ndarray:
    """A gently curving path near anchor points: (n, 2) of (along, across).

    Args:
        rng: random stream.
        anchors: (k, 2) (along, across) points, sorted along.
        start: first along-coordinate.
        stop: last along-coordinate.

    Returns:
        Vertices every 10 m along the path.
    """
    along = np.arange(start, stop + 10.0, 10.0)
    across = np.interp(along, anchors[:, 0], anchors[:, 1])
    for _ in range(2):
        wavelength = rng.uniform(500.0, 1600.0)
        across += rng.uniform(10.0, 45.0) * np.sin(
            2 * math.pi * along / wavelength + rng.uniform(0, 2 * math.pi)
        )
    # Smooth the kinks of the linear interpolation into curves.
    kernel = np.hanning(31)
    padded = np.pad(across, 15, mode='edge')
    across = np.convolve(padded, kernel / kernel.sum(), mode='valid')
    return np.column_stack([along, across])


def _largest_polygon(geometry: BaseGeometry) -> Polygon:
    """The largest polygon of a geometry (an empty polygon if there is none).

    Args:
        geometry: any geometry.

    Returns:
        A polygon.
    """
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon)]
    return max(parts, key=lambda g: g.area) if parts else Polygon()


def _developed_area(
    layout: SceneLayout, rng: np.random.Generator, left: float, size: int
) -> None:
    """The developed area and commercial core of one tile.

    Args:
        layout: layout to add to.
        rng: random stream.
        left: tile's western edge.
        size: tile side.
    """
    centre = (left + rng.uniform(0.38, 0.62) * size, rng.uniform(0.38, 0.62) * size)
    radius = rng.uniform(0.32, 0.38) * size
    tile_box = shapely.box(left, 0, left + size, size)
    area = _largest_polygon(blob(rng, centre, radius, 0.3).intersection(tile_box))
    core = blob(rng, centre, radius * rng.uniform(0.2, 0.27), 0.2)
    layout.developed.append(area)
    layout.cores.append(_largest_polygon(core.intersection(area)))


def _add_road(layout: SceneLayout, path: np.ndarray, width: float, kind: int) -> None:
    """Append a road.

    Args:
        layout: layout to add to.
        path: (n, 2) vertices.
        width: road width (m).
        kind: :class:`RoadKind`.
    """
    layout.roads.append(LineString(path))
    layout.road_width.append(float(width))
    layout.road_kind.append(kind)


def _main_roads(
    layout: SceneLayout, rng: np.random.Generator, size: int, tiles: int
) -> None:
    """An east-west road through all towns; a north-south road and a lane per tile.

    Args:
        layout: layout to add to (developed areas must exist).
        rng: random stream.
        size: tile side.
        tiles: number of tiles.
    """
    width, height = layout.width, layout.height
    centres = [
        (area.centroid.x, area.centroid.y)
        if not area.is_empty
        else ((tile + 0.5) * size, size / 2)
        for tile, area in enumerate(layout.developed)
    ]
    anchors = [(-200.0, rng.uniform(0.3, 0.7) * height)]
    anchors += [(x, y + rng.uniform(-0.08, 0.08) * size) for x, y in centres]
    anchors.append((width + 200.0, rng.uniform(0.3, 0.7) * height))
    path = _smooth_path(rng, np.asarray(anchors), -100.0, width + 100.0)
    _add_road(layout, path, rng.uniform(10.0, 12.0), RoadKind.MAIN)
    for tile in range(tiles):
        left = tile * size
        points = np.array(
            [
                (-200.0, left + rng.uniform(0.2, 0.8) * size),
                (height / 2, centres[tile][0] + rng.uniform(-0.1, 0.1) * size),
                (height + 200.0, left + rng.uniform(0.2, 0.8) * size),
            ]
        )
        path = _smooth_path(rng, points, -100.0, height + 100.0)
        _add_road(layout, path[:, ::-1], rng.uniform(9.0, 11.0), RoadKind.MAIN)
        # A rural lane across the tile, away from the east-west main road.
        offset = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.42) * size
        lane_y = float(np.clip(centres[tile][1] + offset, 0.05 * size, 0.95 * size))
        points = np.array([(left - 100.0, lane_y), (left + size + 100.0, lane_y)])
        path = _smooth_path(rng, points, left - 60.0, left + size + 60.0)
        _add_road(layout, path, rng.uniform(6.0, 7.5), RoadKind.LANE)


def _water(
    layout: SceneLayout, rng: np.random.Generator, left: float, size: int
) -> None:
    """A lake (and maybe a pond) away from roads and towns, and a stream through it.

    Args:
        layout: layout to add to (roads and developed areas must exist).
        rng: random stream.
        left: tile's western edge.
        size: tile side.
    """
    avoid = shapely.union_all([*layout.road_polygons(margin=15.0), *layout.developed])
    candidates = shapely.points(
        np.column_stack(
            [left + rng.uniform(0.1, 0.9, 40) * size, rng.uniform(0.1, 0.9, 40) * size]
        )
    )
    centre = candidates[int(np.argmax(shapely.distance(candidates, avoid)))]
    radius = min(rng.uniform(60.0, 130.0), 0.12 * size)
    lake = blob(rng, (centre.x, centre.y), radius, 0.35)
    layout.waterbodies.append(lake)
    if rng.random() < 0.7:
        taken = shapely.union_all([avoid, lake.buffer(60.0)])
        pond = candidates[int(np.argmax(shapely.distance(candidates, taken)))]
        pond_radius = min(rng.uniform(14.0, 35.0), 0.05 * size)
        layout.waterbodies.append(blob(rng, (pond.x, pond.y), pond_radius, 0.3))
    # The stream enters at the north edge, runs through the lake and leaves south.
    top = (left + rng.uniform(0.1, 0.9) * size, -30.0)
    bottom = (left + rng.uniform(0.1, 0.9) * size, size + 30.0)
    width = float(rng.uniform(3.0, 8.0))
    for start, end in ((top, (centre.x, centre.y)), ((centre.x, centre.y), bottom)):
        outside = meander(rng, start, end).difference(lake)
        for piece in shapely.get_parts(shapely.line_merge(outside)):
            if isinstance(piece, LineString) and piece.length > 5:
                layout.streams.append(piece)
                layout.stream_width.append(width)
                layout.riparian.append(piece.buffer(width / 2 + rng.uniform(6.0, 16.0)))


def _partition(
    layout: SceneLayout, rng: np.random.Generator, spacing: float, is_fields: bool
) -> None:
    """Cut the scene into Voronoi cells of jittered grid seeds (fields or zones).

    Args:
        layout: layout to add to.
        rng: random stream.
        spacing: mean seed spacing (m).
        is_fields: fields (with a use each) or forest-type zones (with a type each).
    """
    width, height = layout.width, layout.height
    xs = np.arange(-spacing / 2, width + spacing, spacing)
    ys = np.arange(-spacing / 2, height + spacing, spacing)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    seeds = grid + rng.uniform(-0.35, 0.35, grid.shape) * spacing
    scene = shapely.box(0, 0, width, height)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=scene)
    )
    clipped = [cell for cell in shapely.intersection(cells, scene) if cell.area > 1.0]
    # GEOS does not promise an output order; sort by centroid for determinism.
    clipped.sort(
        key=lambda cell: (round(cell.centroid.y, 3), round(cell.centroid.x, 3))
    )
    if is_fields:
        uses = rng.choice(len(FIELD_USE_WEIGHTS), len(clipped), p=FIELD_USE_WEIGHTS)
        layout.fields.extend(clipped)
        layout.field_use.extend(int(use) for use in uses)
    else:
        # Cycle through the three types so that all of them occur.
        types = rng.permutation(np.arange(len(clipped)) % 3)
        layout.zones.extend(clipped)
        layout.zone_type.extend(int(kind) for kind in types)


def _hedgerows(layout: SceneLayout, rng: np.random.Generator) -> None:
    """Tree strips along some field borders, outside towns.

    Args:
        layout: layout to add to (fields and developed areas must exist).
        rng: random stream.
    """
    edges = []
    for cell in layout.fields:
        for polygon in shapely.get_parts(cell):
            ring = np.asarray(polygon.exterior.coords)
            edges.append(np.stack([ring[:-1], ring[1:]], axis=1))
    if not edges:
        return
    segments = np.concatenate(edges)
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    chosen = segments[(lengths > 20) & (rng.random(len(segments)) < 0.3)]
    if not len(chosen):
        return
    strips = shapely.buffer(
        shapely.linestrings(chosen), rng.uniform(2.5, 4.5, len(chosen))
    )
    towns = shapely.union_all(layout.developed).buffer(10.0)
    hedges = shapely.difference(shapely.union_all(strips), towns)
    layout.hedgerows.extend(p for p in shapely.get_parts(hedges) if p.area > 20)


def _town(layout: SceneLayout, rng: np.random.Generator, tile: int) -> None:
    """Street grid, houses, commercial buildings, parking, trees and a building site.

    Args:
        layout: layout to add to (developed areas and main roads must exist).
        rng: random stream.
        tile: tile index.
    """
    area, core = layout.developed[tile], layout.cores[tile]
    if area.is_empty:
        return
    centre = np.array([area.centroid.x, area.centroid.y])
    angle = rng.uniform(-0.35, 0.35)
    axis_u = np.array([math.cos(angle), math.sin(angle)])
    axis_v = np.array([-axis_u[1], axis_u[0]])
    extent = math.sqrt(area.area) * 1.5
    first = len(layout.roads)
    for axis, other, spacing in (
        (axis_u, axis_v, rng.uniform(75.0, 100.0)),
        (axis_v, axis_u, rng.uniform(105.0, 140.0)),
    ):
        for offset in np.arange(-extent, extent, spacing):
            if rng.random() < 0.08:
                continue
            base = centre + other * (offset + rng.uniform(-4.0, 4.0))
            line = LineString([base - axis * extent, base + axis * extent])
            for piece in shapely.get_parts(line.intersection(area)):
                if isinstance(piece, LineString) and piece.length > 30:
                    width = rng.uniform(6.0, 9.0)
                    _add_road(layout, np.asarray(piece.coords), width, RoadKind.STREET)
    for line, width in zip(
        layout.roads[first:], layout.road_width[first:], strict=True
    ):
        for piece in shapely.get_parts(line.intersection(core)):
            if isinstance(piece, LineString) and piece.length > 20:
                _frontage(layout, rng, piece, width, commercial=True)
        for piece in shapely.get_parts(line.difference(core)):
            if isinstance(piece, LineString) and piece.length > 20:
                _frontage(layout, rng, piece, width, commercial=False)
    # A construction site: bare soil, its buildings removed by the collision pass.
    spots = centre + rng.uniform(-0.35, 0.35, (20, 2)) * math.sqrt(area.area)
    inside = shapely.contains_xy(area, spots[:, 0], spots[:, 1])
    inside &= ~shapely.contains_xy(core, spots[:, 0], spots[:, 1])
    if inside.any():
        layout.construction.extend(
            spots[np.argmax(inside)],
            axis_u,
            rng.uniform(50.0, 110.0),
            rng.uniform(40.0, 80.0),
        )


def _frontage(
    layout: SceneLayout,
    rng: np.random.Generator,
    line: LineString,
    road_width: float,
    commercial: bool,
) -> None:
    """Lots on both sides of a straight street: buildings, driveways, parking, trees.

    Args:
        layout: layout to add to.
        rng: random stream.
        line: straight street centre line.
        road_width: street width.
        commercial: large flat-roofed buildings behind parking lots, instead of
            houses with driveways and yard trees.
    """
    coords = np.asarray(line.coords)
    start = coords[0]
    direction = (coords[-1] - start) / line.length
    normal = np.array([-direction[1], direction[0]])
    low, high = (40.0, 55.0) if commercial else (18.0, 28.0)
    count = int(line.length / low) + 2
    for side in (-1.0, 1.0):
        lots = rng.uniform(low, high, count)
        ends = rng.uniform(0.0, 10.0) + np.cumsum(lots)
        lots, ends = lots[ends <= line.length], ends[ends <= line.length]
        n = len(lots)
        if not n:
            continue
        outward = side * normal
        # Lot fronts: the middle of each lot, on the street's edge.
        fronts = start + np.outer(ends - lots / 2, direction) + outward * road_width / 2
        if commercial:
            _commercial_lots(layout, rng, fronts, direction, outward, lots)
        else:
            _house_lots(layout, rng, fronts, direction, outward, lots)


def _house_lots(
    layout: SceneLayout,
    rng: np.random.Generator,
    fronts: np.ndarray,
    along: np.ndarray,
    outward: np.ndarray,
    lots: np.ndarray,
) -> None:
    """Houses set back from the street, driveways, yard and street trees.

    Args:
        layout: layout to add to.
        rng: random stream.
        fronts: (n, 2) middle of each lot on the street's edge.
        along: unit vector along the street.
        outward: unit vector from the street into the lots.
        lots: (n,) lot widths.
    """
    n = len(lots)
    length = rng.uniform(9.0, np.minimum(18.0, lots - 4.0))
    depth = rng.uniform(8.0, 14.0, n)
    setback = rng.uniform(5.0, 11.0, n)
    built = rng.random(n) < 0.88
    centres = fronts + outward * (setback + depth / 2)[:, None]
    houses = Rectangles()
    houses.extend(centres[built], along, length[built], depth[built])
    layout.add_buildings(rng, houses, BuildingKind.HOUSE)
    paved = built & (rng.random(n) < 0.75)
    side = rng.choice([-1.0, 1.0], n) * (length / 2 - 2.0)
    layout.driveways.extend(
        (fronts + np.outer(side, along) + outward * (setback / 2)[:, None])[paved],
        outward,
        (setback + 0.5)[paved],
        rng.uniform(3.0, 4.5, n)[paved],
    )
    per_house = rng.poisson(3.0, n) * built
    owners = np.repeat(np.arange(n), per_house)
    spots = (
        centres[owners]
        + outward * (depth[owners] / 2 + rng.uniform(3.0, 14.0, len(owners)))[:, None]
        + np.outer(rng.uniform(-0.5, 0.5, len(owners)) * lots[owners], along)
    )
    layout.trees.extend(spots, rng.uniform(2.5, 7.0, len(owners)))
    street = rng.random(n) < 0.5
    spots = fronts + outward * rng.uniform(1.5, 3.0, (n, 1))
    layout.trees.extend(spots[street], rng.uniform(2.5, 4.5, n)[street])


def _commercial_lots(
    layout: SceneLayout,
    rng: np.random.Generator,
    fronts: np.ndarray,
    along: np.ndarray,
    outward: np.ndarray,
    lots: np.ndarray,
) -> None:
    """Large flat-roofed buildings behind parking lots.

    Args:
        layout: layout to add to.
        rng: random stream.
        fronts: (n, 2) middle of each lot on the street's edge.
        along: unit vector along the street.
        outward: unit vector from the street into the lots.
        lots: (n,) lot widths.
    """
    n = len(lots)
    length = rng.uniform(18.0, np.minimum(30.0, lots - 4.0))
    depth = rng.uniform(15.0, 30.0, n)
    has_parking = rng.random(n) < 0.6
    parking_depth = np.where(has_parking, rng.uniform(12.0, 26.0, n), 0.0)
    setback = parking_depth + rng.uniform(1.0, 4.0, n)
    buildings = Rectangles()
    buildings.extend(
        fronts + outward * (setback + depth / 2)[:, None], along, length, depth
    )
    layout.add_buildings(rng, buildings, BuildingKind.COMMERCIAL)
    layout.parking.extend(
        (fronts + outward * (parking_depth / 2 + 0.5)[:, None])[has_parking],
        along,
        (lots - rng.uniform(4.0, 12.0, n))[has_parking],
        (parking_depth + 1.0)[has_parking],
    )


def _farmsteads(
    layout: SceneLayout, rng: np.random.Generator, left: float, size: int
) -> None:
    """Farmhouses with a barn, a gravel track and trees, along rural roads.

    Args:
        layout: layout to add to.
        rng: random stream.
        left: tile's western edge.
        size: tile side.
    """
    towns = shapely.union_all(layout.developed).buffer(40.0)
    tile_box = shapely.box(left + 20, 20, left + size - 20, size - 20)
    rural = [
        (line, width)
        for line, width, kind in zip(
            layout.roads, layout.road_width, layout.road_kind, strict=True
        )
        if kind != RoadKind.STREET and line.intersects(tile_box)
    ]
    if not rural:
        return
    for _ in range(rng.poisson(max(1.0, 5.0 * (size / 2048) ** 2))):
        line, road_width = rural[int(rng.integers(len(rural)))]
        at = rng.uniform(0, line.length)
        point = np.asarray(line.interpolate(at).coords[0])
        ahead = np.asarray(line.interpolate(min(at + 5.0, line.length)).coords[0])
        behind = np.asarray(line.interpolate(max(at - 5.0, 0.0)).coords[0])
        along = (ahead - behind) / max(float(np.linalg.norm(ahead - behind)), 1e-9)
        outward = np.array([-along[1], along[0]]) * rng.choice([-1.0, 1.0])
        setback = rng.uniform(20.0, 45.0)
        if towns.contains(Point(point)) or not tile_box.contains(Point(point)):
            continue
        house = point + outward * (road_width / 2 + setback)
        barn = house + along * rng.choice([-1.0, 1.0]) * rng.uniform(25.0, 40.0)
        barn = barn + outward * rng.uniform(5.0, 25.0)
        buildings = Rectangles()
        buildings.extend(
            np.stack([house, barn]),
            along,
            np.array([rng.uniform(10, 15), rng.uniform(15, 30)]),
            np.array([rng.uniform(9, 12), rng.uniform(10, 20)]),
        )
        layout.add_buildings(rng, buildings, BuildingKind.FARM)
        track = LineString([point, house]).buffer(rng.uniform(1.5, 2.5))
        layout.barren_patches.append(track)
        count = int(rng.integers(3, 9))
        layout.trees.extend(
            house + rng.normal(0, 18.0, (count, 2)), rng.uniform(3.0, 7.0, count)
        )


def _barren_patches(
    layout: SceneLayout, rng: np.random.Generator, left: float, size: int
) -> None:
    """Small bare patches (dirt pads, quarries) outside towns.

    Args:
        layout: layout to add to.
        rng: random stream.
        left: tile's western edge.
        size: tile side.
    """
    towns = shapely.union_all(layout.developed)
    for _ in range(rng.poisson(max(1.0, 6.0 * (size / 2048) ** 2))):
        centre = (left + rng.uniform(0, size), rng.uniform(0, size))
        radius = rng.uniform(8.0, 30.0)
        if not towns.contains(Point(centre)):
            layout.barren_patches.append(blob(rng, centre, radius, 0.4))


def _scattered_trees(
    layout: SceneLayout, rng: np.random.Generator, left: float, size: int
) -> None:
    """Lone trees and small clumps in fields, outside towns.

    Args:
        layout: layout to add to.
        rng: random stream.
        left: tile's western edge.
        size: tile side.
    """
    count = rng.poisson(SCATTERED_TREES * (size / 1000) ** 2)
    clumps = np.column_stack(
        [left + rng.uniform(0, size, count), rng.uniform(0, size, count)]
    )
    towns = shapely.union_all(layout.developed)
    clumps = clumps[~shapely.contains_xy(towns, clumps[:, 0], clumps[:, 1])]
    members = rng.integers(1, 6, len(clumps))
    centres = np.repeat(clumps, members, axis=0)
    centres += rng.normal(0, 6.0, centres.shape)
    layout.trees.extend(centres, rng.uniform(2.5, 6.0, len(centres)))


def _remove_colliding_buildings(layout: SceneLayout) -> None:
    """Drop buildings on roads, water or building sites, or overlapping another.

    Args:
        layout: layout to edit.
    """
    if not len(layout.buildings):
        return
    footprints = layout.buildings.polygons()
    obstacles = np.concatenate(
        [
            layout.road_polygons(margin=1.0),
            layout.stream_polygons(margin=2.0),
            shapely.buffer(np.asarray(layout.waterbodies, dtype=object), 3.0),
            layout.construction.polygons(),
        ]
    )
    keep = np.ones(len(footprints), dtype=bool)
    if len(obstacles):
        hits = shapely.STRtree(obstacles).query(footprints, predicate='intersects')
        keep[hits[0]] = False
    pairs = shapely.STRtree(footprints).query(footprints, predicate='intersects')
    keep[pairs[1][pairs[0] < pairs[1]]] = False
    layout.buildings = layout.buildings.subset(keep)
    layout.building_kind = layout.building_kind[keep]
    layout.building_height = layout.building_height[keep]

"""Lay out a synthetic scene: roads, water, fields, forest zones, trees and towns.

Each tile gets a developed area (a town, :mod:`~torchgeo_lsr.datasets._scene_town`);
main roads, fields, forest-type zones and farmsteads span the scene; every tile has a
lake, maybe a pond, and a meandering stream through the lake. The geometries go into
a :class:`~torchgeo_lsr.datasets._scene_layout.SceneLayout`, in scene pixel
coordinates; buildings that collide with anything are dropped last.
"""

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ._scene_fields import scene_rng
from ._scene_layout import RoadKind, SceneLayout
from ._scene_shapes import blob, meander
from ._scene_town import lay_out_farmsteads, lay_out_town

__all__ = (
    'FIELD_SPACING',
    'FIELD_USE_WEIGHTS',
    'SCATTERED_TREES',
    'ZONE_SPACING',
    'layout_scene',
)

#: Mean spacing of the seeds of rural fields and of forest-type zones (m).
FIELD_SPACING = 160.0
ZONE_SPACING = 380.0

#: Probabilities of the field uses (grassland, pasture/hay, crops, bare soil).
FIELD_USE_WEIGHTS = (0.27, 0.34, 0.33, 0.06)

#: Clumps of lone trees per square kilometre of countryside.
SCATTERED_TREES = 250.0


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
        lay_out_town(layout, scene_rng(seed, 'town', tile), tile)
        lay_out_farmsteads(layout, scene_rng(seed, 'farms', tile), tile * size, size)
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
    layout.add_road(path, rng.uniform(10.0, 12.0), RoadKind.MAIN)
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
        layout.add_road(path[:, ::-1], rng.uniform(9.0, 11.0), RoadKind.MAIN)
        # A rural lane across the tile, away from the east-west main road.
        offset = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.42) * size
        lane_y = float(np.clip(centres[tile][1] + offset, 0.05 * size, 0.95 * size))
        points = np.array([(left - 100.0, lane_y), (left + size + 100.0, lane_y)])
        path = _smooth_path(rng, points, left - 60.0, left + size + 60.0)
        layout.add_road(path, rng.uniform(6.0, 7.5), RoadKind.LANE)


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

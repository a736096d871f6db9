"""Settlements of a synthetic scene: towns with their street grids, and farmsteads.

A town fills a tile's developed area: a street grid, houses with driveways and yard
and street trees along the streets, large flat-roofed buildings behind parking lots
in the commercial core, and a construction site. Farmsteads (a house, a barn, a gravel
track and trees) line the rural roads.
"""

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from ._scene_layout import BuildingKind, RoadKind, SceneLayout
from ._scene_shapes import Rectangles

__all__ = ('lay_out_farmsteads', 'lay_out_town')


def lay_out_town(layout: SceneLayout, rng: np.random.Generator, tile: int) -> None:
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
                    layout.add_road(np.asarray(piece.coords), width, RoadKind.STREET)
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


def lay_out_farmsteads(
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

"""The vector layout of a synthetic scene, and the kinds of its objects.

A :class:`SceneLayout` holds every geometry of a scene in scene pixel coordinates: x
grows east, y grows south, one unit is one metre, and the scene spans
``[0, width] x [0, height]`` (all tiles side by side). The thousands of small objects
(buildings, driveways, parking lots, trees) are kept as arrays of rectangles and discs
(:mod:`~torchgeo_lsr.datasets._scene_shapes`), so that they are made and rasterised
in bulk. :mod:`~torchgeo_lsr.datasets._scene_geometry` fills it.
"""

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from ._scene_shapes import Discs, Rectangles

__all__ = (
    'BUILDING_HEIGHTS',
    'ROAD_KIND_NAMES',
    'BuildingKind',
    'FieldUse',
    'RoadKind',
    'SceneLayout',
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

    def add_road(self, path: np.ndarray, width: float, kind: int) -> None:
        """Append a road.

        Args:
            path: (n, 2) vertices.
            width: road width (m).
            kind: :class:`RoadKind`.
        """
        self.roads.append(LineString(path))
        self.road_width.append(float(width))
        self.road_kind.append(kind)

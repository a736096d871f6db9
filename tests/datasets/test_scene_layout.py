"""Tests of the scene layout's containers (roads, buildings, surfaces)."""

import numpy as np
import pytest
import shapely

from torchgeo_lsr.datasets._scene_layout import (
    BUILDING_HEIGHTS,
    ROAD_KIND_NAMES,
    BuildingKind,
    RoadKind,
    SceneLayout,
)
from torchgeo_lsr.datasets._scene_shapes import Rectangles


def test_add_road_and_its_surface() -> None:
    layout = SceneLayout(height=100, width=200, sun=(0.0, 1.0))
    layout.add_road(np.array([(0.0, 50.0), (200.0, 50.0)]), 8, RoadKind.MAIN)
    layout.add_road(np.array([(100.0, 0.0), (100.0, 100.0)]), 6.5, RoadKind.LANE)
    assert layout.road_width == [8.0, 6.5]
    assert layout.road_kind == [RoadKind.MAIN, RoadKind.LANE]
    assert ROAD_KIND_NAMES[RoadKind.LANE] == 'lane'
    surfaces = layout.road_polygons()
    assert surfaces[0].area == pytest.approx(200 * 8)  # flat caps: no overhang
    assert layout.road_polygons(margin=1.0)[1].area == pytest.approx(100 * 8.5)


def test_add_buildings_draws_heights_by_kind() -> None:
    layout = SceneLayout(height=100, width=100, sun=(0.0, 1.0))
    rng = np.random.default_rng(0)
    for kind in (BuildingKind.HOUSE, BuildingKind.COMMERCIAL):
        rectangles = Rectangles()
        rectangles.extend(rng.uniform(0, 100, (5, 2)), np.array([1.0, 0.0]), 10, 8)
        layout.add_buildings(rng, rectangles, kind)
    assert len(layout.buildings) == 10
    assert (
        list(layout.building_kind)
        == [BuildingKind.HOUSE] * 5 + [BuildingKind.COMMERCIAL] * 5
    )
    for kind, heights in (
        (BuildingKind.HOUSE, layout.building_height[:5]),
        (BuildingKind.COMMERCIAL, layout.building_height[5:]),
    ):
        low, high = BUILDING_HEIGHTS[kind]
        assert ((heights >= low) & (heights <= high)).all()
    footprints = layout.buildings.polygons()
    assert shapely.area(footprints) == pytest.approx(np.full(10, 80.0))

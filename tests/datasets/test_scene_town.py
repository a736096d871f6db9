"""Tests of the towns and farmsteads of a scene layout."""

import numpy as np
import shapely

from torchgeo_lsr.datasets._scene_layout import BuildingKind, RoadKind, SceneLayout
from torchgeo_lsr.datasets._scene_town import lay_out_farmsteads, lay_out_town


def town_layout() -> SceneLayout:
    """One 600 m tile with a square town, a commercial core and a main road."""
    layout = SceneLayout(height=600, width=600, sun=(0.0, 1.0))
    layout.developed.append(shapely.box(150, 150, 450, 450))
    layout.cores.append(shapely.box(250, 250, 350, 350))
    layout.add_road(np.array([(-50.0, 80.0), (650.0, 80.0)]), 10, RoadKind.MAIN)
    return layout


def test_town_fills_its_developed_area() -> None:
    layout = town_layout()
    lay_out_town(layout, np.random.default_rng(1), 0)
    area = layout.developed[0]
    streets = [
        road
        for road, kind in zip(layout.roads, layout.road_kind, strict=True)
        if kind == RoadKind.STREET
    ]
    assert len(streets) >= 4
    assert all(area.buffer(1e-6).contains(street) for street in streets)
    kinds = set(layout.building_kind.tolist())
    assert kinds == {BuildingKind.HOUSE, BuildingKind.COMMERCIAL}
    commercial = layout.buildings.subset(
        layout.building_kind == BuildingKind.COMMERCIAL
    )
    centres = shapely.points(commercial.centres)
    assert shapely.contains(layout.cores[0].buffer(60), centres).all()
    assert len(layout.driveways) > 0
    assert len(layout.parking) > 0
    assert len(layout.trees) > 0
    assert len(layout.construction) <= 1


def test_empty_town_adds_nothing() -> None:
    layout = SceneLayout(height=100, width=100, sun=(0.0, 1.0))
    layout.developed.append(shapely.Polygon())
    layout.cores.append(shapely.Polygon())
    lay_out_town(layout, np.random.default_rng(0), 0)
    assert not layout.roads
    assert len(layout.buildings) == 0


def test_farmsteads_line_rural_roads() -> None:
    layout = town_layout()
    rng = np.random.default_rng(2)
    for _ in range(5):
        lay_out_farmsteads(layout, rng, 0.0, 600)
    farms = layout.buildings.subset(layout.building_kind == BuildingKind.FARM)
    assert len(farms) > 0
    assert len(farms) % 2 == 0  # a house and a barn each
    # Each house is set back 20 to 45 m from the main road (the only rural road).
    houses = shapely.points(farms.centres[::2])
    setback = shapely.distance(layout.roads[0], houses) - layout.road_width[0] / 2
    assert ((setback > 19.0) & (setback < 46.0)).all()
    assert len(layout.barren_patches) == len(farms) // 2  # one gravel track each

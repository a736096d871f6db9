"""Tests of burning a layout's surfaces (class codes, order of heights)."""

import numpy as np
import shapely

from torchgeo_lsr.datasets._scene_fields import NoiseFields
from torchgeo_lsr.datasets._scene_layout import (
    BuildingKind,
    FieldUse,
    RoadKind,
    SceneLayout,
)
from torchgeo_lsr.datasets._scene_shapes import Rectangles
from torchgeo_lsr.datasets._scene_surfaces import (
    BARREN,
    GRASS,
    IMPERVIOUS,
    TREES,
    WATER,
    SurfaceTable,
    burn_surfaces,
)


def small_layout() -> SceneLayout:
    """Two fields, a forest zone, a lake, a road and a building on the road."""
    layout = SceneLayout(height=128, width=128, sun=(0.6, 0.8))
    layout.fields += [shapely.box(0, 0, 64, 128), shapely.box(64, 0, 128, 128)]
    layout.field_use += [FieldUse.PASTURE, FieldUse.BARE]
    layout.zones.append(shapely.box(0, 0, 128, 128))
    layout.zone_type.append(0)
    layout.waterbodies.append(shapely.Point(30, 30).buffer(10))
    layout.add_road(np.array([(0.0, 100.0), (128.0, 100.0)]), 8, RoadKind.STREET)
    houses = Rectangles()
    houses.extend(np.array([[100.0, 100.0]]), np.array([1.0, 0.0]), 12, 12)
    layout.add_buildings(np.random.default_rng(0), houses, BuildingKind.HOUSE)
    return layout


def burn(layout: SceneLayout) -> tuple[SurfaceTable, np.ndarray, np.ndarray]:
    table = SurfaceTable()
    noise = NoiseFields(np.random.default_rng(1), (layout.height, layout.width))
    surface, zone = burn_surfaces(layout, table, noise, np.random.default_rng(2))
    return table, surface, zone


def test_surfaces_carry_the_classes_lowest_first() -> None:
    layout = small_layout()
    table, surface, zone = burn(layout)
    assert surface.shape == zone.shape == (128, 128)
    assert surface.min() >= 1  # surface 0 is never used
    codes = table.array('code', np.uint8)[surface]
    assert set(np.unique(codes)) <= {WATER, IMPERVIOUS, BARREN, TREES, GRASS}
    assert codes[30, 30] == WATER  # the lake
    assert codes[100, 10] == IMPERVIOUS  # the road, over the field
    assert codes[100, 100] == IMPERVIOUS  # the roof, over the road
    # Away from the forest, the bare field is barren and the pasture grass.
    fields = codes[60:90, :]
    assert (fields[:, 64:] != GRASS).all()
    assert (fields[:, :64] != BARREN).all()
    assert (zone == 1).all()


def test_same_streams_same_surfaces() -> None:
    first = burn(small_layout())
    second = burn(small_layout())
    np.testing.assert_array_equal(first[1], second[1])
    for name in ('code', 'colour', 'cast'):
        np.testing.assert_array_equal(first[0].array(name), second[0].array(name))

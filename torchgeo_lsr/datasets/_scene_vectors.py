"""Vector layers of a synthetic scene, misaligned the way real vector data is.

Buildings, road centre lines, stream centre lines and water bodies are written as
GeoPackages in map coordinates. Each layer is shifted as a whole by 1-3 m in a random
direction, every feature is jittered by a few decimetres more, and a few buildings
are missing, so the layers match the 1 m labels closely but not exactly.
"""

import math
from pathlib import Path
from typing import Any

import geopandas
import numpy as np
import shapely
from affine import Affine

from ..io import atomic_path
from ._scene_fields import scene_rng
from ._scene_layout import ROAD_KIND_NAMES, SceneLayout

__all__ = ('VECTOR_LAYERS', 'write_vectors')

#: Layer names (also the file stems).
VECTOR_LAYERS = ('buildings', 'roads', 'waterways', 'waterbodies')

#: Share of buildings left out of the footprints file.
MISSING_BUILDINGS = 0.04

#: Building tags by kind (house, commercial, farm), as OpenStreetMap tags them.
BUILDING_TAGS = ('house', 'commercial', 'farm')

#: Highway tags by road kind (main, street, lane).
HIGHWAY_TAGS = ('primary', 'residential', 'tertiary')


def write_vectors(
    layout: SceneLayout, root: Path, seed: int, transform: Affine, crs: str
) -> dict[str, dict[str, Any]]:
    """Write the four vector layers of a scene.

    Args:
        layout: the scene layout (scene pixel coordinates).
        root: output folder.
        seed: scene seed.
        transform: scene pixel coordinates to map coordinates.
        crs: the map's CRS.

    Returns:
        Per layer: its file (relative to ``root``), feature count and the global shift
        (east, north) in metres.
    """
    scene = shapely.box(0, 0, layout.width, layout.height)
    layers: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    rng = scene_rng(seed, 'vectors')
    footprints = layout.buildings.polygons()
    kept = rng.random(len(footprints)) >= MISSING_BUILDINGS
    layers['buildings'] = (
        footprints[kept],
        {'building': [BUILDING_TAGS[k] for k in layout.building_kind[kept]]},
    )
    roads, which = _clip(np.asarray(layout.roads, dtype=object), scene)
    kinds = np.asarray(layout.road_kind, dtype=np.int64)[which]
    layers['roads'] = (
        roads,
        {
            'width': np.round(np.asarray(layout.road_width)[which], 1),
            'kind': [ROAD_KIND_NAMES[k] for k in kinds],
            'highway': [HIGHWAY_TAGS[k] for k in kinds],
        },
    )
    streams, which = _clip(np.asarray(layout.streams, dtype=object), scene)
    layers['waterways'] = (
        streams,
        {
            'width': np.round(np.asarray(layout.stream_width)[which], 1),
            'waterway': ['stream'] * len(streams),
        },
    )
    bodies, _ = _clip(np.asarray(layout.waterbodies, dtype=object), scene)
    layers['waterbodies'] = (
        bodies,
        {
            'natural': ['water'] * len(bodies),
            'water': ['lake' if g.area > 5000 else 'pond' for g in bodies],
        },
    )
    written: dict[str, dict[str, Any]] = {}
    for name in VECTOR_LAYERS:
        geometries, attributes = layers[name]
        layer_rng = scene_rng(seed, f'misalign-{name}')
        angle = layer_rng.uniform(0, 2 * math.pi)
        distance = layer_rng.uniform(1.0, 3.0)
        shift = (distance * math.cos(angle), distance * math.sin(angle))
        jitter = np.clip(layer_rng.normal(0, 0.4, (len(geometries), 2)), -1.0, 1.0)
        moved = _to_map(geometries, transform, np.asarray(shift) + jitter)
        frame = geopandas.GeoDataFrame(attributes, geometry=list(moved), crs=crs)
        path = root / f'{name}.gpkg'
        with atomic_path(path) as temporary:
            frame.to_file(temporary, layer=name, driver='GPKG')
        written[name] = {
            'path': path.name,
            'features': len(frame),
            'shift': [round(shift[0], 3), round(shift[1], 3)],
        }
    return written


def _clip(
    geometries: np.ndarray, box: shapely.Polygon
) -> tuple[np.ndarray, np.ndarray]:
    """Clip geometries to the scene and split multi-part results.

    Args:
        geometries: object array of geometries.
        box: the scene.

    Returns:
        The non-empty parts and the index of the geometry each came from.
    """
    if not len(geometries):
        return np.empty(0, dtype=object), np.zeros(0, dtype=np.int64)
    parts, index = shapely.get_parts(
        shapely.intersection(geometries, box), return_index=True
    )
    keep = ~shapely.is_empty(parts) & (shapely.length(parts) > 1.0)
    return parts[keep], index[keep]


def _to_map(
    geometries: np.ndarray, transform: Affine, offsets: np.ndarray
) -> np.ndarray:
    """Scene pixel coordinates to map coordinates, plus a shift per geometry.

    Args:
        geometries: object array of geometries.
        transform: pixel to map transform.
        offsets: (n, 2) east and north shifts in metres.

    Returns:
        The moved geometries.
    """
    if not len(geometries):
        return geometries
    coords, index = shapely.get_coordinates(geometries, return_index=True)
    x = transform.a * coords[:, 0] + transform.b * coords[:, 1] + transform.c
    y = transform.d * coords[:, 0] + transform.e * coords[:, 1] + transform.f
    moved = np.column_stack([x, y]) + offsets[index]
    result: np.ndarray = shapely.set_coordinates(geometries.copy(), moved)
    return result

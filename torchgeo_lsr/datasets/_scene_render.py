"""Rendering of a scene layout: 1 m labels and NAIP-like four-band imagery.

The surfaces are burnt first (:mod:`~torchgeo_lsr.datasets._scene_surfaces`); the
labels are their class codes. The imagery is painted from their looks, then lit:
shadows cast away from the sun, smooth illumination and haze gradients per tile, a
slight blur and sensor noise.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._scene_fields import NoiseFields, run_blocks, scene_rng
from ._scene_layout import SceneLayout
from ._scene_surfaces import CANOPY, STRIPES, SurfaceTable, burn_surfaces

__all__ = ('RenderedScene', 'render_scene')

#: Darkening of shadowed pixels per band (blue keeps the most skylight).
SHADOW = np.array([0.42, 0.47, 0.58, 0.44], dtype=np.float32)

#: Standard deviation of the sensor noise (digital numbers).
SENSOR_NOISE = 3.5


@dataclass(frozen=True)
class RenderedScene:
    """Rasters of a whole scene (all tiles side by side).

    Attributes:
        labels: (H, W) uint8 EnviroAtlas codes.
        forest_type: (H, W) uint8 forest type of each pixel's zone (0 deciduous,
            1 evergreen, 2 mixed), for the NLCD forest codes.
        grass_type: (H, W) uint8 grass type of each pixel's surface (0 grassland,
            1 pasture/hay, 2 crops), for the NLCD grass codes.
        imagery: (4, H, W) uint8 red, green, blue, near-infrared.
    """

    labels: np.ndarray
    forest_type: np.ndarray
    grass_type: np.ndarray
    imagery: np.ndarray


def render_scene(layout: SceneLayout, seed: int, size: int) -> RenderedScene:
    """Rasterise a layout into labels and imagery.

    Args:
        layout: the scene layout.
        seed: scene seed.
        size: tile side (each tile is lit on its own).

    Returns:
        The rasters.
    """
    shape = (layout.height, layout.width)
    table = SurfaceTable()
    noise = NoiseFields(scene_rng(seed, 'noise'), shape)
    surface, zone = burn_surfaces(layout, table, noise, scene_rng(seed, 'surfaces'))
    zone_types = np.asarray([0, *layout.zone_type], dtype=np.uint8)
    imagery = _paint(layout, table, surface, noise, scene_rng(seed, 'light'), size)
    return RenderedScene(
        labels=table.array('code', np.uint8)[surface],
        forest_type=zone_types[zone],
        grass_type=table.array('grass_type', np.uint8)[surface],
        imagery=imagery,
    )


def _paint(
    layout: SceneLayout,
    table: SurfaceTable,
    surface: np.ndarray,
    noise: NoiseFields,
    rng: np.random.Generator,
    size: int,
) -> np.ndarray:
    """Paint the imagery: textures, shadows, illumination, blur and sensor noise.

    Args:
        layout: the scene layout.
        table: surface table.
        surface: (H, W) surface of each pixel.
        noise: shared noise fields.
        rng: random stream.
        size: tile side.

    Returns:
        (4, H, W) uint8 imagery.
    """
    height, width = surface.shape
    shadow = _shadows(table, surface, layout.sun)
    texture_of = table.array('texture', np.uint8)
    amplitude_of = table.array('amplitude')
    variation_of = table.array('variation')
    cos_of = np.cos(table.array('angle')) * 2 * np.pi / table.array('period')
    sin_of = np.sin(table.array('angle')) * 2 * np.pi / table.array('period')
    colour_of = [np.ascontiguousarray(c) for c in table.array('colour').T]
    delta_of = [
        np.ascontiguousarray(c)
        for c in (table.array('colour2') - table.array('colour')).T
    ]
    tiles = width // size
    ramps = [
        (rng.uniform(0, 2 * math.pi), rng.uniform(0.12, 0.3)) for _ in range(tiles)
    ]
    band_gain = rng.uniform(0.93, 1.07, (tiles, 4)).astype(np.float32)
    haze = rng.uniform(0.5, 1.5, (tiles, 1)) * np.array([6.0, 8.0, 12.0, 3.0])
    haze = haze.astype(np.float32)
    column = (np.arange(width, dtype=np.float32) % size + 0.5) / size - 0.5
    row = (np.arange(height, dtype=np.float32) + 0.5) / size - 0.5
    tile_of_column = np.arange(width) // size
    sensor_seed = int(rng.integers(2**31))
    imagery = np.empty((4, height, width), dtype=np.float32)

    def paint(rows: slice) -> None:
        ids = surface[rows]
        texture = np.take(texture_of, ids)
        mix = np.clip(0.5 + 0.4 * noise.medium[rows], 0.0, 1.0)
        canopy = texture == CANOPY
        mix = np.where(canopy, np.clip(0.3 - 0.45 * noise.crown[rows], 0.0, 1.0), mix)
        striped = np.nonzero(texture == STRIPES)
        on = ids[striped]
        phase = (striped[1] + 0.5) * np.take(cos_of, on)
        phase += (striped[0] + rows.start + 0.5) * np.take(sin_of, on)
        mix[striped] = 0.5 + 0.5 * np.sin(phase)
        mix *= np.take(amplitude_of, ids)
        light = noise.light[rows]
        gain = 1.0 + 0.04 * light
        for tile, (direction, strength) in enumerate(ramps):
            cols = slice(tile * size, (tile + 1) * size)
            gain[:, cols] += strength * (
                column[None, cols] * math.cos(direction)
                + row[rows, None] * math.sin(direction)
            )
        gain *= 1.0 + np.take(variation_of, ids) * noise.low[rows]
        darkness = shadow[rows]
        haze_scale = 1.0 + 0.3 * light
        for band in range(4):
            value = imagery[band, rows]
            np.take(colour_of[band], ids, out=value)
            value += np.take(delta_of[band], ids) * mix
            value *= gain * band_gain[tile_of_column, band]
            value *= np.where(darkness, SHADOW[band], np.float32(1.0))
            value += haze[tile_of_column, band] * haze_scale

    result = np.empty((4, height, width), dtype=np.uint8)

    def finish(rows: slice) -> None:
        sensor = scene_rng(sensor_seed, 'sensor', rows.start).standard_normal(
            (rows.stop - rows.start, width), dtype=np.float32
        )
        for band in range(4):
            value = _blur_rows(imagery[band], rows)
            # Independent noise per band from one draw, shifted differently.
            value += SENSOR_NOISE * np.roll(sensor, band * 1031, axis=1)
            np.clip(value + 0.5, 0, 255, out=value)
            result[band, rows] = value

    run_blocks(paint, height)
    run_blocks(finish, height)
    return result


def _blur_rows(image: np.ndarray, rows: slice) -> np.ndarray:
    """Rows of a band blurred by the sensor's point spread (0.15, 0.7, 0.15).

    Args:
        image: (H, W) float32 band.
        rows: rows to return.

    Returns:
        The blurred rows (edges repeat the outermost pixels).
    """
    height = image.shape[0]
    above = image[max(rows.start - 1, 0)][None]
    below = image[min(rows.stop, height - 1)][None]
    padded = np.concatenate([above, image[rows], below])
    vertical = 0.7 * padded[1:-1]
    vertical += 0.15 * (padded[:-2] + padded[2:])
    result = 0.7 * vertical
    result[:, 1:] += 0.15 * vertical[:, :-1]
    result[:, :-1] += 0.15 * vertical[:, 1:]
    result[:, 0] += 0.15 * vertical[:, 0]
    result[:, -1] += 0.15 * vertical[:, -1]
    return result


def _shadows(
    table: SurfaceTable, surface: np.ndarray, sun: tuple[float, float]
) -> np.ndarray:
    """Pixels in the shadow of trees and buildings.

    A pixel is shadowed if an object ``t`` metres towards the sun casts a shadow
    longer than ``t`` plus the pixel's own shadow length (so a roof is not shadowed
    by itself).

    Args:
        table: surface table (shadow lengths).
        surface: (H, W) surface of each pixel.
        sun: unit vector of the shadow direction.

    Returns:
        Boolean mask.
    """
    cast_of = np.clip(np.round(table.array('cast')), 0, 60).astype(np.uint8)
    cast = np.take(cast_of, surface)
    height, width = cast.shape
    shadow = np.zeros(cast.shape, dtype=bool)
    for step in range(1, int(cast_of.max(initial=0)) + 1):
        dx, dy = round(step * sun[0]), round(step * sun[1])
        if abs(dx) >= width or abs(dy) >= height:
            break
        # A pixel at (y, x) is shaded by the object at (y - dy, x - dx).
        here = (
            slice(max(dy, 0), height + min(dy, 0)),
            slice(max(dx, 0), width + min(dx, 0)),
        )
        there = (
            slice(max(-dy, 0), height - max(dy, 0)),
            slice(max(-dx, 0), width - max(dx, 0)),
        )
        shadow[here] |= cast[there] > cast[here] + step
    return shadow

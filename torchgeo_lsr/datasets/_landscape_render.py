"""Imagery of a generated landscape: reflectance per band from the class map.

Each pixel starts from its material's spectrum (:mod:`._landscape_classes`), then
gets what separates real imagery from a colour-coded map: per-object brightness
variation, fine texture, seasonal senescence of vegetation (a smooth field across
the scene moves green vegetation towards a dry brown), shadows of tall objects at
high resolution, an illumination gradient and haze, the sensor's point-spread
(mixed pixels at class edges) and noise.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ._landscape_classes import MATERIALS, SENESCENT, band_indices
from ._landscape_layout import smooth_field

__all__ = ('Nuisances', 'render_reflectance')

#: Relative weight of haze per band of :data:`~._landscape_classes.ALL_BANDS`
#: (scattering falls with wavelength).
HAZE_WEIGHT = np.array([1.0, 0.9, 0.6, 0.45, 0.35, 0.25, 0.08, 0.04])

#: Shadow length per metre of height (sun about 40 degrees above the horizon).
SHADOW_PER_METRE = 1.2

#: Brightness of shadowed ground relative to lit ground.
SHADOW_GAIN = 0.45

#: Finest resolution (metres) at which shadows are drawn.
SHADOW_MAX_RES = 2.0


@dataclass(frozen=True)
class Nuisances:
    """How far the imagery departs from the materials' spectra.

    Attributes:
        season: largest share of senescence of vegetation (0: all green).
        shadows: draw shadows of tall objects (at 2 m and finer).
        haze: largest haze reflectance added in the blue band.
        noise: sensor noise (reflectance deviation).
    """

    season: float = 0.3
    shadows: bool = True
    haze: float = 0.03
    noise: float = 0.006


def _shadows(heights: np.ndarray, res: float, angle: float) -> np.ndarray:
    """Pixels in the shadow of a taller neighbour towards the sun.

    Args:
        heights: (H, W) object heights in metres.
        res: resolution in metres.
        angle: direction the shadows fall, in radians.

    Returns:
        (H, W) boolean mask.
    """
    shadow = np.zeros(heights.shape, bool)
    longest = float(heights.max()) * SHADOW_PER_METRE / res
    pad = int(np.ceil(longest)) + 1
    padded = np.pad(heights, pad, mode='edge')
    height, width = heights.shape
    for step in range(1, int(np.ceil(longest)) + 1):
        dy = round(step * np.sin(angle))
        dx = round(step * np.cos(angle))
        caster = padded[pad - dy : pad - dy + height, pad - dx : pad - dx + width]
        shadow |= caster - step * res / SHADOW_PER_METRE > heights
    return shadow


def render_reflectance(
    rng: np.random.Generator,
    classes: np.ndarray,
    names: tuple[str, ...],
    bands: int,
    res: float,
    nuisances: Nuisances,
) -> np.ndarray:
    """Reflectance imagery of a class map.

    Args:
        rng: random stream.
        classes: (H, W) class indices into ``names``.
        names: material names of the classes.
        bands: number of bands (see :data:`~._landscape_classes.BAND_SETS`).
        res: resolution in metres.
        nuisances: the departures from the spectra.

    Returns:
        (bands, H, W) float32 reflectance in [0, 1].
    """
    shape = classes.shape
    materials = [MATERIALS[name] for name in names]
    spectra = np.array([m.spectrum for m in materials], np.float32)
    # Senescence: a smooth field over the scene, stronger in some parts.
    season = nuisances.season / (
        1 + np.exp(-2 * smooth_field(rng, shape, shape[0] / 3))
    )
    is_vegetation = np.array([m.vegetation for m in materials])[classes]
    blend = np.where(is_vegetation, season, 0.0)[None]
    image = (
        spectra[classes].transpose(2, 0, 1) * (1 - blend)
        + SENESCENT[:, None, None] * blend
    )
    # Per-object brightness (object-sized fields) and texture (a few metres).
    object_px = max(30.0 / res, 0.7)
    texture_px = max(2.0 / res, 0.5)
    texture_gain = min(1.0, float(np.sqrt(4.0 / res)))
    variation = np.array([m.variation for m in materials], np.float32)[classes]
    texture = np.array([m.texture for m in materials], np.float32)[classes]
    brightness = 1 + 0.5 * variation * smooth_field(rng, shape, object_px)
    brightness += texture * texture_gain * smooth_field(rng, shape, texture_px)
    image *= np.clip(brightness, 0.2, None)[None]
    if nuisances.shadows and res <= SHADOW_MAX_RES:
        heights = np.array([m.height for m in materials], np.float32)[classes]
        if heights.max() > 0:
            shadow = _shadows(heights, res, rng.uniform(0, 2 * np.pi))
            image[:, shadow] *= SHADOW_GAIN
    # Illumination gradient and haze.
    ramp = np.linspace(-1, 1, shape[1])[None, :] * rng.uniform(-0.08, 0.08)
    image *= (1 + ramp)[None]
    haze = nuisances.haze * (1 + smooth_field(rng, shape, shape[0] / 2)) / 2
    image += haze[None] * HAZE_WEIGHT[:, None, None]
    # The sensor: point-spread function, then noise.
    image = gaussian_filter(image, sigma=(0, 0.5, 0.5))
    image += rng.normal(0, nuisances.noise, image.shape)
    return np.asarray(np.clip(image[band_indices(bands)], 0, 1), np.float32)

"""Materials, band sets and landscape styles of the landscape generator.

A *material* is a land-cover class with a reflectance spectrum (at the centres of
the bands a sensor may have), a texture strength, a per-object colour variation and
whether it casts shadows. A *style* is a mix of materials with their target shares
and the size of their patches in metres; the generator takes the first
``num_classes`` materials of a style, in the style's order.

Spectra are rough values of real surfaces (water absorbs near-infrared, vegetation
reflects it, soil and concrete rise towards the short-wave infrared); they need to
be plausible, not exact: the point is imagery that is neither trivially separable
nor unrelated to the classes.
"""

from dataclasses import dataclass

import numpy as np

__all__ = (
    'BAND_SETS',
    'MATERIALS',
    'NATURAL_NLCD',
    'SENESCENT',
    'STYLES',
    'Material',
    'Style',
    'band_indices',
)

#: Band names, in wavelength order (µm: 0.44 to 2.2).
ALL_BANDS = ('coastal', 'blue', 'green', 'red', 'rededge', 'nir', 'swir1', 'swir2')

#: Bands (in file order) of a sensor with that many bands.
BAND_SETS: dict[int, tuple[str, ...]] = {
    3: ('red', 'green', 'blue'),
    4: ('red', 'green', 'blue', 'nir'),
    5: ('blue', 'green', 'red', 'rededge', 'nir'),
    6: ('blue', 'green', 'red', 'nir', 'swir1', 'swir2'),
    7: ('coastal', 'blue', 'green', 'red', 'nir', 'swir1', 'swir2'),
    8: ALL_BANDS,
}


@dataclass(frozen=True)
class Material:
    """A land-cover class of the generator.

    Attributes:
        name: class name.
        spectrum: reflectance at each of :data:`ALL_BANDS`.
        texture: strength of the fine texture (relative reflectance deviation).
        variation: per-object colour variation (relative).
        height: metres above ground (casts a shadow when > 0).
        vegetation: whether seasonal senescence changes its colour.
    """

    name: str
    spectrum: tuple[float, ...]
    texture: float
    variation: float
    height: float = 0.0
    vegetation: bool = False


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material(
            'water', (0.07, 0.06, 0.05, 0.03, 0.02, 0.012, 0.006, 0.004), 0.03, 0.35
        ),
        Material(
            'impervious', (0.10, 0.11, 0.12, 0.14, 0.15, 0.17, 0.21, 0.19), 0.10, 0.2
        ),
        Material(
            'building',
            (0.14, 0.15, 0.17, 0.19, 0.20, 0.22, 0.26, 0.24),
            0.06,
            0.35,
            height=6.0,
        ),
        Material('barren', (0.11, 0.13, 0.18, 0.24, 0.27, 0.30, 0.37, 0.34), 0.12, 0.2),
        Material(
            'trees',
            (0.03, 0.03, 0.06, 0.035, 0.11, 0.33, 0.16, 0.08),
            0.25,
            0.15,
            height=12.0,
            vegetation=True,
        ),
        Material(
            'shrub',
            (0.05, 0.05, 0.08, 0.08, 0.14, 0.25, 0.26, 0.16),
            0.2,
            0.15,
            height=1.5,
            vegetation=True,
        ),
        Material(
            'grass',
            (0.04, 0.04, 0.09, 0.06, 0.15, 0.38, 0.24, 0.12),
            0.08,
            0.15,
            vegetation=True,
        ),
        Material(
            'crops',
            (0.04, 0.04, 0.10, 0.05, 0.19, 0.46, 0.23, 0.11),
            0.05,
            0.3,
            vegetation=True,
        ),
        Material(
            'wetland',
            (0.04, 0.04, 0.07, 0.05, 0.09, 0.19, 0.10, 0.05),
            0.15,
            0.2,
            vegetation=True,
        ),
    )
}

#: Spectrum vegetation shifts towards with seasonal senescence (dry, brown).
SENESCENT = np.array([0.06, 0.07, 0.10, 0.13, 0.17, 0.24, 0.30, 0.22])

#: NLCD code of each natural material (the ``'rules'`` coarse labels).
NATURAL_NLCD = {
    'water': 11,
    'barren': 31,
    'trees': 41,
    'shrub': 52,
    'grass': 71,
    'crops': 82,
    'wetland': 90,
}


@dataclass(frozen=True)
class Style:
    """A mix of materials.

    Attributes:
        name: style name.
        classes: material names, most important first.
        shares: target share of each class (renormalised over the classes kept).
        patch_m: typical patch size of each class in metres.
    """

    name: str
    classes: tuple[str, ...]
    shares: tuple[float, ...]
    patch_m: tuple[float, ...]


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            'rural',
            (
                'grass',
                'trees',
                'water',
                'impervious',
                'crops',
                'barren',
                'building',
                'wetland',
            ),
            (0.32, 0.30, 0.07, 0.05, 0.18, 0.03, 0.02, 0.03),
            (120, 180, 250, 0, 200, 60, 0, 90),
        ),
        Style(
            'urban',
            (
                'impervious',
                'trees',
                'grass',
                'building',
                'water',
                'barren',
                'shrub',
                'crops',
            ),
            (0.30, 0.22, 0.18, 0.18, 0.05, 0.04, 0.02, 0.01),
            (80, 70, 60, 0, 200, 40, 40, 150),
        ),
        Style(
            'arid',
            (
                'barren',
                'shrub',
                'impervious',
                'crops',
                'grass',
                'building',
                'water',
                'trees',
            ),
            (0.42, 0.25, 0.08, 0.10, 0.08, 0.04, 0.02, 0.01),
            (200, 60, 0, 250, 90, 0, 150, 40),
        ),
        Style(
            'wetland',
            (
                'water',
                'wetland',
                'trees',
                'grass',
                'shrub',
                'barren',
                'impervious',
                'building',
            ),
            (0.28, 0.26, 0.20, 0.14, 0.06, 0.03, 0.02, 0.01),
            (250, 120, 150, 90, 50, 40, 0, 0),
        ),
    )
}


def band_indices(bands: int) -> list[int]:
    """Indices into :data:`ALL_BANDS` of a sensor's bands, in file order.

    Args:
        bands: number of bands (3 to 8).

    Returns:
        The indices.

    Raises:
        ValueError: For another number of bands.
    """
    if bands not in BAND_SETS:
        raise ValueError(f'bands must be one of {sorted(BAND_SETS)}, got {bands}')
    return [ALL_BANDS.index(name) for name in BAND_SETS[bands]]

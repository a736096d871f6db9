"""Coarse labels of a generated landscape, of three kinds users bring.

* ``'rules'``: NLCD-style cover rules from each cell's fractions: developed classes
  21 to 24 by the share of paved and built pixels (>= 5, 20, 50, 80 %), open water
  11 when water covers half the cell, else the NLCD code of the largest natural
  class;
* ``'mode'``: the most common fine class of the cell, in the fine codes (as a
  Landsat map coarsened to a 240 m grid);
* ``'scheme'``: another, coarser scheme: water, developed (paved and built), woody
  (trees and shrub), herbaceous (grass and crops), barren and wetland; the cell's
  largest group.

Then label noise gives a share of the cells a neighbour's class, as real coarse
maps are wrong at boundaries.
"""

from typing import Literal

import numpy as np

from ._landscape_classes import NATURAL_NLCD
from ._scene_nlcd import add_label_noise

__all__ = ('COARSE_KINDS', 'CoarseKind', 'coarse_labels')

CoarseKind = Literal['rules', 'mode', 'scheme']

#: The coarse label kinds.
COARSE_KINDS: tuple[CoarseKind, ...] = ('rules', 'mode', 'scheme')

#: NLCD's developed classes and their lower bounds on the developed share.
DEVELOPED = (
    (24, 0.8, 'Developed, high'),
    (23, 0.5, 'Developed, medium'),
    (22, 0.2, 'Developed, low'),
    (21, 0.05, 'Developed, open'),
)

#: NLCD names of the natural codes.
NLCD_NAMES = {
    11: 'Open water',
    31: 'Barren',
    41: 'Forest',
    52: 'Shrub',
    71: 'Grassland',
    82: 'Cropland',
    90: 'Wetland',
}

#: Groups of the ``'scheme'`` kind: code, name, materials.
GROUPS = (
    (1, 'Water', ('water',)),
    (2, 'Developed', ('impervious', 'building')),
    (3, 'Woody', ('trees', 'shrub')),
    (4, 'Herbaceous', ('grass', 'crops')),
    (5, 'Barren', ('barren',)),
    (6, 'Wetland', ('wetland',)),
)


def cell_fractions(classes: np.ndarray, num_classes: int, factor: int) -> np.ndarray:
    """Share of each class in each coarse cell (cells past the edge: pixels inside).

    Args:
        classes: (H, W) class indices.
        num_classes: number of classes.
        factor: coarse cell side in pixels.

    Returns:
        (rows, cols, C) fractions.
    """
    height, width = classes.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((rows * factor, cols * factor), num_classes, np.int64)
    padded[:height, :width] = classes
    blocks = padded.reshape(rows, factor, cols, factor).transpose(0, 2, 1, 3)
    cells = blocks.reshape(rows, cols, -1)
    counts = np.stack([(cells == c).sum(-1) for c in range(num_classes)], -1)
    return np.asarray(counts / np.maximum(counts.sum(-1, keepdims=True), 1))


def _rules(
    fractions: np.ndarray, names: tuple[str, ...]
) -> tuple[np.ndarray, dict[int, str]]:
    """NLCD-style codes of the cells.

    Args:
        fractions: (rows, cols, C) class shares.
        names: material names of the classes.

    Returns:
        Codes and the names of the codes used.
    """
    developed = sum(
        (
            fractions[..., names.index(n)]
            for n in ('impervious', 'building')
            if n in names
        ),
        np.zeros(fractions.shape[:2]),
    )
    natural = [i for i, n in enumerate(names) if n in NATURAL_NLCD]
    natural_codes = np.array([NATURAL_NLCD[names[i]] for i in natural])
    codes = natural_codes[np.argmax(fractions[..., natural], -1)]
    if 'water' in names:
        codes = np.where(fractions[..., names.index('water')] >= 0.5, 11, codes)
    for code, bound, _ in reversed(DEVELOPED):
        codes = np.where(developed >= bound, code, codes)
    used = {code: NLCD_NAMES.get(code, '') for code in natural_codes.tolist()}
    used.update({code: name for code, _, name in DEVELOPED})
    if 'water' in names:
        used[11] = NLCD_NAMES[11]
    return codes, used


def _groups(
    fractions: np.ndarray, names: tuple[str, ...]
) -> tuple[np.ndarray, dict[int, str]]:
    """Codes of the coarser scheme's groups.

    Args:
        fractions: (rows, cols, C) class shares.
        names: material names of the classes.

    Returns:
        Codes and the names of the codes used.
    """
    kept = [
        (code, name, members)
        for code, name, members in GROUPS
        if set(members) & set(names)
    ]
    shares = np.stack(
        [
            sum(fractions[..., names.index(m)] for m in members if m in names)
            for _, _, members in kept
        ],
        -1,
    )
    codes = np.array([code for code, _, _ in kept])[np.argmax(shares, -1)]
    return codes, {code: name for code, name, _ in kept}


def coarse_labels(
    classes: np.ndarray,
    names: tuple[str, ...],
    factor: int,
    kind: CoarseKind,
    noise: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[int, str]]:
    """Coarse labels of a fine class map.

    Args:
        classes: (H, W) class indices into ``names``.
        names: material names of the fine classes.
        factor: coarse cell side in fine pixels.
        kind: ``'rules'``, ``'mode'`` or ``'scheme'``.
        noise: share of cells given a neighbour's class.
        rng: random stream.

    Returns:
        (rows, cols) uint8 coarse codes and ``{code: name}`` of every code the
        kind can produce (the coarse scheme).

    Raises:
        ValueError: For an unknown kind.
    """
    fractions = cell_fractions(classes, len(names), factor)
    if kind == 'rules':
        codes, used = _rules(fractions, names)
    elif kind == 'mode':
        codes = np.argmax(fractions, -1) + 1
        used = {i + 1: name for i, name in enumerate(names)}
    elif kind == 'scheme':
        codes, used = _groups(fractions, names)
    else:
        raise ValueError(f'unknown coarse kind {kind!r}: choose one of {COARSE_KINDS}')
    codes, _ = add_label_noise(codes.astype(np.uint8), noise, rng)
    return codes, dict(sorted(used.items()))

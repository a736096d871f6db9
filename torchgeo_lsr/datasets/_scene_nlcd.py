"""NLCD-like 30 m labels derived from 1 m labels, the way NLCD classes are defined.

Each 30 m cell covers exactly 30 x 30 label pixels (cells past the tile's edge use the
pixels inside only). From the cell's cover fractions, in order of precedence:

1. water >= 0.5: 11 (open water);
2. impervious >= 0.8: 24; >= 0.5: 23; >= 0.2: 22; >= 0.05: 21 (developed);
3. otherwise the largest of trees, barren and grass (ties in that order) decides:
   trees give 41, 42 or 43 by the forest type of most of the cell's tree pixels,
   barren gives 31, grass gives 71, 81 or 82 by the grass type of most of its
   grass pixels.

Label noise then gives a small share of the cells the class of a neighbour, as NLCD
is not perfect either.
"""

import numpy as np

__all__ = ('NLCD_CELL', 'add_label_noise', 'cover_counts', 'nlcd_from_labels')

#: Side of a coarse cell in label pixels.
NLCD_CELL = 30

#: Fine classes, in the order of the cover fractions.
FINE_CODES = (10, 20, 30, 40, 70)

FOREST_CODES = np.array([41, 42, 43], dtype=np.uint8)
GRASS_CODES = np.array([71, 81, 82], dtype=np.uint8)

#: The eight neighbours of a cell, as (row, column) offsets.
NEIGHBOURS = np.array(
    [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
)


def _cell_index(shape: tuple[int, int], cell: int) -> tuple[np.ndarray, int, int]:
    """Coarse cell of every pixel.

    Args:
        shape: label raster shape.
        cell: cell side in pixels.

    Returns:
        (H, W) int64 flat cell indices, and the number of cell rows and columns.
    """
    rows, cols = -(-shape[0] // cell), -(-shape[1] // cell)
    row_of = np.arange(shape[0], dtype=np.int64) // cell
    col_of = np.arange(shape[1], dtype=np.int64) // cell
    return row_of[:, None] * cols + col_of[None, :], rows, cols


def cover_counts(
    categories: np.ndarray,
    count: int,
    cell: int = NLCD_CELL,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Pixels of each category in each coarse cell.

    Args:
        categories: (H, W) integer categories in ``[0, count)``.
        count: number of categories.
        cell: cell side in pixels.
        mask: optional pixels to count.

    Returns:
        (ceil(H / cell), ceil(W / cell), count) int64 counts.
    """
    cells, rows, cols = _cell_index(categories.shape, cell)
    joint = cells * count + categories
    if mask is not None:
        joint = joint[mask]
    counts = np.bincount(joint.ravel(), minlength=rows * cols * count)
    return counts.reshape(rows, cols, count)


def nlcd_from_labels(
    labels: np.ndarray, forest_type: np.ndarray, grass_type: np.ndarray
) -> np.ndarray:
    """Noise-free NLCD codes of the 30 m cells over a 1 m label raster.

    Args:
        labels: (H, W) EnviroAtlas codes (10, 20, 30, 40, 70 only).
        forest_type: (H, W) forest type per pixel (0, 1, 2 for 41, 42, 43).
        grass_type: (H, W) grass type per pixel (0, 1, 2 for 71, 81, 82).

    Returns:
        (ceil(H / 30), ceil(W / 30)) uint8 NLCD codes.
    """
    lookup = np.zeros(256, dtype=np.int64)
    lookup[list(FINE_CODES)] = np.arange(len(FINE_CODES))
    counts = cover_counts(lookup[labels], len(FINE_CODES))
    fractions = counts / counts.sum(-1, keepdims=True)
    water, impervious, barren, trees, grass = np.moveaxis(fractions, -1, 0)
    forest = FOREST_CODES[
        cover_counts(forest_type.astype(np.int64), 3, mask=labels == 40).argmax(-1)
    ]
    meadow = GRASS_CODES[
        cover_counts(grass_type.astype(np.int64), 3, mask=labels == 70).argmax(-1)
    ]
    # argmax takes the first of equal covers: trees, then barren, then grass.
    dominant = np.stack([trees, barren, grass]).argmax(0)
    codes: np.ndarray = np.select(
        [
            water >= 0.5,
            impervious >= 0.8,
            impervious >= 0.5,
            impervious >= 0.2,
            impervious >= 0.05,
            dominant == 0,
            dominant == 1,
        ],
        [11, 24, 23, 22, 21, forest.astype(np.int64), 31],
        default=meadow.astype(np.int64),
    ).astype(np.uint8)
    return codes


def add_label_noise(
    codes: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Give about ``rate`` of the cells the code of a neighbour with another code.

    Only cells with a differing neighbour can change (errors happen at boundaries);
    they are picked so that the expected share of changed cells is ``rate``.

    Args:
        codes: (rows, cols) codes.
        rate: share of cells to change.
        rng: random stream.

    Returns:
        The noisy codes and the mask of changed cells.
    """
    rows, cols = codes.shape
    row = np.arange(rows)[:, None]
    col = np.arange(cols)[None, :]
    neighbours = np.stack(
        [
            codes[np.clip(row + dy, 0, rows - 1), np.clip(col + dx, 0, cols - 1)]
            for dy, dx in NEIGHBOURS
        ]
    )
    differs = neighbours != codes[None]
    candidates = differs.any(0)
    # Draw everything regardless of the rate, so the streams stay aligned.
    keys = np.where(differs, rng.random(neighbours.shape), -1.0)
    draw = rng.random(codes.shape)
    share = min(1.0, rate * codes.size / max(int(candidates.sum()), 1))
    changed = candidates & (draw < share)
    chosen = np.take_along_axis(neighbours, keys.argmax(0)[None], 0)[0]
    return np.where(changed, chosen, codes).astype(codes.dtype), changed

"""The fine class map of a generated landscape.

In order: smooth random fields compete for every pixel (their offsets are tuned so
each class gets about its share); crop parcels are piecewise-constant fields, so
fields come out as rectangles; then a river, roads (straight lines, a grid in
towns) and buildings (rectangles, more of them near roads) are drawn over them.
Sizes are in metres and converted with the resolution, so a 30 m scene has the
same landscape as a 1 m one, only coarser: roads and buildings narrower than a
pixel are kept one pixel wide.
"""

import numpy as np
from scipy.ndimage import maximum_filter

from ._landscape_classes import Style

__all__ = ('layout_classes', 'smooth_field')

#: Width of roads and of the river, in metres.
ROAD_WIDTH_M = 8.0
RIVER_WIDTH_M = 25.0
#: Side of buildings in metres (drawn uniformly between the two).
BUILDING_SIDE_M = (8.0, 30.0)
#: Classes drawn as shapes over the fields rather than as fields.
DRAWN = ('building',)


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], scale_px: float
) -> np.ndarray:
    """A standardised Gaussian random field with a correlation length in pixels.

    Filtered in the Fourier domain, so large scales cost no more than small ones.

    Args:
        rng: random stream.
        shape: (height, width).
        scale_px: correlation length in pixels (at least 0.5).

    Returns:
        (height, width) float32 field of mean 0 and deviation 1.
    """
    noise = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    sigma = max(scale_px, 0.5)
    transfer = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=shape)
    field -= field.mean()
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)


def _parcel_field(
    rng: np.random.Generator, shape: tuple[int, int], side_px: float
) -> np.ndarray:
    """A field constant on rectangular parcels (crop fields), rotated grid-free.

    Args:
        rng: random stream.
        shape: (height, width).
        side_px: typical parcel side in pixels.

    Returns:
        (height, width) float32 field.
    """
    side = max(side_px, 2.0)
    rows = np.cumsum(rng.uniform(0.5, 1.5, int(shape[0] / side) + 3) * side)
    cols = np.cumsum(rng.uniform(0.5, 1.5, int(shape[1] / side) + 3) * side)
    row_id = np.searchsorted(rows, np.arange(shape[0]))
    col_id = np.searchsorted(cols, np.arange(shape[1]))
    values = rng.standard_normal((len(rows) + 1, len(cols) + 1))
    field = values[row_id[:, None], col_id[None, :]]
    # A little smooth variation so parcels are not all-or-nothing per class.
    field = field + 0.3 * smooth_field(rng, shape, side / 2)
    return ((field - field.mean()) / max(float(field.std()), 1e-12)).astype(np.float32)


def _compete(
    fields: np.ndarray, shares: np.ndarray, iterations: int = 12
) -> np.ndarray:
    """Class of each pixel: the largest field plus an offset tuned to the shares.

    Args:
        fields: (C, H, W) fields.
        shares: (C,) target shares (sum to 1).
        iterations: offset updates.

    Returns:
        (H, W) class indices.
    """
    offsets = np.zeros(len(shares), np.float32)
    classes = np.argmax(fields, 0)
    for _ in range(iterations):
        counts = np.bincount(classes.ravel(), minlength=len(shares))
        actual = (counts + 1) / (classes.size + len(shares))
        offsets += 0.6 * np.log(np.maximum(shares, 1e-9) / actual).astype(np.float32)
        classes = np.argmax(fields + offsets[:, None, None], 0)
    return classes


def _draw_line(
    mask: np.ndarray, point: np.ndarray, angle: float, width_px: float
) -> None:
    """Mark the pixels within ``width / 2`` of an infinite line.

    Args:
        mask: (H, W) boolean mask, updated in place.
        point: a point (row, col) on the line.
        angle: direction in radians.
        width_px: line width in pixels (at least one pixel is marked).
    """
    rows, cols = np.ogrid[: mask.shape[0], : mask.shape[1]]
    distance = np.abs(
        (rows - point[0]) * np.cos(angle) - (cols - point[1]) * np.sin(angle)
    )
    mask |= distance <= max(width_px, 1.0) / 2


def _river(rng: np.random.Generator, shape: tuple[int, int], res: float) -> np.ndarray:
    """A meandering river across the scene.

    Args:
        rng: random stream.
        shape: (height, width).
        res: resolution in metres.

    Returns:
        (H, W) boolean mask.
    """
    height, width = shape
    wander = smooth_field(rng, (1, width), 300.0 / res)[0]
    centre = rng.uniform(0.2, 0.8) * height + wander * 0.12 * height
    half = max(RIVER_WIDTH_M / res, 1.0) / 2
    rows = np.arange(height)[:, None]
    return np.asarray(np.abs(rows - centre[None, :]) <= half)


def _roads(
    rng: np.random.Generator,
    shape: tuple[int, int],
    res: float,
    share: float,
    grid: bool,
) -> np.ndarray:
    """Roads: straight lines (a grid in towns) until they cover about ``share``.

    Args:
        rng: random stream.
        shape: (height, width).
        res: resolution in metres.
        share: target share of road pixels.
        grid: lay a street grid rather than scattered roads.

    Returns:
        (H, W) boolean mask.
    """
    mask = np.zeros(shape, bool)
    width_px = ROAD_WIDTH_M / res
    angle = rng.uniform(0, np.pi / 2)
    for attempt in range(200):
        if mask.mean() >= share:
            break
        point = rng.uniform(0, 1, 2) * np.array(shape)
        line_angle = (
            angle + (attempt % 2) * np.pi / 2 if grid else rng.uniform(0, np.pi)
        )
        _draw_line(mask, point, line_angle, width_px)
    return mask


def _buildings(
    rng: np.random.Generator,
    free: np.ndarray,
    near: np.ndarray,
    res: float,
    share: float,
) -> np.ndarray:
    """Rectangular buildings on free ground, most of them near roads.

    Args:
        rng: random stream.
        free: (H, W) where buildings may stand.
        near: (H, W) where buildings are likelier (near roads and paved areas).
        res: resolution in metres.
        share: target share of building pixels.

    Returns:
        (H, W) boolean mask.
    """
    _height, width = free.shape
    mask = np.zeros(free.shape, bool)
    target = share * free.size
    weights = (free * (1 + 8 * near)).ravel().astype(np.float64)
    if weights.sum() == 0 or target <= 0:
        return mask
    weights /= weights.sum()
    for _ in range(50):
        missing = target - mask.sum()
        if missing <= 0:
            break
        side = rng.uniform(*BUILDING_SIDE_M, (2, 64)) / res
        count = max(
            1, min(64, int(missing / max(float((side[0] * side[1]).mean()), 1.0)) + 1)
        )
        centres = rng.choice(free.size, count, p=weights)
        for index, centre in enumerate(centres):
            row, col = divmod(int(centre), width)
            h = max(round(side[0, index]), 1)
            w = max(round(side[1, index]), 1)
            top, left = max(row - h // 2, 0), max(col - w // 2, 0)
            mask[top : top + h, left : left + w] = True
    return np.asarray(mask & free)


def layout_classes(
    rng: np.random.Generator,
    style: Style,
    num_classes: int,
    shape: tuple[int, int],
    res: float,
    rare_share: float | None = None,
) -> np.ndarray:
    """The fine class map of a landscape.

    Args:
        rng: random stream.
        style: the landscape's style.
        num_classes: how many of the style's classes to use (its first ones).
        shape: (height, width) in pixels.
        res: resolution in metres.
        rare_share: share of the last class (a rare class), if given.

    Returns:
        (H, W) uint8 class indices into ``style.classes[:num_classes]``.
    """
    names = style.classes[:num_classes]
    shares = np.array(style.shares[:num_classes], np.float64)
    if rare_share is not None:
        rest = shares[:-1] / shares[:-1].sum() * (1 - rare_share)
        shares = np.append(rest, rare_share)
    shares /= shares.sum()
    patch = style.patch_m[:num_classes]
    is_field = [
        p > 0 and name not in DRAWN for name, p in zip(names, patch, strict=True)
    ]
    fields = np.full((num_classes, *shape), -np.inf, np.float32)
    for index, name in enumerate(names):
        if not is_field[index]:
            continue
        scale = patch[index] / res
        if name == 'crops':
            fields[index] = _parcel_field(rng, shape, scale)
        else:
            fields[index] = smooth_field(rng, shape, scale / 2) + 0.35 * smooth_field(
                rng, shape, scale / 6
            )
    field_share = shares * np.array(is_field)
    classes = _compete(fields, field_share / field_share.sum())
    if 'water' in names and style.name in ('rural', 'wetland'):
        classes[_river(rng, shape, res)] = names.index('water')
    if 'impervious' in names:
        index = names.index('impervious')
        road_share = shares[index] if not is_field[index] else shares[index] / 3
        roads = _roads(rng, shape, res, road_share, grid=style.name == 'urban')
        classes[roads] = index
    if 'building' in names:
        index = names.index('building')
        paved = classes == names.index('impervious') if 'impervious' in names else None
        near = (
            smooth_field(rng, shape, 40 / res) > 0
            if paved is None
            else _dilate(paved, max(int(40 / res), 1))
        )
        water = classes == names.index('water') if 'water' in names else False
        free = ~(paved if paved is not None else np.zeros(shape, bool)) & ~np.asarray(
            water
        )
        classes[_buildings(rng, free, near, res, shares[index])] = index
    return classes.astype(np.uint8)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by a square of ``radius`` pixels (separable box maximum).

    Args:
        mask: (H, W) boolean mask.
        radius: pixels.

    Returns:
        The grown mask.
    """
    return np.asarray(maximum_filter(mask, size=2 * radius + 1), bool)

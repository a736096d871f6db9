"""The default recipe's rules: settings derived from the data, not from one scene.

Each rule is a small pure function of what the data module and task can measure
(resolutions, pixel counts, class shares); the data module and the task call them
when the matching option is left to ``None`` / ``'auto'``, and log what they chose.
``conf/default.yaml`` is the recipe; ``benchmarks/bench_suite.py`` checks it on
scenes of other styles, sensors, resolutions and class schemes.

* :func:`blur_for_cell`: the prior's blur is one coarse cell (REFERENCE §2.4: the
  paper's sigma 31 px for 30 m NLCD on 1 m NAIP, kernel 101).
* :func:`training_patches`: the training length grows with the training pixels,
  between a floor that lets the per-pixel network settle on small scenes and a
  ceiling beyond which the suite saw no gain.
"""

import math

__all__ = (
    'BLUR_KERNEL_RADII',
    'MAX_TRAINING_STEPS',
    'MIN_TRAINING_STEPS',
    'PIXEL_VISITS',
    'blur_for_cell',
    'training_patches',
)

#: Kernel half-width in sigmas (the paper's 101 px kernel for sigma 31: 50 / 31).
BLUR_KERNEL_RADII = 50 / 31


def blur_for_cell(cell_px: float) -> tuple[float, int]:
    """Blur of the prior for coarse cells of a given side in imagery pixels.

    Args:
        cell_px: coarse cell side in pixels of the imagery grid.

    Returns:
        ``(sigma, kernel_size)``: sigma of one cell (at least 0.5 px) and an odd
        kernel of :data:`BLUR_KERNEL_RADII` sigmas each side (31 -> 101, as the
        paper's).

    Raises:
        ValueError: If ``cell_px`` is not a positive finite number.
    """
    if not math.isfinite(cell_px) or cell_px <= 0:
        raise ValueError(f'the coarse cell must be > 0 pixels, got {cell_px}')
    sigma = round(max(cell_px, 0.5), 2)
    radius = max(round(sigma * BLUR_KERNEL_RADII), 1)
    return sigma, 2 * radius + 1


#: Times each training pixel is seen, on average (before the floor and ceiling).
PIXEL_VISITS = 20.0

#: Fewest and most training steps of the automatic length.
MIN_TRAINING_STEPS = 150
MAX_TRAINING_STEPS = 300


def training_patches(pixels: float, patch_size: int, batch_size: int) -> int:
    """Training patches per epoch (one epoch) for a number of training pixels.

    ``PIXEL_VISITS * pixels`` pixels are drawn, in whole batches, and at least
    :data:`MIN_TRAINING_STEPS` and at most :data:`MAX_TRAINING_STEPS` steps.

    Args:
        pixels: training pixels (with or without data).
        patch_size: training patch side in pixels.
        batch_size: patches per batch.

    Returns:
        The number of patches, a multiple of ``batch_size``.

    Raises:
        ValueError: If a size is not positive.
    """
    if pixels <= 0 or patch_size < 1 or batch_size < 1:
        raise ValueError(
            f'need pixels, patch_size and batch_size > 0, got {pixels}, '
            f'{patch_size}, {batch_size}'
        )
    steps = PIXEL_VISITS * pixels / (patch_size**2 * batch_size)
    steps = min(max(math.ceil(steps), MIN_TRAINING_STEPS), MAX_TRAINING_STEPS)
    return steps * batch_size

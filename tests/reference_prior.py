"""An independent, step-by-step implementation of the paper's prior (REFERENCE §2.3).

Written with plain numpy and scipy.ndimage, sharing no code with
:mod:`torchgeo_lsr.priors`, so tests can compare the package's priors (built on the
fly or written by ``write_prior``) with it instead of with themselves:

1. one-hot of the coarse index, channel 0 = no-data;
2. 2-D Gaussian blur as torchvision's ``GaussianBlur(kernel_size, sigma)``: the
   truncated kernel renormalised to sum 1, reflection padding (``'mirror'`` in
   scipy: ``d c b | a b c d | c b a``, which is torch's ``'reflect'``);
3. remap with the matrix M *including* its no-data row 0, then L1-normalise over
   all rows;
4. hand-coded fusion: water = max(waterbodies, dilate5x5(waterways)), 5x5 box mean
   to the water row; roads and buildings, 9x9 box means, to the impervious row; box
   means count only pixels inside the raster (zero padding excluded);
5. drop row 0 and renormalise; a pixel is valid where the remaining mass > 0.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.ndimage as ndi
from numpy.lib.stride_tricks import sliding_window_view

__all__ = (
    'box_mean_inside',
    'matrix_with_nodata_row',
    'paper_prior',
    'prior_of_codes',
    'torch_kernel',
)

#: Mass below which a pixel counts as having no information at all.
EPSILON = 1e-6


def torch_kernel(sigma: float, kernel_size: int) -> np.ndarray:
    """Torchvision's ``_get_gaussian_kernel2d``: outer product of 1-D kernels."""
    half = (kernel_size - 1) * 0.5
    x = np.linspace(-half, half, kernel_size)
    pdf = np.exp(-0.5 * (x / sigma) ** 2)
    kernel = pdf / pdf.sum()
    return np.outer(kernel, kernel)


def matrix_with_nodata_row(
    matrix: np.ndarray, columns: Sequence[int], size: int
) -> np.ndarray:
    """The (1 + C, size) remap matrix over one-hot indices 0..size-1.

    Args:
        matrix: (C, N) P(class | coarse code) over the N codes, columns summing to
            1 or 0 (a column without occurrences).
        columns: the one-hot index of each of the N codes.
        size: number of one-hot channels; indices without a code (e.g. 0) and
            empty columns go entirely to the no-data row 0.

    Returns:
        The matrix; every column sums to 1.
    """
    matrix = np.asarray(matrix, np.float64)
    full = np.zeros((1 + matrix.shape[0], size))
    full[0] = 1.0
    for code_column, index in enumerate(columns):
        column = matrix[:, code_column]
        full[1:, index] = column
        full[0, index] = 1.0 - column.sum()
    return full


def box_mean_inside(layer: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size x size square, counting only pixels inside the array."""
    radius = size // 2
    values = np.pad(np.asarray(layer, np.float64), radius)
    ones = np.pad(np.ones(layer.shape), radius)
    total = sliding_window_view(values, (size, size)).sum((-1, -2))
    count = sliding_window_view(ones, (size, size)).sum((-1, -2))
    return np.asarray(total / count)


def paper_prior(
    index: np.ndarray,
    matrix: np.ndarray,
    sigma: float,
    kernel_size: int,
    layers: Mapping[str, np.ndarray] | None = None,
    water: int = 1,
    impervious: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """The prior of one raster, step by step as in REFERENCE §2.3.

    Args:
        index: (H, W) one-hot index of each pixel's coarse code (0 = no-data).
        matrix: (1 + C, K) remap matrix with the no-data row 0
            (:func:`matrix_with_nodata_row`).
        sigma: Gaussian sigma in pixels.
        kernel_size: odd kernel size.
        layers: optional 0/1 ``waterbodies``, ``waterways``, ``roads``,
            ``buildings`` on the raster's grid (missing ones count as empty).
        water: row of the water class in ``matrix`` (1 + class index).
        impervious: row of the impervious class.

    Returns:
        The (C, H, W) float64 prior (0 where invalid) and its (H, W) validity.
    """
    kernel = torch_kernel(sigma, kernel_size)
    channels = matrix.shape[1]
    # Steps 1-2: one-hot incl. no-data, blurred with reflection padding.
    blurred = np.zeros((channels, *index.shape))
    for k in np.unique(index):  # absent indices blur to 0
        blurred[k] = ndi.correlate(
            (index == k).astype(np.float64), kernel, mode='mirror'
        )
    # Step 3: remap with the no-data row, L1 over all rows.
    raw = np.tensordot(matrix, blurred, axes=1)
    raw /= raw.sum(0)
    # Step 4: hand-coded fusion, added everywhere.
    if layers is not None:
        zeros = np.zeros(index.shape)

        def get(name: str) -> np.ndarray:
            return np.asarray(layers.get(name, zeros), np.float64)

        waterways = ndi.binary_dilation(get('waterways') > 0, np.ones((5, 5), bool))
        water_mask = np.maximum(get('waterbodies'), waterways.astype(np.float64))
        raw[water] += box_mean_inside(water_mask, 5)
        raw[impervious] += box_mean_inside(get('roads'), 9)
        raw[impervious] += box_mean_inside(get('buildings'), 9)
        raw /= raw.sum(0)
    # Step 5: drop the no-data row, renormalise.
    classes = raw[1:]
    total = classes.sum(0)
    valid = total > EPSILON
    prior = np.where(valid, classes / np.where(valid, total, 1.0), 0.0)
    return prior, valid


def prior_of_codes(
    codes: np.ndarray,
    matrix: np.ndarray,
    coarse_codes: Sequence[int],
    sigma: float,
    kernel_size: int,
    layers: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paper_prior` of coarse codes (codes without a column are no-data).

    Args:
        codes: (H, W) coarse codes.
        matrix: (C, N) P(class | code) over ``coarse_codes``.
        coarse_codes: the code of each column.
        sigma: Gaussian sigma in pixels.
        kernel_size: odd kernel size.
        layers: optional paper layers (water is class 0, impervious class 1).

    Returns:
        The (C, H, W) prior and its validity.
    """
    lookup = {int(code): number + 1 for number, code in enumerate(coarse_codes)}
    index = np.vectorize(lambda code: lookup.get(int(code), 0))(codes)
    full = matrix_with_nodata_row(
        matrix, range(1, len(coarse_codes) + 1), len(coarse_codes) + 1
    )
    return paper_prior(index, full, sigma, kernel_size, layers)

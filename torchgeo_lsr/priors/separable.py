"""Priors as two small matrix products, built in batches on any device.

The blurred prior of a window (:class:`~torchgeo_lsr.priors.PriorBuilder`, REFERENCE
§2.3) is linear in the remapped codes, and the Gaussian is separable. Coarse labels on
a fine grid are blocks of equal codes, so the remapped window is ``U_y M U_x^T``: a
small matrix ``M`` of co-occurrence columns per distinct block and two 0/1 maps of
rows and columns to blocks. With the reflected edges folded in, the blurred mass of
class ``c`` is ``W_y M_c W_x^T``, where each ``W`` (output pixels x blocks) holds the
kernel's weight of every block for every output row or column.

The loader computes the tiny ``W`` matrices (:func:`axis_weights`, from 1-D index
maps) and ``M`` (each tile's matrix may differ) and ships them instead of a (C, H, W)
float prior; the batch's device does the products and the renormalisation
(:func:`priors_from_weights`). Equal to the
CPU builder to float rounding (tests: 1e-5), with no FFT, and exact for any grid:
codes that are not in blocks (warped rasters) are simply blocks of one pixel.
"""

import numpy as np
import torch
from torch import Tensor

from .builder import MIN_INFORMATION

__all__ = (
    'axis_weights',
    'compress_blocks',
    'mass_from_weights',
    'normalise_mass',
    'priors_from_weights',
)


def _run_starts(changes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index of every run, and the run of every index, from change flags.

    Args:
        changes: bool flags, ``changes[i]``: element ``i + 1`` differs from ``i``.

    Returns:
        ``(starts, run)``.
    """
    run = np.concatenate([[0], np.cumsum(changes)])
    starts = np.flatnonzero(np.concatenate([[True], changes]))
    return starts, run


def compress_blocks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2-D array as distinct blocks: ``values == blocks[rows][:, cols]``.

    Consecutive equal rows (and columns) collapse into one; for coarse labels read
    onto a fine grid that leaves one row and column per coarse cell.

    Args:
        values: (H, W) array.

    Returns:
        ``(blocks, rows, cols)``: the (h, w) blocks, and the block row of each of the
        H rows and the block column of each of the W columns.
    """
    row_starts, rows = _run_starts(np.any(values[1:] != values[:-1], axis=1))
    col_starts, cols = _run_starts(np.any(values[:, 1:] != values[:, :-1], axis=0))
    return values[np.ix_(row_starts, col_starts)], rows, cols


#: Weights by line layout: training patches inside a tile repeat a few layouts (the
#: patch's phase against the coarse cells), so most samples reuse them.
_CACHE: dict[tuple[bytes, bytes, int, int, int, int], np.ndarray] = {}
_CACHE_SIZE = 4096


def axis_weights(
    kernel: np.ndarray,
    source: np.ndarray,
    output: tuple[int, int],
    length: int,
    blocks: int,
) -> np.ndarray:
    """The kernel's weight of every block for output pixels along one axis.

    Output pixel ``output[0] + o`` takes ``sum_t kernel[t] * x[source[o + t]]``
    ('valid' correlation of the padded line whose pixel ``p`` is block
    ``source[p]``): reflection and tile edges are in ``source``.

    Args:
        kernel: 1-D kernel (odd length ``K``).
        source: block index of each padded pixel (``output`` length + K - 1).
        output: ``(start, stop)`` of the output pixels these are.
        length: output pixels along the axis (rows outside ``output`` stay zero).
        blocks: number of blocks along the axis.

    Returns:
        float32 ``(length, blocks)`` weights (shared: do not modify).
    """
    key = (kernel.tobytes(), source.tobytes(), *output, length, blocks)
    found = _CACHE.get(key)
    if found is None:
        found = _axis_weights(kernel, source, output, length, blocks)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def _axis_weights(
    kernel: np.ndarray,
    source: np.ndarray,
    output: tuple[int, int],
    length: int,
    blocks: int,
) -> np.ndarray:
    """:func:`axis_weights`, computed."""
    start, stop = output
    taps = len(kernel)
    pixels = np.arange(stop - start)
    block = source[pixels[:, None] + np.arange(taps)[None, :]]
    flat = (pixels[:, None] + start) * blocks + block
    weights = np.bincount(
        flat.ravel(), np.broadcast_to(kernel, block.shape).ravel(), length * blocks
    )
    return weights.reshape(length, blocks).astype(np.float32)


def mass_from_weights(masses: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """A batch's blurred class mass from its blocks' class mass and axis weights.

    Args:
        masses: (B, P, C, h, w) remapped class mass of the blocks, through the
            matrix of each of P parts (tiles) of a sample.
        rows: (B, P, H, h) row weights of each part.
        cols: (B, P, W, w) column weights of each part (zero outside it).

    Returns:
        (B, C, H, W) float32 class mass, zero where it carries no information
        (total at most the builder's ``MIN_INFORMATION``), as the builder's.
    """
    with torch.autocast(masses.device.type, enabled=False):
        left = torch.einsum('bpoh,bpchw->bpcow', rows.float(), masses.float())
        mass = torch.einsum('bpcow,bpqw->bcoq', left, cols.float()).clamp_min(0)
        informed = mass.sum(1, keepdim=True) > MIN_INFORMATION
        return torch.where(informed, mass, 0.0)


def normalise_mass(mass: Tensor) -> tuple[Tensor, Tensor]:
    """Class mass (plus any fusion evidence) as priors and their validity.

    Args:
        mass: (B, C, H, W) class mass.

    Returns:
        The (B, C, H, W) prior (0 where invalid) and its (B, H, W) validity (the
        pixels with class mass above the builder's ``MIN_INFORMATION``).
    """
    with torch.autocast(mass.device.type, enabled=False):
        total = mass.float().sum(1, keepdim=True)
        valid = total > MIN_INFORMATION
        prior = torch.where(valid, mass / total.clamp_min(MIN_INFORMATION), 0.0)
    return prior, valid.squeeze(1)


def priors_from_weights(
    masses: Tensor, rows: Tensor, cols: Tensor
) -> tuple[Tensor, Tensor]:
    """A batch of priors from its blocks' class mass and axis weights.

    :func:`mass_from_weights`, then :func:`normalise_mass` (without fusion
    evidence).

    Args:
        masses: (B, P, C, h, w) remapped class mass of the blocks of each part.
        rows: (B, P, H, h) row weights of each part.
        cols: (B, P, W, w) column weights of each part (zero outside it).

    Returns:
        The (B, C, H, W) prior (0 where invalid) and its (B, H, W) validity.
    """
    return normalise_mass(mass_from_weights(masses, rows, cols))

"""Priors from block weights equal the builder's, on any device and under autocast."""

import numpy as np
import pytest
import torch

from torchgeo_lsr.priors import PriorBuilder
from torchgeo_lsr.priors.separable import (
    axis_weights,
    compress_blocks,
    priors_from_weights,
)

CODES = np.array([0, 11, 21, 22, 41, 81], np.uint8)  # 0 is nodata


def coarse_codes(seed: int, cells: tuple[int, int], ratio: int) -> np.ndarray:
    """Random coarse codes (some nodata) repeated onto a fine grid."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(CODES, cells)
    return np.repeat(np.repeat(codes, ratio, 0), ratio, 1)[:-3, 2:]


def device_prior(
    builder: PriorBuilder, codes: np.ndarray, device: str = 'cpu'
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole array's prior through block weights, edges reflected."""
    halo = builder.halo
    blocks, rows, cols = compress_blocks(codes)
    weights = []
    for index, length, count in (
        (rows, codes.shape[0], blocks.shape[0]),
        (cols, codes.shape[1], blocks.shape[1]),
    ):
        padded = np.pad(np.arange(length), halo, mode='reflect')
        weights.append(
            axis_weights(builder.kernel, index[padded], (0, length), length, count)
        )
    masses = torch.from_numpy(builder.remap(blocks))[None, None].to(device)
    prior, valid = priors_from_weights(
        masses,
        torch.from_numpy(weights[0])[None, None].to(device),
        torch.from_numpy(weights[1])[None, None].to(device),
    )
    return prior[0].cpu(), valid[0].cpu()


def test_blocks_rebuild_the_array() -> None:
    codes = coarse_codes(0, (5, 7), 6)
    blocks, rows, cols = compress_blocks(codes)
    assert blocks.shape == (5, 7)
    np.testing.assert_array_equal(blocks[rows][:, cols], codes)
    single = compress_blocks(np.zeros((4, 3)))
    assert single[0].shape == (1, 1)


@pytest.mark.parametrize(('sigma', 'size', 'ratio'), [(4.0, 13, 6), (2.0, 5, 3)])
def test_equal_to_the_builder(sigma: float, size: int, ratio: int) -> None:
    builder = PriorBuilder(
        'enviroatlas-pittsburgh', sigma=sigma, kernel_size=size, coarse_nodata=[0]
    )
    codes = coarse_codes(1, (6, 8), ratio)
    codes[: ratio * 2, : ratio * 2] = 0  # a nodata area wider than the kernel
    expected, expected_valid = builder(codes)
    prior, valid = device_prior(builder, codes)
    assert torch.equal(valid, torch.from_numpy(expected_valid))
    assert not bool(valid.all())
    torch.testing.assert_close(prior, torch.from_numpy(expected), atol=1e-5, rtol=0)


def test_float32_under_autocast() -> None:
    builder = PriorBuilder('enviroatlas-pittsburgh', sigma=3.0, kernel_size=9)
    codes = coarse_codes(2, (4, 4), 5)
    reference, _ = device_prior(builder, codes)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        prior, _ = device_prior(builder, codes)
    assert prior.dtype == torch.float32
    torch.testing.assert_close(prior, reference)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_equal_to_the_builder_on_cuda() -> None:
    builder = PriorBuilder('enviroatlas-pittsburgh', sigma=4.0, kernel_size=13)
    codes = coarse_codes(3, (6, 6), 6)
    expected, expected_valid = builder(codes)
    prior, valid = device_prior(builder, codes, device='cuda')
    assert torch.equal(valid, torch.from_numpy(expected_valid))
    torch.testing.assert_close(prior, torch.from_numpy(expected), atol=1e-5, rtol=0)

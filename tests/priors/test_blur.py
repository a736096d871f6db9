import numpy as np
import pytest
import torch
from scipy.signal import correlate
from torchvision.transforms.v2 import functional as tvf
from torchvision.transforms.v2.functional._misc import _get_gaussian_kernel1d

from torchgeo_lsr.priors.blur import correlate_valid, gaussian_blur, gaussian_kernel1d


def test_kernel_is_torchvisions() -> None:
    ours = gaussian_kernel1d(31, 101)
    theirs = _get_gaussian_kernel1d(101, 31.0, dtype=torch.float64, device=None)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    assert ours.sum() == pytest.approx(1.0)
    assert len(ours) == 101


def test_blur_equals_torchvision_gaussian_blur() -> None:
    # The paper blurred with torchvision's GaussianBlur (reflect padding).
    rng = np.random.default_rng(0)
    image = rng.random((3, 40, 57)).astype(np.float32)
    ours = gaussian_blur(image, sigma=4.0, kernel_size=13)
    theirs = tvf.gaussian_blur(torch.from_numpy(image), [13, 13], [4.0, 4.0])
    np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-6)


def test_correlate_valid_equals_2d_correlation() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((2, 30, 25))
    kernel = gaussian_kernel1d(2.5, 7)
    expected = np.stack(
        [correlate(x, np.outer(kernel, kernel), 'valid') for x in image]
    )
    np.testing.assert_allclose(correlate_valid(image, kernel), expected, atol=1e-12)


def test_kernel_of_one_tap_is_identity() -> None:
    image = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(gaussian_blur(image, 1.0, 1), image)


@pytest.mark.parametrize(('sigma', 'size'), [(0, 5), (-1, 5), (1, 4), (1, 0)])
def test_bad_kernel(sigma: float, size: int) -> None:
    with pytest.raises(ValueError, match=r'sigma|kernel_size'):
        gaussian_kernel1d(sigma, size)


def test_array_smaller_than_kernel() -> None:
    with pytest.raises(ValueError, match='smaller than the kernel'):
        correlate_valid(np.zeros((3, 3)), gaussian_kernel1d(1, 5))

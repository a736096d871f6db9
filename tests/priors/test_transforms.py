import numpy as np
import torch

from torchgeo_lsr.priors import PriorTransform
from torchgeo_lsr.priors.builder import PriorBuilder

from .conftest import blocky_codes
from .test_builder import MATRIX


def test_transform_on_samples() -> None:
    builder = PriorBuilder(MATRIX, sigma=1.0, kernel_size=3, coarse_nodata=[0])
    codes = blocky_codes((16, 16), 4, [11, 21, 41], seed=4)
    sample = {'mask': torch.from_numpy(codes.astype(np.int64))[None]}
    out = PriorTransform(builder)(sample)
    expected, valid = builder(codes)
    assert out['prior'].shape == (3, 16, 16)
    assert out['prior'].dtype == torch.float32
    np.testing.assert_allclose(out['prior'].numpy(), expected)
    assert out['prior_valid'].numpy().tolist() == valid.tolist()
    batch = {'mask': torch.from_numpy(np.stack([codes, codes[::-1].copy()]))[:, None]}
    out = PriorTransform(builder)(batch)
    assert out['prior'].shape == (2, 3, 16, 16)
    np.testing.assert_allclose(out['prior'][1].numpy(), builder(codes[::-1].copy())[0])

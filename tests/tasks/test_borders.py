import pytest
import torch

from torchgeo_lsr.tasks.borders import crop, crop_outputs


def test_crop_outputs() -> None:
    log_q = torch.randn(2, 3, 10, 10)
    prior = torch.rand(2, 3, 10, 10)
    mask = torch.ones(2, 10, 10, dtype=torch.long)
    valid = torch.ones(2, 10, 10, dtype=torch.bool)
    valid[0, 4, 4] = False
    batch = {'valid': valid, 'mask': mask, 'tile': torch.zeros(2, 10, 10)}
    out = crop_outputs(batch, log_q, prior, 2, ignore_index=3)
    assert set(out) == {'log_q', 'prior', 'valid', 'target', 'tile'}
    torch.testing.assert_close(out['log_q'], log_q[..., 2:8, 2:8])
    assert out['target'][0, 2, 2] == 3
    assert out['tile'].dtype == torch.long
    bare = crop_outputs({}, log_q, prior, 0, ignore_index=3)
    assert set(bare) == {'log_q', 'prior', 'valid'}
    assert bare['valid'].all()
    with pytest.raises(ValueError, match='too small to crop a border of 5 px'):
        crop_outputs({}, log_q, prior, 5, ignore_index=3)
    assert crop(torch.zeros(4, 7, 9), 1).shape == (4, 5, 7)

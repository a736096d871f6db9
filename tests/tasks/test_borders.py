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
    bare = crop_outputs({'valid': valid}, log_q, prior, 0, ignore_index=3)
    assert set(bare) == {'log_q', 'prior', 'valid'}
    torch.testing.assert_close(bare['valid'], valid)
    with pytest.raises(ValueError, match='too small to crop a border of 5 px'):
        crop_outputs({'valid': valid}, log_q, prior, 5, ignore_index=3)


def test_a_batch_without_validity_is_refused() -> None:
    """Guards issue 16 item 8: a batch without ``valid`` was taken as all valid.

    That trains on the zero-filled nodata of the rasters without a word; the old
    code returned an all-True ``valid`` here.
    """
    log_q = torch.randn(2, 3, 10, 10)
    with pytest.raises(ValueError, match="no 'valid' key: give a \\(B, H, W\\)"):
        crop_outputs({'mask': torch.zeros(2, 10, 10)}, log_q, log_q.exp(), 0, 3)
    assert crop(torch.zeros(4, 7, 9), 1).shape == (4, 5, 7)

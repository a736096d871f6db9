import lightning.pytorch as pl
import pytest
import torch

from tests.nongeo.helpers import quiet_trainer
from torchgeo_lsr.nongeo import (
    RankedPairsClassification,
    RankedPairsDataModule,
    pair_prior,
    ranked_pair_loss,
)


def test_pair_prior_is_the_allowed_triangle() -> None:
    prior = pair_prior(torch.tensor([True, False]))
    assert prior.shape == (2, 10, 10)
    ge, lt = prior[0], prior[1]
    # first >= second: the lower triangle with the diagonal, 55 cells of 1/55.
    assert int((ge > 0).sum()) == 55
    torch.testing.assert_close(ge[ge > 0], torch.full((55,), 1 / 55))
    assert float(ge[9, 0]) > 0
    assert float(ge[0, 9]) == 0
    assert float(ge[4, 4]) > 0
    assert int((lt > 0).sum()) == 45
    assert float(lt[4, 4]) == 0


def _reference_loss(log_q: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """The paper's notebook computation, written out with explicit loops."""
    pairs = log_q.shape[0]
    flat = log_q.reshape(-1, 10)
    z = flat.exp() / flat.exp().sum(0, keepdim=True)
    z = z.reshape(pairs, 2, 10)
    total = torch.zeros(())
    for j in range(pairs):
        joint = torch.outer(z[j, 0], z[j, 1]) * (prior[j] + 1e-10)
        joint = joint / joint.sum()
        for side, marginal in enumerate((joint.sum(1), joint.sum(0))):
            total += (marginal * (marginal.log() - log_q[j, side])).sum()
    return total / (2 * pairs)


def test_loss_matches_the_explicit_computation() -> None:
    torch.manual_seed(0)
    log_q = torch.randn(6, 2, 10).log_softmax(2)
    prior = pair_prior(torch.tensor([True, False, True, True, False, False]))
    loss, r = ranked_pair_loss(log_q, prior)
    torch.testing.assert_close(
        loss, _reference_loss(log_q, prior), rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(r.sum(2), torch.ones(6, 2))


def test_data_module_pairs_consecutive_images() -> None:
    dm = RankedPairsDataModule('digits', batch_size=64)
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert batch['image'].shape == (32, 2, 1, 8, 8)
    labels = batch['label']
    ge = labels[:, 0] >= labels[:, 1]
    assert bool((batch['prior'][ge][:, 9, 0] > 0).all())
    assert bool((batch['prior'][~ge][:, 0, 9] > 0).all())
    with pytest.raises(ValueError, match='even'):
        RankedPairsDataModule('digits', batch_size=63)


def test_learns_digits_from_order_alone() -> None:
    pl.seed_everything(0)
    dm = RankedPairsDataModule('digits', batch_size=128)
    task = RankedPairsClassification(image_size=8, lr=3e-3, confusion_every_n_steps=5)
    trainer = quiet_trainer(40)
    trainer.fit(task, datamodule=dm)
    accuracy = task.history['val_accuracy'][-1]
    assert accuracy > 0.5, task.history['val_accuracy']
    step, confusion = task.confusions[-1]
    assert confusion.shape == (10, 10)
    # Five steps of up to 128 images (an epoch's last batch is shorter).
    assert 0 < int(confusion.sum()) <= 5 * 128
    assert step % 5 == 0
    # Late in training most predictions sit on the diagonal; early ones did not.
    first = task.confusions[0][1]
    assert confusion.diag().sum() / confusion.sum() > 0.5
    assert first.diag().sum() / first.sum() < 0.5

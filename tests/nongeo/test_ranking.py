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
    """Both orders allow the diagonal, 55 cells of 1/55 (REFERENCE §4.2).

    Issue 16 changed the "first < second" prior: it was the strict triangle (45
    cells, ``lt[4, 4] == 0``); the authors use the transpose of the ">=" one,
    diagonal included, so this test now asserts 55 cells and ``lt[4, 4] > 0``.
    """
    prior = pair_prior(torch.tensor([True, False]))
    assert prior.shape == (2, 10, 10)
    ge, lt = prior[0], prior[1]
    # first >= second: the lower triangle with the diagonal, 55 cells of 1/55.
    assert int((ge > 0).sum()) == 55
    torch.testing.assert_close(ge[ge > 0], torch.full((55,), 1 / 55))
    assert float(ge[9, 0]) > 0
    assert float(ge[0, 9]) == 0
    assert float(ge[4, 4]) > 0
    # first < second: the transpose, diagonal included (the authors' notebook).
    assert int((lt > 0).sum()) == 55
    torch.testing.assert_close(lt[lt > 0], torch.full((55,), 1 / 55))
    assert float(lt[0, 9]) > 0
    assert float(lt[9, 0]) == 0
    assert float(lt[4, 4]) > 0
    torch.testing.assert_close(lt, ge.T)


def _cell_rule_prior(first_ge_second: list[bool]) -> torch.Tensor:
    """REFERENCE §4.2's prior cell by cell: allowed iff a >= b (or a <= b)."""
    prior = torch.zeros(len(first_ge_second), 10, 10)
    for j, ge in enumerate(first_ge_second):
        for a in range(10):
            for b in range(10):
                if (a >= b) if ge else (a <= b):
                    prior[j, a, b] = 1 / 55
    return prior


def test_pair_prior_follows_the_cell_rule_and_ties_get_the_ge_prior() -> None:
    """Guards the "<" prior (was the strict triangle) and how ties are labelled."""
    orders = [True, False, False, True]
    torch.testing.assert_close(
        pair_prior(torch.tensor(orders)), _cell_rule_prior(orders)
    )
    # A tie (3, 3) is labelled "first >= second", whose prior allows it.
    dm = RankedPairsDataModule('digits', batch_size=64)
    dm.setup('fit')
    labels = dm.train_dataset.tensors['label']
    prior = dm.train_dataset.tensors['prior']
    ties = labels[:, 0] == labels[:, 1]
    assert bool(ties.any())
    expected = _cell_rule_prior([True] * int(ties.sum()))
    torch.testing.assert_close(prior[ties], expected)
    assert bool(
        (prior[torch.arange(len(labels)), labels[:, 0], labels[:, 1]] > 0).all()
    )


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


def _formula_rq(logits: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """REFERENCE §4.2 written out in plain torch, gradient through r and q.

    Args:
        logits: (2P, 10) network outputs, images 2j and 2j + 1 forming pair j.
        prior: (P, 10, 10) joint priors over (first, second).

    Returns:
        RQ = mean over the 2P images of KL(r_marginal || q).
    """
    log_q = torch.log_softmax(logits, dim=1)
    log_z = torch.log_softmax(log_q, dim=0)  # over the batch axis (all images)
    first, second = log_z[0::2], log_z[1::2]
    scores = first[:, :, None] + second[:, None, :] + torch.log(prior + 1e-10)
    log_r = torch.log_softmax(scores.flatten(1), dim=1).view_as(scores)
    marginal_first = torch.logsumexp(log_r, dim=2)  # over l2
    marginal_second = torch.logsumexp(log_r, dim=1)  # over l1
    log_target = torch.stack([marginal_first, marginal_second], 1).flatten(0, 1)
    kl = (log_target.exp() * (log_target - log_q)).sum(1)
    return kl.mean()


@pytest.mark.parametrize('seed', [0, 1])
def test_loss_gradient_matches_autograd_of_the_formula(seed: int) -> None:
    """The gradient flows through r as in the formula (issue 16).

    The old code detached ``log_r``: same value, gradient off by ~40% relative.
    """
    torch.manual_seed(seed)
    logits = torch.randn(16, 10, dtype=torch.float64, requires_grad=True)
    prior = pair_prior(torch.rand(8) < 0.5).double()
    expected = torch.autograd.grad(_formula_rq(logits, prior), logits)[0]
    loss, r = ranked_pair_loss(logits.log_softmax(1).reshape(8, 2, 10), prior)
    (got,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(loss, _formula_rq(logits, prior))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)
    assert not r.requires_grad


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

"""No float64 on an accelerator (issue 16, item 15).

Apple MPS has no float64, so ``.double()`` must follow ``.cpu()``. This machine
has no MPS, so the tests simulate one: :class:`~tests.devices.MpsLike` is
a CPU tensor that stays "on the device" through every operation, becomes a plain
tensor only through ``.cpu()``, and raises on a float64 result or
``.numpy()``, as MPS does. Batches are made ``MpsLike`` right after their transfer
to the device, so the tasks' whole training, validation and test paths (network,
losses, confusion matrices, scores, written maps) run as on MPS (the image-prior
task's test is in ``image_prior/test_task.py``). A static check over the
package's sources (``tests/test_devices.py``) covers the paths no test runs.

Guards: ``metrics._counts`` ran ``.double().cpu()`` on the confusion counts the
non-geo tasks passed straight from the device (the scoring path failed on MPS);
``text.prior.prior_from_log_likelihoods`` and the paper's hash in
``partial_labels.negative_label_prior`` called ``.double()`` on their input.
"""

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor

from tests.nongeo.helpers import MpsLike, batches_on_device, quiet_trainer
from torchgeo_lsr.nongeo import (
    PartialLabelClassification,
    PartialLabelDataModule,
    RankedPairsClassification,
    RankedPairsDataModule,
    negative_label_prior,
)
from torchgeo_lsr.nongeo.text import prior_from_log_likelihoods


def test_mps_like_refuses_float64_until_cpu() -> None:
    """The simulation itself: what fails on MPS fails here, the rest works."""
    x = torch.ones(3).as_subclass(MpsLike)
    with pytest.raises(AssertionError, match='float64'):
        x.double()
    with pytest.raises(AssertionError, match='float64'):
        x.to(torch.float64)
    with pytest.raises(AssertionError, match='numpy'):
        (x * 2).numpy()
    assert type(x.cpu()) is Tensor
    assert x.cpu().double().dtype == torch.float64
    # .to(device) stays on the device (a metric's state follows self.device).
    assert isinstance(torch.zeros(3) + x.to(torch.device('cpu')), MpsLike)
    assert isinstance(x.sum() + 1, MpsLike)
    assert float(x.sum()) == 3.0


def test_classification_scores_without_float64_on_device() -> None:
    """Fit and validate a prior-classification task with batches "on MPS"."""
    pl.seed_everything(0)
    dm = batches_on_device(
        PartialLabelDataModule('digits', k=5, batch_size=128, train_size=256)
    )
    task = PartialLabelClassification(image_size=8, loss='rq', lr=3e-3)
    trainer = quiet_trainer(1)
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    assert set(task.history) >= {'train_accuracy', 'val_accuracy', 'test_accuracy'}


def test_ranked_pairs_train_without_float64_on_device() -> None:
    """The ranked-pairs task (its own loss and confusion snapshots) "on MPS"."""
    pl.seed_everything(0)
    dm = batches_on_device(RankedPairsDataModule('digits', batch_size=128))
    task = RankedPairsClassification(image_size=8, confusion_every_n_steps=2)
    quiet_trainer(1).fit(task, datamodule=dm)
    assert task.confusions
    assert 'val_accuracy' in task.history


def test_priors_from_device_inputs_without_float64_on_device() -> None:
    """The text prior and the paper's hash accept tensors "on MPS"."""
    log_likelihoods = torch.tensor([[0.0, -1.0, -torch.inf], [-2.0, 0.0, 0.0]])
    prior = prior_from_log_likelihoods(log_likelihoods.as_subclass(MpsLike))
    expected = prior_from_log_likelihoods(log_likelihoods)
    torch.testing.assert_close(prior.as_subclass(Tensor), expected)
    images = torch.rand(6, 1, 4, 4)
    labels = torch.arange(6) % 10
    hashed = negative_label_prior(
        images.as_subclass(MpsLike), labels, 3, assignment='hash'
    )
    torch.testing.assert_close(
        hashed.as_subclass(Tensor),
        negative_label_prior(images, labels, 3, assignment='hash'),
    )

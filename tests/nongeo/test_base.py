"""What the non-geo tasks share: the in-memory data module, classification from priors."""

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from torchgeo_lsr.losses import CELoss, NLLUnionLoss, QRLoss, RQLoss
from torchgeo_lsr.metrics import ConfusionMatrix
from torchgeo_lsr.nongeo.base import InMemoryDataModule, PriorClassification
from torchgeo_lsr.nongeo.partial_labels import TensorDictDataset

FEATURES, CLASSES = 4, 3


class LinearClassification(PriorClassification):
    """A linear classifier: the smallest network the base task can train."""

    def build_network(self) -> nn.Module:
        """One linear layer.

        Returns:
            The network.
        """
        return nn.Linear(FEATURES, CLASSES)


class RandomData(InMemoryDataModule):
    """Separable random features with a prior that allows the true class and one other."""

    def setup(self, stage: str) -> None:
        """Draw the splits (fixed seeds).

        Args:
            stage: the stage.
        """
        self.train_dataset = self._split(96, seed=0)
        self.val_dataset = self._split(50, seed=1)
        self.test_dataset = self._split(70, seed=2)

    @staticmethod
    def _split(size: int, seed: int) -> TensorDictDataset:
        generator = torch.Generator().manual_seed(seed)
        label = torch.randint(0, CLASSES, (size,), generator=generator)
        image = torch.randn(size, FEATURES, generator=generator)
        image[torch.arange(size), label] += 2
        other = (label + 1) % CLASSES
        prior = torch.zeros(size, CLASSES)
        prior[torch.arange(size), label] = 0.5
        prior[torch.arange(size), other] = 0.5
        return TensorDictDataset(image=image, prior=prior, label=label)


def _trainer(epochs: int) -> pl.Trainer:
    # One sanity-check batch: its counts must not reach the history.
    return pl.Trainer(
        max_epochs=epochs,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
    )


@pytest.mark.parametrize(
    ('loss', 'kind'),
    [('ce', CELoss), ('nll_union', NLLUnionLoss), ('qr', QRLoss), ('rq', RQLoss)],
)
def test_losses_come_from_the_loss_factory(loss: str, kind: type[nn.Module]) -> None:
    task = LinearClassification(num_classes=CLASSES, loss=loss, prior_eps=1e-6)  # type: ignore[arg-type]
    assert type(task.criterion) is kind
    assert task.criterion.eps == 1e-6
    if loss == 'qr':
        assert task.criterion.form == 'kl'
        qr = LinearClassification(loss='qr', qr_form='free_energy')
        assert qr.criterion.form == 'free_energy'


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="loss must be 'ce'"):
        LinearClassification(loss='kl')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='lr_schedule'):
        LinearClassification(lr_schedule='step')  # type: ignore[arg-type]


def test_accuracies_are_pooled_confusion_counts() -> None:
    pl.seed_everything(0, verbose=False)
    task = LinearClassification(num_classes=CLASSES, loss='rq', lr=0.05)
    assert all(isinstance(m, ConfusionMatrix) for m in task.confusion.values())
    data = RandomData(batch_size=16)
    trainer = _trainer(3)
    trainer.fit(task, datamodule=data)
    # One value per epoch: the sanity check's batch was not counted.
    assert len(task.history['train_accuracy']) == 3
    assert len(task.history['val_accuracy']) == 3
    # The epoch accuracy pools every batch (four of 16 and one of 2 samples), not
    # a mean of batch accuracies.
    dataset = data.val_dataset
    assert isinstance(dataset, TensorDictDataset)
    with torch.no_grad():
        predicted = task(dataset.tensors['image']).argmax(1)
    expected = float((predicted == dataset.tensors['label']).double().mean())
    assert task.history['val_accuracy'][-1] == pytest.approx(expected)
    assert trainer.callback_metrics['val_accuracy'] == pytest.approx(expected)
    assert task.history['val_accuracy'][-1] > 1 / CLASSES
    scores = trainer.test(task, datamodule=data, verbose=False)[0]
    test = data.test_dataset
    assert isinstance(test, TensorDictDataset)
    with torch.no_grad():
        predicted = task(test.tensors['image']).argmax(1)
    expected = float((predicted == test.tensors['label']).double().mean())
    assert scores['test_accuracy'] == pytest.approx(expected)
    assert task.history['test_accuracy'] == [pytest.approx(expected)]
    # Every split's counts were reset after its epoch.
    for metric in task.confusion.values():
        assert isinstance(metric, ConfusionMatrix)
        assert int(metric.confusion.sum()) == 0


def test_data_module_keeps_batches_as_prepared() -> None:
    data = RandomData(batch_size=32)
    data.setup('fit')
    batch = next(iter(data.train_dataloader()))
    assert batch['image'].shape == (32, FEATURES)
    assert data.on_after_batch_transfer(batch, 0) is batch
    assert len(data.val_dataloader()) == 2
    assert len(data.predict_dataloader()) == 3  # the test split

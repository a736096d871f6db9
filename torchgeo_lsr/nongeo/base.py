"""What the non-geo tasks share: in-memory data modules and classification from priors.

:class:`InMemoryDataModule` is a TorchGeo data module over ready datasets of
dictionaries (no TorchGeo augmentation: samples arrive as prepared).
:class:`PriorClassification` is a TorchGeo task that trains a classifier
``q(l | x)`` against per-instance priors with the package's losses (CE on the prior,
NLL of the union, QR, RQ; REFERENCE §1.2) and scores argmax q against true labels,
which are used for metrics only (through :class:`~torchgeo_lsr.metrics.ConfusionMatrix`:
counts pooled over batches and processes). Subclasses provide the network.
"""

from typing import Any, Literal, cast, get_args

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.datasets import NonGeoDataset
from torchgeo.tasks import BaseTask

from ..losses import QRForm, build_loss
from ..metrics import ConfusionMatrix, accuracy

__all__ = (
    'ClassificationLoss',
    'InMemoryDataModule',
    'LearningRateSchedule',
    'PriorClassification',
)

#: Losses on a prior.
ClassificationLoss = Literal['ce', 'nll_union', 'qr', 'rq']

#: Learning rate over training: constant (the paper), or cosine decay to zero.
LearningRateSchedule = Literal['constant', 'cosine']


class _NoDataset(NonGeoDataset):
    """Placeholder: the data modules build their datasets in ``setup``."""

    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise IndexError(index)


class InMemoryDataModule(NonGeoDataModule):
    """A data module whose ``setup`` assigns ``*_dataset`` of dictionaries."""

    #: Shuffle training samples every epoch.
    shuffle_train = True

    def __init__(self, batch_size: int = 256, num_workers: int = 0) -> None:
        """Initialise the data module.

        Args:
            batch_size: samples per batch.
            num_workers: data-loader workers.
        """
        super().__init__(_NoDataset, batch_size, num_workers)

    def _loader(self, dataset: Any, shuffle: bool) -> DataLoader[dict[str, Tensor]]:
        """A data loader of one split.

        Args:
            dataset: the split's dataset.
            shuffle: shuffle every epoch.

        Returns:
            The loader.
        """
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Training batches.

        Returns:
            The loader.
        """
        return self._loader(self.train_dataset, self.shuffle_train)

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Validation batches.

        Returns:
            The loader.
        """
        return self._loader(self.val_dataset, False)

    def test_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Test batches.

        Returns:
            The loader.
        """
        return self._loader(self.test_dataset, False)

    def predict_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Prediction batches (the test split).

        Returns:
            The loader.
        """
        return self._loader(self.predict_dataset or self.test_dataset, False)

    def on_after_batch_transfer(
        self, batch: dict[str, Tensor], dataloader_idx: int
    ) -> dict[str, Tensor]:
        """Keep batches as prepared (TorchGeo's default would divide by 255).

        Args:
            batch: the batch.
            dataloader_idx: index of the loader.

        Returns:
            The batch.
        """
        return batch


class PriorClassification(BaseTask):
    """Classification trained from per-instance priors; scored on true labels.

    Batches hold ``image`` (the network's input), ``prior`` (N, C) and, for
    metrics, ``label`` (N,). QR and RQ normalise class totals over the batch.
    Epoch accuracies are kept in :attr:`history` (``train_accuracy`` on the
    training batches as they were seen, ``val_accuracy``) for curves. They come
    from a confusion matrix per split in :attr:`scored_splits`, summed over the
    epoch's batches and, under DDP, over all processes.
    """

    #: Splits with a confusion matrix of argmax q against the labels.
    scored_splits: tuple[str, ...] = ('train', 'val', 'test')

    def __init__(
        self,
        num_classes: int = 10,
        loss: ClassificationLoss = 'rq',
        qr_form: QRForm = 'kl',
        prior_eps: float = 1e-9,
        lr: float = 1e-4,
        lr_schedule: LearningRateSchedule = 'constant',
    ) -> None:
        """Initialise the task.

        Args:
            num_classes: classes.
            loss: ``'ce'`` (soft cross-entropy on the prior), ``'nll_union'``,
                ``'qr'`` or ``'rq'``.
            qr_form: ``'kl'`` (the partial-labels experiments) or
                ``'free_energy'``.
            prior_eps: floor of the prior before its log (the paper: 1e-9).
            lr: learning rate of Adam.
            lr_schedule: ``'constant'`` (the paper) or ``'cosine'`` (decays to zero
                over ``max_epochs``: the same accuracy in far fewer epochs).

        Raises:
            ValueError: On an unknown loss or schedule.
        """
        if lr_schedule not in ('constant', 'cosine'):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}"
            )
        if loss not in get_args(ClassificationLoss):
            raise ValueError(
                f"loss must be 'ce', 'nll_union', 'qr' or 'rq', got {loss!r}"
            )
        super().__init__()
        self.history: dict[str, list[float]] = {
            'train_accuracy': [],
            'val_accuracy': [],
        }

    def build_network(self) -> nn.Module:
        """The network (subclasses).

        Returns:
            A module mapping ``image`` batches to (N, C) logits.
        """
        raise NotImplementedError

    def configure_models(self) -> None:
        """Build the network."""
        self.model = self.build_network()

    def configure_losses(self) -> None:
        """Build the loss."""
        self.criterion = build_loss(
            self.hparams['loss'],
            qr_form=self.hparams['qr_form'],
            eps=float(self.hparams['prior_eps']),
        )

    def configure_metrics(self) -> None:
        """A confusion matrix of argmax q per split of :attr:`scored_splits`."""
        classes = int(self.hparams['num_classes'])
        # Keyed '<split>_confusion': a bare 'train' would clash with Module.train.
        self.confusion = nn.ModuleDict(
            {
                f'{split}_confusion': ConfusionMatrix(classes)
                for split in self.scored_splits
            }
        )

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities ``log q``.

        Args:
            x: a batch of inputs.

        Returns:
            (N, C) log-probabilities.
        """
        return torch.log_softmax(self.model(x), dim=1)

    def _split_confusion(self, split: str) -> ConfusionMatrix:
        """The confusion matrix of a split of :attr:`scored_splits`."""
        return cast(ConfusionMatrix, self.confusion[f'{split}_confusion'])

    def _count(self, split: str, log_q: Tensor, label: Tensor) -> None:
        """Add a batch's predictions to a split's confusion matrix.

        Args:
            split: one of :attr:`scored_splits`.
            log_q: (N, C) log-probabilities (or any scores: argmax is taken).
            label: (N,) true classes.
        """
        self._split_confusion(split).update(log_q.argmax(1), label)

    def _epoch_confusion(self, split: str) -> Tensor | None:
        """A split's confusion counts over the epoch (then reset for the next).

        Args:
            split: one of :attr:`scored_splits`.

        Returns:
            The (C, C) counts on the CPU, pooled over all processes, or None if
            nothing was counted.
        """
        metric = self._split_confusion(split)
        if not metric.update_called:
            # No batch of this split had labels (the same on every process, so
            # all skip the collective compute together), and compute would warn.
            return None
        # On the CPU before any float64 scoring: Apple MPS has no float64.
        confusion = metric.compute().cpu().clone()
        metric.reset()
        return confusion if int(confusion.sum()) else None

    def _log_accuracy(self, split: str, value: float) -> None:
        """Log a split's epoch accuracy and keep it in :attr:`history`.

        Args:
            split: the split (the metric is ``<split>_accuracy``).
            value: the accuracy.
        """
        # The counts are already pooled over processes: nothing left to reduce.
        self.log(f'{split}_accuracy', value, sync_dist=False)
        self.history.setdefault(f'{split}_accuracy', []).append(value)

    def _epoch_accuracy(self, split: str) -> float | None:
        """A split's accuracy over the epoch, logged and kept in :attr:`history`.

        Args:
            split: one of :attr:`scored_splits`.

        Returns:
            The accuracy, or None if no labelled sample was counted.
        """
        confusion = self._epoch_confusion(split)
        if confusion is None:
            return None
        value = accuracy(confusion)
        self._log_accuracy(split, value)
        return value

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Loss on the prior; accuracy of the batch against its labels.

        Args:
            batch: ``image``, ``prior`` and ``label``.
            batch_idx: index of the batch.

        Returns:
            The loss.
        """
        log_q = self(batch['image'])
        loss: Tensor = self.criterion(log_q, batch['prior'])
        self.log('train_loss', loss, batch_size=log_q.shape[0])
        if 'label' in batch:
            self._count('train', log_q.detach(), batch['label'])
        return loss

    def on_train_epoch_end(self) -> None:
        """Log the training accuracy of the epoch."""
        self._epoch_accuracy('train')

    def _evaluate(self, batch: Any, split: str) -> None:
        """Loss and accuracy of an evaluation batch."""
        log_q = self(batch['image'])
        if 'prior' in batch:
            loss = self.criterion(log_q, batch['prior'])
            self.log(f'{split}_loss', loss, batch_size=log_q.shape[0])
        self._count(split, log_q, batch['label'])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Validation accuracy against the true labels.

        Args:
            batch: ``image``, ``label`` (and optionally ``prior``).
            batch_idx: index of the batch.
        """
        self._evaluate(batch, 'val')

    def on_validation_epoch_end(self) -> None:
        """Log the validation accuracy (not during the sanity check)."""
        if self.trainer.sanity_checking:
            self._split_confusion('val').reset()
            return
        self._epoch_accuracy('val')

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Test accuracy against the true labels.

        Args:
            batch: ``image`` and ``label``.
            batch_idx: index of the batch.
        """
        self._evaluate(batch, 'test')

    def on_test_epoch_end(self) -> None:
        """Log and print the test accuracy."""
        accuracy = self._epoch_accuracy('test')
        if accuracy is not None and self.trainer.is_global_zero:
            print(f'test accuracy: {100 * accuracy:.2f}%')

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Class probabilities.

        Args:
            batch: ``image``.
            batch_idx: index of the batch.

        Returns:
            (N, C) probabilities.
        """
        log_q: Tensor = self(batch['image'])
        return log_q.exp()

    def configure_optimizers(self) -> Any:
        """Adam, as the paper, with the learning-rate schedule.

        Returns:
            The optimiser (and scheduler).
        """
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.hparams['lr'])
        if self.hparams.get('lr_schedule', 'constant') == 'constant':
            return optimizer
        epochs = max(1, int(self.trainer.max_epochs or 1))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
        return {'optimizer': optimizer, 'lr_scheduler': scheduler}

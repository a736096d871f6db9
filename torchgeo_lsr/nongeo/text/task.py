"""The task of ``conf/nongeo/coarse_to_fine.yaml``: trigram logistic regression.

A linear layer (softmax) on trigram counts, trained against the fine-class
priors with RQ (or CE, QR, NLL of the union), scored with accuracy, micro-F1 and
macro-F1 (:func:`torchgeo_lsr.metrics.f1_scores`) on the fine labels where they
are known.
"""

from typing import Any

import torch
from torch import Tensor, nn

from ...losses import QRForm
from ...metrics import f1_scores
from ..base import ClassificationLoss, PriorClassification
from .features import TRIGRAM_FEATURES

# f1_scores lives in torchgeo_lsr.metrics; it stays importable from here.
__all__ = ('CoarseToFineClassification', 'f1_scores')


class CoarseToFineClassification(PriorClassification):
    """Logistic regression on trigram counts, trained from fine-class priors.

    Scores on the fine labels (documents without one are skipped): accuracy,
    micro-F1 and macro-F1 of argmax q (``val_*``, ``test_*``) and of the prior's
    argmax (``val_prior_*``, ``test_prior_*``, the paper's "prior, argmax" row).
    The test scores are kept in :attr:`test_scores`. All of them come from
    confusion counts pooled over the epoch's batches and, under DDP, over all
    processes (so the F1 scores are those of all documents at once, not means of
    the processes' own scores).
    """

    scored_splits = ('train', 'val', 'test', 'val_prior', 'test_prior')

    def __init__(
        self,
        num_classes: int = 6,
        in_features: int = TRIGRAM_FEATURES,
        loss: ClassificationLoss = 'rq',
        qr_form: QRForm = 'kl',
        prior_eps: float = 1e-9,
        lr: float = 0.003,
        weight_decay: float = 0.0,
        zero_init: bool = True,
    ) -> None:
        """Initialise the task.

        Args:
            num_classes: fine classes (all of the taxonomy's).
            in_features: features (17,576 trigrams).
            loss: ``'rq'`` (the paper), ``'ce'``, ``'qr'`` or ``'nll_union'``.
            qr_form: QR form, for ``loss='qr'``.
            prior_eps: floor of the prior before its log.
            lr: learning rate of Adam.
            weight_decay: L2 penalty of Adam.
            zero_init: start from zero weights (uniform q, so that RQ's first
                implied posterior is the prior itself); else PyTorch's random
                initialisation.
        """
        super().__init__(num_classes, loss, qr_form, prior_eps, lr)
        self.test_scores: dict[str, dict[str, float]] = {}

    def build_network(self) -> nn.Module:
        """Logistic regression: one linear layer (softmax in ``forward``).

        Returns:
            The network.
        """
        network = nn.Linear(self.hparams['in_features'], self.hparams['num_classes'])
        if self.hparams['zero_init']:
            # On the tiny example corpus, random starts make RQ's result depend
            # on the seed far more than the data order does.
            nn.init.zeros_(network.weight)
            nn.init.zeros_(network.bias)
        return network

    def setup(self, stage: str) -> None:
        """Check that the data module has as many classes as the model.

        Args:
            stage: the stage.

        Raises:
            ValueError: If the numbers of classes differ.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        classes = getattr(datamodule, 'num_classes', None)
        if classes is not None and classes != self.hparams['num_classes']:
            raise ValueError(
                f'the taxonomy has {classes} fine classes but the model '
                f'{self.hparams["num_classes"]}: set model num_classes: {classes}'
            )

    def _count(self, split: str, log_q: Tensor, label: Tensor) -> None:
        """Count a batch's predictions against its known fine labels.

        Args:
            split: one of :attr:`scored_splits`.
            log_q: (N, C) log q (or the prior: argmax is taken).
            label: (N,) fine labels, -1 where unknown.
        """
        known = label >= 0
        # Count even an empty selection, so every process updates its matrix.
        super()._count(split, log_q[known], label[known])

    def _evaluate(self, batch: Any, split: str) -> None:
        """Loss and scores of q, and scores of the prior's argmax."""
        super()._evaluate(batch, split)
        if 'prior' in batch:
            self._count(f'{split}_prior', batch['prior'], batch['label'])

    def _epoch_scores(self, split: str) -> dict[str, float] | None:
        """Log a split's accuracy and F1 scores of the epoch.

        Args:
            split: ``'val'``, ``'test'``, ``'val_prior'`` ...

        Returns:
            The scores, or None without labelled samples.
        """
        confusion = self._epoch_confusion(split)
        if confusion is None:
            return None
        scores = f1_scores(confusion)
        self._log_accuracy(split, scores['accuracy'])
        for name in ('micro_f1', 'macro_f1'):
            # Pooled counts: the same value on every process.
            self.log(f'{split}_{name}', scores[name], sync_dist=False)
        return scores

    def on_validation_epoch_end(self) -> None:
        """Log the validation scores (not during the sanity check)."""
        if self.trainer.sanity_checking:
            for split in ('val', 'val_prior'):
                self._split_confusion(split).reset()
            return
        self._epoch_scores('val')
        self._epoch_scores('val_prior')

    def on_test_epoch_end(self) -> None:
        """Log, keep and print the test scores of q and of the prior's argmax."""
        rows = {
            'q': self._epoch_scores('test'),
            'prior argmax': self._epoch_scores('test_prior'),
        }
        self.test_scores = {name: s for name, s in rows.items() if s is not None}
        if self.test_scores and self.trainer.is_global_zero:
            loss = str(self.hparams['loss']).upper()
            lines = [f'{"":22s} {"accuracy":>9s} {"micro-F1":>9s} {"macro-F1":>9s}']
            for name, s in self.test_scores.items():
                label = f'{loss} (q)' if name == 'q' else name
                lines.append(
                    f'{label:22s} {100 * s["accuracy"]:8.2f}% '
                    f'{100 * s["micro_f1"]:8.2f}% {100 * s["macro_f1"]:8.2f}%'
                )
            print('\n'.join(lines))

    def configure_optimizers(self) -> Any:
        """Adam with optional weight decay.

        Returns:
            The optimiser.
        """
        return torch.optim.Adam(
            self.model.parameters(),
            lr=self.hparams['lr'],
            weight_decay=self.hparams['weight_decay'],
        )

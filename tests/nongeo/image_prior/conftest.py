"""Fixtures of the image-prior tests: one torch thread, the coffee crop's files."""

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from tests.nongeo.image_prior.common import CROP, DATA, save_png
from torchgeo_lsr.nongeo.image_prior import load_image


@pytest.fixture(autouse=True, scope='module')
def _one_thread() -> Iterator[None]:
    # Tiny tensors: on a busy 2-core machine waking a second thread costs more
    # than it saves.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def crop_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A 128 x 128 crop of the coffee photo with its prior and labels, as PNGs."""
    root = tmp_path_factory.mktemp('coffee_crop')
    image = (load_image('skimage:coffee').numpy().transpose(1, 2, 0) * 255).round()
    prior = np.asarray(Image.open(DATA / 'coffee_prior.png'))
    labels = np.asarray(Image.open(DATA / 'coffee_labels.png'))
    return {
        'image': save_png(root / 'image.png', image.astype(np.uint8)[CROP]),
        'prior': save_png(root / 'prior.png', prior[CROP]),
        'labels': save_png(root / 'labels.png', labels[CROP]),
    }

"""Paths, the crop of the coffee photo, and helpers of the image-prior tests."""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from PIL import Image

from torchgeo_lsr.nongeo.image_prior import ImagePriorDataModule

ROOT = Path(__file__).parents[3]
DATA = ROOT / 'torchgeo_lsr' / 'nongeo' / 'data'
CONFIG = ROOT / 'conf' / 'nongeo' / 'image_prior.yaml'

#: The crop of the coffee photo the short runs train on: the saucer's left edge on
#: the table, mostly inside the prior's ring where both are allowed (yellow).
CROP = (slice(150, 278), slice(20, 148))


def save_png(path: Path, array: np.ndarray) -> str:
    """Write an array as a PNG.

    Args:
        path: the file.
        array: (H, W) or (H, W, C) uint8 pixels.

    Returns:
        The path, as a string.
    """
    Image.fromarray(array).save(path)
    return str(path)


def make_datamodule(files: dict[str, str], **kwargs: Any) -> ImagePriorDataModule:
    """A small data module on the crop's files (20 steps of 8 patches of 32 px).

    Args:
        files: ``image``, ``prior`` and ``labels`` paths.
        **kwargs: options overriding the defaults.

    Returns:
        The data module.
    """
    options: dict[str, Any] = {
        'patch_size': 32,
        'batch_size': 8,
        'iterations_per_epoch': 20,
        'seed': 0,
    }
    options.update(kwargs)
    return ImagePriorDataModule(
        files['image'], files['prior'], labels=files['labels'], **options
    )


def make_trainer(tmp_path: Path, **kwargs: Any) -> pl.Trainer:
    """A quiet CPU trainer writing into ``tmp_path``.

    Args:
        tmp_path: the root folder.
        **kwargs: options overriding the defaults.

    Returns:
        The trainer.
    """
    options: dict[str, Any] = {
        'accelerator': 'cpu',
        'logger': False,
        'enable_checkpointing': False,
        'enable_progress_bar': False,
        'enable_model_summary': False,
        'default_root_dir': tmp_path,
    }
    options.update(kwargs)
    return pl.Trainer(**options)

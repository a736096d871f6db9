"""Shared pieces of the export tests: the data module, reading rasters, a whole-tile pass."""

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch

from tests.conftest import TinyScene
from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.tasks import LSRSegmentation


def datamodule(scene: TinyScene, **kwargs: Any) -> LSRDataModule:
    options: dict[str, Any] = {
        'image_paths': scene.naip,
        'coarse_paths': scene.nlcd,
        'label_paths': scene.lc,
        'cooccurrence': scene.cooccurrence,
        'prior_sigma': 8.0,
        'prior_kernel_size': 25,
        'patch_size': 48,
        'eval_patch_size': 64,
        'batch_size': 4,
    }
    options.update(kwargs)
    return LSRDataModule(**options)


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def whole_tile(
    task: LSRSegmentation, dm: LSRDataModule, scene: TinyScene
) -> dict[str, torch.Tensor]:
    """The network over the whole tile in one forward pass, and its prior."""
    dm.setup('predict')
    x, y, _ = dm.predict_dataset.bounds
    size = scene.size
    sample = dm.predict_dataset[x.start : x.start + size, y.stop - size : y.stop]
    task.eval()
    with torch.no_grad():
        return task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )

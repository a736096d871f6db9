"""The image-prior data module: random patches for training, the whole image else."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.nongeo.image_prior.common import make_datamodule, save_png
from torchgeo_lsr.nongeo.image_prior import (
    ImagePatches,
    ImagePriorData,
    ImagePriorDataModule,
    position_grid,
)


def test_datamodule_batches(crop_files: dict[str, str]) -> None:
    datamodule = make_datamodule(crop_files)
    assert datamodule.num_classes == 3
    datamodule.setup('fit')
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) == {'image', 'position', 'prior'}
    assert batch['image'].shape == (8, 3, 32, 32)
    assert batch['position'].shape == (8, 2, 32, 32)
    assert batch['prior'].shape == (8, 3, 32, 32)
    assert len(datamodule.train_dataloader()) == 20
    # Positions are relative to the whole image and point at the patch's pixels.
    data = datamodule.load()
    position = batch['position']
    assert float(position.min()) >= 0
    assert float(position.max()) <= 1
    rows = (position[:, 0] * 127).round().long()
    cols = (position[:, 1] * 127).round().long()
    torch.testing.assert_close(
        batch['image'], data.image[:, rows, cols].permute(1, 0, 2, 3)
    )
    torch.testing.assert_close(
        batch['prior'], data.prior[:, rows, cols].permute(1, 0, 2, 3)
    )
    # The batch is left as it is after the transfer (no division by 255).
    assert datamodule.on_after_batch_transfer(batch, 0) is batch
    # Whole image for validation, with its labels.
    whole = next(iter(datamodule.val_dataloader()))
    assert whole['image'].shape == (1, 3, 128, 128)
    assert whole['mask'].shape == (1, 128, 128)
    assert float(whole['image'].max()) > 0.5  # still in [0, 1], not / 255
    torch.testing.assert_close(whole['position'][0], position_grid(128, 128))


def test_patches_are_seeded() -> None:
    data = ImagePriorData(
        torch.rand(3, 40, 50), position_grid(40, 50), torch.full((3, 40, 50), 1 / 3)
    )

    def tops(dataset: ImagePatches) -> list[float]:
        return [float(dataset[i]['position'][0, 0, 0]) for i in range(20)]

    first = tops(ImagePatches(data, 8, 20, seed=1))
    assert first == tops(ImagePatches(data, 8, 20, seed=1))
    assert first != tops(ImagePatches(data, 8, 20, seed=2))
    # The stream goes on: a second epoch draws other patches.
    dataset = ImagePatches(data, 8, 20, seed=1)
    assert tops(dataset) != tops(dataset)
    with pytest.raises(IndexError):
        dataset[20]
    with pytest.raises(ValueError, match='does not fit'):
        ImagePatches(data, 41, 20, seed=1)


def test_datamodule_errors(tmp_path: Path, crop_files: dict[str, str]) -> None:
    with pytest.raises(FileNotFoundError, match='prior'):
        ImagePriorDataModule(crop_files['image'], str(tmp_path / 'missing.png'))
    with pytest.raises(FileNotFoundError, match='image'):
        ImagePriorDataModule(str(tmp_path / 'missing.png'), crop_files['prior'])
    with pytest.raises(ValueError, match='patch_size'):
        ImagePriorDataModule(crop_files['image'], crop_files['prior'], patch_size=0)
    small = save_png(tmp_path / 'small.png', np.zeros((100, 128, 3), np.uint8))
    datamodule = ImagePriorDataModule(crop_files['image'], small)
    with pytest.raises(ValueError, match=r'100x128 px .* 128x128 px'):
        datamodule.setup('fit')
    with pytest.raises(ValueError, match='does not fit'):
        make_datamodule(crop_files, patch_size=129).setup('fit')

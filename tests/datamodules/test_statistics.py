"""Image statistics of the training imagery, laid out over the input channels."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.datamodules.two_tiles import X0, Y0, datamodule, write
from torchgeo_lsr.datamodules.statistics import channel_statistics, imagery_statistics


def test_image_statistics(scene: Path) -> None:
    dm = datamodule(scene)
    pixels = []
    for path in sorted((scene / 'naip').glob('*.tif')):
        with rasterio.open(path) as src:
            data = src.read().reshape(4, -1).astype(np.float64) / 255
        pixels.append(data[:, (data > 0).any(0)])  # the nodata corner is left out
    values = np.concatenate(pixels, 1)
    # Small rasters are read whole: the statistics are exact.
    mean, std = dm.image_statistics()
    np.testing.assert_allclose(mean, values.mean(1), rtol=1e-5)
    np.testing.assert_allclose(std, values.std(1), rtol=1e-5)
    # Larger ones are sampled in windows spread over each file.
    mean, std = dm.image_statistics(max_pixels=20_000)
    np.testing.assert_allclose(mean, values.mean(1), rtol=0.05)
    np.testing.assert_allclose(std, values.std(1), rtol=0.05)


def test_channel_statistics_layout() -> None:
    mean, std = np.array([0.5, 0.25]), np.array([0.1, 0.2])
    same = channel_statistics(mean, std, ['imagery'], 5)
    assert same[0] is mean
    assert same[1] is std
    means, stds = channel_statistics(mean, std, ['prior', 'roads', 'imagery'], 3)
    np.testing.assert_array_equal(means, [0, 0, 0, 0, 0.5, 0.25])
    np.testing.assert_array_equal(stds, [1, 1, 1, 1, 0.1, 0.2])


def test_imagery_statistics_refuses_mixed_or_empty_imagery(tmp_path: Path) -> None:
    three = write(tmp_path / 'three.tif', np.ones((3, 8, 8), np.uint8), X0, Y0)
    four = write(tmp_path / 'four.tif', np.ones((4, 8, 8), np.uint8), X0, Y0)
    with pytest.raises(ValueError, match='has 4 bands, other imagery files 3'):
        imagery_statistics([str(three), str(four)])
    empty = write(tmp_path / 'empty.tif', np.zeros((3, 8, 8), np.uint8), X0, Y0)
    with pytest.raises(ValueError, match='no valid pixel'):
        imagery_statistics([str(empty)])
    # A constant band is left unscaled (std 1), in the samples' units.
    mean, std = imagery_statistics([str(three)], image_scale=2.0, image_nodata=None)
    np.testing.assert_allclose(mean, [0.5, 0.5, 0.5])
    np.testing.assert_allclose(std, [1.0, 1.0, 1.0])


def test_image_statistics_of_the_data_module_read_the_training_tiles(
    scene: Path,
) -> None:
    dm = datamodule(scene, split='tiles', test_tiles=['tile_1'])
    mean, _ = dm.image_statistics()
    expected, _ = imagery_statistics([str(scene / 'naip' / 'tile_0.tif')])
    np.testing.assert_allclose(mean.numpy(), expected, rtol=1e-6)

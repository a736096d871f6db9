"""Reading images, priors and labels of the image-prior task; positions, colours."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from tests.nongeo.image_prior.common import DATA, save_png
from torchgeo_lsr.nongeo.image_prior import (
    class_colours,
    load_image,
    load_labels,
    load_prior_image,
    position_grid,
)


def test_prior_colours_become_allowed_classes(tmp_path: Path) -> None:
    # One pixel of each colour a hand-drawn prior uses, and black (no class).
    colours = np.array(
        [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [0, 255, 255],
            [255, 0, 255],
            [255, 255, 255],
            [0, 0, 0],
        ],
        dtype=np.uint8,
    )
    path = save_png(tmp_path / 'prior.png', colours[None])
    prior = load_prior_image(path)
    assert prior.shape == (3, 1, 8)
    assert prior.dtype == torch.float32
    torch.testing.assert_close(prior.sum(0), torch.ones(1, 8))
    # REFERENCE §4.4: sky only -> (0.75, 0.125, 0.125); all three -> uniform.
    torch.testing.assert_close(prior[:, 0, 0], torch.tensor([0.75, 0.125, 0.125]))
    two = torch.tensor([1.2, 1.2, 0.2]) / 2.6
    torch.testing.assert_close(prior[:, 0, 3], two)
    torch.testing.assert_close(prior[:, 0, 6], torch.full((3,), 1 / 3))
    torch.testing.assert_close(prior[:, 0, 7], torch.full((3,), 1 / 3))
    # The classes of highest prior are the painted channels (all, if none is).
    allowed = prior >= prior.amax(0, keepdim=True) * (1 - 1e-4)
    painted = torch.from_numpy(colours.T[:, None] > 0)
    painted[:, 0, 7] = True
    assert torch.equal(allowed, painted)


def test_prior_smoothing() -> None:
    path = DATA / 'coffee_prior.png'
    hard = load_prior_image(path, smoothing=0)
    values = {round(value, 6) for value in torch.unique(hard).tolist()}
    assert values <= {0.0, round(1 / 3, 6), 0.5, 1.0}
    soft = load_prior_image(path, smoothing=1.0)
    # More smoothing: closer to uniform, same ordering of the classes.
    assert float(soft.max()) < float(load_prior_image(path).max()) < 1
    assert torch.equal(soft.argmax(0), hard.argmax(0))


def test_prior_with_more_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    channels = (rng.random((5, 6, 7)) > 0.5).astype(np.float32)
    np.save(tmp_path / 'prior.npy', channels)
    prior = load_prior_image(tmp_path / 'prior.npy')
    assert prior.shape == (5, 6, 7)
    expected = (channels + 0.2) / (channels + 0.2).sum(0, keepdims=True)
    torch.testing.assert_close(prior, torch.from_numpy(expected))
    # The same as a 5-band GeoTIFF.
    profile = {'driver': 'GTiff', 'width': 7, 'height': 6, 'count': 5}
    profile['transform'] = from_origin(0, 6, 1, 1)
    with rasterio.open(tmp_path / 'prior.tif', 'w', dtype='float32', **profile) as f:
        f.write(channels)
    torch.testing.assert_close(load_prior_image(tmp_path / 'prior.tif'), prior)
    # Four channels in a PNG: RGBA, four classes.
    rgba = save_png(tmp_path / 'rgba.png', np.full((2, 3, 4), 255, dtype=np.uint8))
    assert load_prior_image(rgba).shape == (4, 2, 3)


def test_prior_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r'missing\.png'):
        load_prior_image(tmp_path / 'missing.png')
    grey = save_png(tmp_path / 'grey.png', np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match='one channel per class'):
        load_prior_image(grey)
    np.save(tmp_path / 'big.npy', np.full((3, 2, 2), 2.0))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        load_prior_image(tmp_path / 'big.npy')
    black = save_png(tmp_path / 'black.png', np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match='allowing no class'):
        load_prior_image(black, smoothing=0)
    with pytest.raises(ValueError, match='smoothing'):
        load_prior_image(black, smoothing=-1)


def test_images_and_labels(tmp_path: Path) -> None:
    coffee = load_image('skimage:coffee')
    assert coffee.shape == (3, 400, 600)
    assert 0 <= float(coffee.min()) < float(coffee.max()) <= 1
    with pytest.raises(ValueError, match='ships with scikit-image'):
        load_image('skimage:eagle')
    with pytest.raises(FileNotFoundError):
        load_image(str(tmp_path / 'missing.jpg'))
    grey = load_image(save_png(tmp_path / 'grey.png', np.full((2, 3), 51, np.uint8)))
    torch.testing.assert_close(grey, torch.full((3, 2, 3), 0.2))
    # Labels: colours coded like the prior (ambiguous pixels unlabelled) ...
    colours = np.array([[[255, 0, 0], [0, 0, 255], [255, 255, 0]]], dtype=np.uint8)
    labels = load_labels(save_png(tmp_path / 'labels.png', colours), 3)
    assert labels.tolist() == [[0, 2, 3]]
    with pytest.raises(ValueError, match='num_classes=4'):
        load_labels(tmp_path / 'labels.png', 4)
    # ... or class indices, values beyond the classes unlabelled.
    index = save_png(tmp_path / 'index.png', np.array([[0, 1, 2, 255]], np.uint8))
    assert load_labels(index, 3).tolist() == [[0, 1, 2, 3]]


def test_position_grid() -> None:
    grid = position_grid(3, 5)
    assert grid.shape == (2, 3, 5)
    torch.testing.assert_close(grid[0, :, 0], torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(grid[1, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_class_colours() -> None:
    assert class_colours(3).tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    many = class_colours(7)
    assert many.shape == (7, 3)
    assert len({tuple(c) for c in many.tolist()}) == 7

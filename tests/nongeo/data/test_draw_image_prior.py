"""The script that draws the bundled coffee prior and labels."""

import importlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.nongeo.image_prior.common import DATA
from torchgeo_lsr.nongeo.image_prior import load_labels, load_prior_image


def test_bundled_prior_is_the_scripts_drawing(tmp_path: Path) -> None:
    script = importlib.import_module('torchgeo_lsr.nongeo.data.draw_image_prior')
    for name, draw in (
        ('coffee_prior.png', script.draw_coffee_prior),
        ('coffee_labels.png', script.draw_coffee_labels),
    ):
        assert np.array_equal(np.asarray(Image.open(DATA / name)), draw())
    assert script.main(['--out', str(tmp_path)]) == 0
    assert (tmp_path / 'coffee_prior.png').is_file()
    # The rough prior always allows the true class, and is ambiguous on a good
    # part of the photo.
    prior = load_prior_image(DATA / 'coffee_prior.png')
    labels = load_labels(DATA / 'coffee_labels.png', 3)
    assert prior.shape == (3, 400, 600)
    allowed = prior >= prior.amax(0, keepdim=True) * (1 - 1e-4)
    assert bool(allowed.gather(0, labels[None]).all())
    assert 0.3 < float((allowed.sum(0) > 1).double().mean()) < 0.6

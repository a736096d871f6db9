"""Segmenting one image from a hand-drawn prior (the paper's Le Séducteur example).

A person paints a rough *prior image* over a picture: one channel per class (in a
PNG, red, green and blue mark classes 0, 1 and 2), each 0 or 255, and a pixel may
allow one, two or all three classes (yellow = classes 0 or 1, white = any class).
A small position-aware CNN ``q`` is then fitted to that single image with the RQ
loss (or QR), and the implied posterior ``r`` (eq. 3, with the class totals over
the whole image) resolves the painted ambiguities from the image itself
(REFERENCE §4.4; ICLR E.4 / UAI F.4):

* prior ``p = normalise(channels / 255 + 0.2)``; the training target adds 1e-6
  and renormalises (:func:`load_prior_image`, :class:`ImagePriorSegmentation`);
* the network (:class:`PositionAwareCNN`, 39,567 parameters for 3 classes) sees
  11 x 11 pixels of colour plus the pixel's position in the image;
* training batches are random 64 x 64 patches of the image with their position
  grids (:class:`ImagePriorDataModule`); 5 px are cropped from each border before
  the loss;
* validation, test and prediction run the whole image at once; test and predict
  write the class maps of ``q`` and ``r`` as PNGs.

Usage (``conf/nongeo/image_prior.yaml`` holds the coffee-cup example that ships
with the package)::

    torchgeo-lsr fit --config conf/nongeo/image_prior.yaml
    torchgeo-lsr test --config conf/nongeo/image_prior.yaml --ckpt_path <last.ckpt>

The data module reads the image, the prior and the optional label image (for
scores only); the task reads no file and writes only the maps.
"""

from .data import ImagePatches, ImagePriorData, ImagePriorDataModule, ImagePriorWhole
from .io import (
    PRIOR_SMOOTHING,
    SKIMAGE_IMAGES,
    TARGET_SMOOTHING,
    class_colours,
    colourise,
    load_image,
    load_labels,
    load_prior_image,
    position_grid,
)
from .network import PositionAwareCNN
from .task import ImagePriorSegmentation, LossName

__all__ = (
    'PRIOR_SMOOTHING',
    'SKIMAGE_IMAGES',
    'TARGET_SMOOTHING',
    'ImagePatches',
    'ImagePriorData',
    'ImagePriorDataModule',
    'ImagePriorSegmentation',
    'ImagePriorWhole',
    'LossName',
    'PositionAwareCNN',
    'class_colours',
    'colourise',
    'load_image',
    'load_labels',
    'load_prior_image',
    'position_grid',
)

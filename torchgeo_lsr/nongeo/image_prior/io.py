"""Reading images, hand-drawn priors and labels; position grids and class colours."""

import colorsys
import warnings
from pathlib import Path
from typing import cast

import numpy as np
import rasterio
import torch
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning
from torch import Tensor

__all__ = (
    'PRIOR_SMOOTHING',
    'SKIMAGE_IMAGES',
    'TARGET_SMOOTHING',
    'class_colours',
    'colourise',
    'load_image',
    'load_labels',
    'load_prior_image',
    'position_grid',
)

#: Added to the 0/1 prior channels before normalising (the paper's notebook).
PRIOR_SMOOTHING = 0.2

#: Added to the normalised prior (and renormalised) for the training target.
TARGET_SMOOTHING = 1e-6

#: scikit-image sample images that ship inside its wheel, so ``'skimage:<name>'``
#: never needs a download (the others are fetched on first use, which we refuse).
SKIMAGE_IMAGES = (
    'astronaut',
    'brick',
    'camera',
    'cat',
    'chelsea',
    'coffee',
    'coins',
    'colorwheel',
    'grass',
    'gravel',
    'horse',
    'hubble_deep_field',
    'immunohistochemistry',
    'logo',
    'microaneurysms',
    'moon',
    'page',
    'retina',
    'rocket',
    'text',
)

_SKIMAGE_PREFIX = 'skimage:'

#: Suffixes read as channel-first arrays rather than as pictures.
_ARRAY_SUFFIXES = ('.npy', '.tif', '.tiff')


def _existing(path: str | Path, what: str) -> Path:
    """Check that a file exists.

    Args:
        path: the file.
        what: what it is, for the message.

    Returns:
        The path.

    Raises:
        FileNotFoundError: If there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} {path} does not exist')
    return path


def _check_image_source(image: str) -> None:
    """Check an image argument without reading the image.

    Args:
        image: a file, or ``'skimage:<name>'``.

    Raises:
        ValueError: For a scikit-image name that does not ship offline.
        FileNotFoundError: If the file does not exist.
    """
    if image.startswith(_SKIMAGE_PREFIX):
        name = image.removeprefix(_SKIMAGE_PREFIX)
        if name not in SKIMAGE_IMAGES:
            raise ValueError(
                f'unknown scikit-image sample {name!r}: use one that ships with '
                f'scikit-image ({", ".join(SKIMAGE_IMAGES)}) or a file path'
            )
    else:
        _existing(image, 'image')


def _read_picture(path: Path) -> np.ndarray:
    """Read a picture file as (H, W) or (H, W, channels), palette images as RGB.

    Args:
        path: the file (PNG, JPEG, ...).

    Returns:
        The pixel array.

    Raises:
        ValueError: If the file is not a picture Pillow can read.
    """
    try:
        with Image.open(path) as picture:
            if picture.mode in ('P', 'PA'):
                # A palette stores colours by index; the colours mark the classes.
                converted = picture.convert('RGBA' if picture.mode == 'PA' else 'RGB')
                return np.asarray(converted)
            return np.asarray(picture)
    except OSError as error:
        raise ValueError(f'cannot read {path} as an image: {error}') from None


def _read_bands(path: Path) -> np.ndarray:
    """Read a channel-first array file: ``.npy`` as it is, GeoTIFF bands.

    Args:
        path: the file.

    Returns:
        (H, W) or (C, H, W) array.
    """
    if path.suffix.lower() == '.npy':
        return np.asarray(np.load(path, allow_pickle=False))
    with warnings.catch_warnings():
        # A prior drawn for a picture has no georeference, and needs none.
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(path) as source:
            bands = np.asarray(source.read())
    return bands[0] if bands.shape[0] == 1 else bands


def _unit_range(array: np.ndarray, path: Path | str) -> np.ndarray:
    """Scale integers by their type's maximum; check that floats are in [0, 1].

    Args:
        array: pixel values.
        path: their source, for messages.

    Returns:
        float64 values in [0, 1].

    Raises:
        ValueError: If values are not finite or fall outside [0, 1].
    """
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if np.issubdtype(array.dtype, np.integer):
        # 8-bit pictures (the prior PNGs) store 0/255; other integers scale alike.
        return array.astype(np.float64) / float(np.iinfo(array.dtype).max)
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f'{path} holds NaN or infinite values')
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        raise ValueError(
            f'{path} holds values in [{low:g}, {high:g}]; float images and priors '
            'must be in [0, 1]'
        )
    return values


def load_image(image: str) -> Tensor:
    """Read an RGB image as floats in [0, 1].

    Grey images are repeated over the three channels, and an alpha channel is
    dropped.

    Args:
        image: an image file Pillow reads (PNG, JPEG, TIFF, ...), or
            ``'skimage:<name>'`` for a scikit-image sample of
            :data:`SKIMAGE_IMAGES` (e.g. ``'skimage:coffee'``).

    Returns:
        (3, H, W) float32 tensor.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: For an unknown sample name or a file that is no image.
    """
    _check_image_source(image)
    array: np.ndarray
    if image.startswith(_SKIMAGE_PREFIX):
        # scikit-image is optional (the nongeo extra): only its samples need it.
        import skimage.data

        loader = getattr(skimage.data, image.removeprefix(_SKIMAGE_PREFIX))
        array = np.asarray(loader())
    else:
        path = Path(image)
        try:
            with Image.open(path) as picture:
                array = np.asarray(picture.convert('RGB'))
        except OSError as error:
            raise ValueError(f'cannot read {path} as an image: {error}') from None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f'{image} is not an RGB image (shape {array.shape})')
    values = _unit_range(array[..., :3], image)
    return torch.from_numpy(values.transpose(2, 0, 1).astype(np.float32))


def load_prior_image(path: str | Path, smoothing: float = PRIOR_SMOOTHING) -> Tensor:
    """Read a hand-drawn prior: one channel per class, as probabilities.

    ``p = normalise(channels + smoothing)`` over classes, with the channels scaled
    to [0, 1] (0/255 in a PNG). With the default 0.2, a pixel allowing one of three
    classes gets (0.75, 0.125, 0.125), two classes (0.46, 0.46, 0.08), and a
    pixel allowing all or none of them the uniform prior.

    Args:
        path: a picture with one channel per class (an RGB PNG for three classes,
            RGBA for four, LA for two; palette images are read as RGB), or a
            (C, H, W) ``.npy`` array or multi-band GeoTIFF (``.tif``) for any C;
            floats must be in [0, 1].
        smoothing: added to every channel before normalising (>= 0).

    Returns:
        (C, H, W) float32 probabilities.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file has fewer than two channels, values outside
            [0, 1], or (with ``smoothing=0``) pixels allowing no class.
    """
    if smoothing < 0:
        raise ValueError(f'smoothing must be >= 0, got {smoothing}')
    path = _existing(path, 'prior')
    if path.suffix.lower() in _ARRAY_SUFFIXES:
        array = _read_bands(path)
    else:
        # Pictures store channels last.
        array = _read_picture(path)
        if array.ndim == 3:
            array = array.transpose(2, 0, 1)
    if array.ndim != 3 or array.shape[0] < 2:
        raise ValueError(
            f'the prior {path} has shape {array.shape}: it needs one channel per '
            'class (at least 2), e.g. an RGB PNG for 3 classes'
        )
    values = _unit_range(array, path) + smoothing
    total = values.sum(0, keepdims=True)
    if (total <= 0).any():
        raise ValueError(
            f'the prior {path} has {int((total <= 0).sum())} pixels allowing no '
            'class; use smoothing > 0'
        )
    return torch.from_numpy((values / total).astype(np.float32))


def load_labels(path: str | Path, num_classes: int) -> Tensor:
    """Read a label image (for scores only).

    Either one class index per pixel (a grey or palette PNG, or a (H, W)
    ``.npy`` / ``.tif``; values >= ``num_classes``, e.g. 255, are unlabelled), or a
    colour picture coded like the prior with exactly one channel set per labelled
    pixel (pixels with none or several set are unlabelled).

    Args:
        path: the label file.
        num_classes: number of classes.

    Returns:
        (H, W) int64 labels; unlabelled pixels hold ``num_classes``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If a colour label image has a channel count other than
            ``num_classes``, or the array is neither 2-D nor 3-D.
    """
    path = _existing(path, 'label image')
    channels_last = path.suffix.lower() not in _ARRAY_SUFFIXES
    if not channels_last:
        array = _read_bands(path)
    else:
        try:
            with Image.open(path) as picture:
                # Palette images hold class indices here, not colours.
                array = np.asarray(picture)
        except OSError as error:
            raise ValueError(f'cannot read {path} as an image: {error}') from None
    if array.ndim == 2:
        labels = np.asarray(array, dtype=np.int64)
        labels[(labels < 0) | (labels >= num_classes)] = num_classes
        return torch.from_numpy(labels)
    if array.ndim != 3:
        raise ValueError(f'the label image {path} has shape {array.shape}')
    onehot = array.transpose(2, 0, 1) if channels_last else array
    if onehot.shape[0] != num_classes:
        raise ValueError(
            f'the colour label image {path} has {onehot.shape[0]} channels but '
            f'there are num_classes={num_classes} classes'
        )
    on = _unit_range(onehot, path) >= 0.5
    labels = np.where(on.sum(0) == 1, on.argmax(0), num_classes).astype(np.int64)
    return torch.from_numpy(labels)


def position_grid(height: int, width: int) -> Tensor:
    """Each pixel's (row, column) in the image, scaled to [0, 1].

    Args:
        height: image height.
        width: image width.

    Returns:
        (2, H, W) float32 tensor: rows, then columns.
    """
    rows = torch.arange(height, dtype=torch.float32) / max(height - 1, 1)
    cols = torch.arange(width, dtype=torch.float32) / max(width - 1, 1)
    grid = torch.meshgrid(rows, cols, indexing='ij')
    return torch.stack(grid)


def class_colours(num_classes: int) -> np.ndarray:
    """Colours of the classes in class maps.

    Classes 0, 1 and 2 are red, green and blue, as in the prior PNGs; further
    classes get evenly spaced, paler hues.

    Args:
        num_classes: number of classes.

    Returns:
        (num_classes, 3) uint8 RGB colours.
    """
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][:num_classes]
    extra = num_classes - len(colours)
    for index in range(extra):
        rgb = colorsys.hsv_to_rgb((index + 0.5) / extra, 0.55, 0.9)
        colours.append(cast(tuple[int, int, int], tuple(round(255 * c) for c in rgb)))
    return np.array(colours, dtype=np.uint8).reshape(num_classes, 3)


def colourise(classes: Tensor, colours: np.ndarray) -> np.ndarray:
    """Paint a class map.

    Args:
        classes: (H, W) class indices.
        colours: (C, 3) colours, from :func:`class_colours`.

    Returns:
        (H, W, 3) uint8 RGB picture.
    """
    painted: np.ndarray = colours[classes.detach().cpu().numpy()]
    return painted

"""Score map rasters against label rasters: ``torchgeo-lsr evaluate``.

Any class map can be scored, not only ours: the labels are read onto the map's
grid (warped with nearest resampling when the grids differ), window by window, and
both are turned into class indices of one scheme; the scores come from
:mod:`torchgeo_lsr.metrics`, as the task's ``test`` scores do.

Which pixels count: those whose label is a class of the scheme. Labels that are the
scheme's nodata or ignored codes, the label raster's own nodata, or outside the
label raster are not scored (outside pixels are masked, never read as a code). A
label code the scheme does not know is refused (the labels are in another
encoding). Over a scored label, a map pixel without a class (the map's nodata, or a
code its scheme marks nodata or ignored) is an error of the map: it counts as wrong
(``unpredicted``), not as left out. A map code its scheme does not know, or a value
that is not a class index, is refused.
"""

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from .grid import check_overlap, iter_blocks
from .io import check_class_raster, open_raster
from .metrics import confusion_matrix, segmentation_scores
from .schemes import ClassScheme, get_scheme

__all__ = ('check_class_raster', 'evaluate_maps')

PathLike = str | os.PathLike[str]


def _map_indices(
    values: np.ndarray,
    missing: np.ndarray,
    map_scheme: ClassScheme | None,
    classes: int,
    source: str,
) -> np.ndarray:
    """Class indices of map values (-1 where the map has no class).

    Args:
        values: map values of a window.
        missing: where the map has no value (its nodata).
        map_scheme: scheme of the map's codes (None: the values are indices).
        classes: number of classes.
        source: the map, for messages.

    Returns:
        int64 class indices; -1 for the map's nodata and for codes its scheme
        marks nodata or ignored.

    Raises:
        ValueError: If a map value is no class index (without a scheme) or a code
            its scheme does not know.
    """
    if map_scheme is not None:
        map_scheme.check_codes(values[~missing], source, 'map_scheme (--map-scheme)')
        indices = map_scheme.to_index(np.where(missing, 0, values)).astype(np.int64)
        return np.where(missing, -1, indices)
    bad = ~missing & ((values < 0) | (values >= classes) | (values != values // 1))
    if bad.any():
        raise ValueError(
            f'{source}: values {sorted(set(values[bad].tolist()))[:5]} are not class '
            f'indices 0..{classes - 1}: set map_scheme (--map-scheme) to the scheme '
            'of its codes'
        )
    return np.where(missing, -1, np.where(missing, 0, values).astype(np.int64))


def evaluate_maps(
    pairs: Sequence[tuple[PathLike, PathLike]],
    scheme: ClassScheme | str,
    map_scheme: ClassScheme | str | None = None,
    window: int = 2048,
) -> dict[str, Any]:
    """Pooled scores of class maps against labels.

    Args:
        pairs: (map raster, label raster) pairs; the scores pool all of them.
        scheme: scheme of the label codes (its classes are the scored classes).
        map_scheme: scheme of the map's codes; None: the map holds class indices
            of ``scheme`` (as exported maps do).
        window: block side for reading.

    Returns:
        Scores as :func:`~torchgeo_lsr.metrics.segmentation_scores` gives them,
        with ``unpredicted``: labelled pixels the map has no class for (counted
        wrong).

    Raises:
        FileNotFoundError: If a raster does not exist.
        ValueError: If a pair does not overlap, the schemes do not agree, or a
            raster holds codes its scheme does not know.
    """
    scheme = get_scheme(scheme)
    mapped = None if map_scheme is None else get_scheme(map_scheme)
    if mapped is not None and list(mapped.names) != list(scheme.names):
        raise ValueError(
            f'the map scheme {mapped.name!r} has classes {list(mapped.names)}, the '
            f'labels {list(scheme.names)}'
        )
    total = np.zeros((scheme.num_classes, scheme.num_classes), np.int64)
    unpredicted = np.zeros(scheme.num_classes, np.int64)
    for map_path, label_path in pairs:
        counts, missed = _pair_confusion(map_path, label_path, scheme, mapped, window)
        total += counts
        unpredicted += missed
    return segmentation_scores(total, scheme.names, unpredicted)


def _pair_confusion(
    map_path: PathLike,
    label_path: PathLike,
    scheme: ClassScheme,
    map_scheme: ClassScheme | None,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Confusion counts of one map against its labels, block by block.

    Args:
        map_path: the class map.
        label_path: the labels (read onto the map's grid when the grids differ).
        scheme: scheme of the label codes.
        map_scheme: scheme of the map's codes (None: class indices).
        window: block side for reading.

    Returns:
        (classes, classes) int64 counts, true by predicted, and the (classes,)
        counts of labelled pixels the map has no class for, by true class.

    Raises:
        FileNotFoundError: If a raster does not exist.
        ValueError: If the rasters do not overlap, or hold codes their schemes do
            not know.
    """
    classes = scheme.num_classes
    total = np.zeros((classes, classes), np.int64)
    missed = np.zeros(classes, np.int64)
    with (
        open_raster(map_path, 'map raster (--pred)') as prediction,
        open_raster(label_path, 'label raster (--labels)') as labels,
    ):
        check_class_raster(prediction, 'map raster (--pred)')
        check_class_raster(labels, 'label raster (--labels)')
        check_overlap(
            prediction.bounds,
            labels.bounds,
            first_name=f'the map {map_path}',
            second_name=f'the labels {label_path}',
            first_crs=prediction.crs,
            second_crs=labels.crs,
            plural=True,
        )
        with _labels_on_map_grid(labels, prediction) as source:
            for block in iter_blocks(prediction.height, prediction.width, window):
                predicted = _map_indices(
                    prediction.read(1, window=block.window),
                    prediction.read_masks(1, window=block.window) == 0,
                    map_scheme,
                    classes,
                    f'map raster {map_path}',
                )
                truth = _label_indices(
                    source, block.window, scheme, f'label raster {label_path}'
                )
                scored = truth >= 0
                hit = scored & (predicted >= 0)
                total += confusion_matrix(predicted[hit], truth[hit], classes).numpy()
                missed += np.bincount(
                    truth[scored & (predicted < 0)], minlength=classes
                )
    return total, missed


def _label_indices(
    source: Any, window: Any, scheme: ClassScheme, name: str
) -> np.ndarray:
    """Class indices of a window of labels (-1 where not scored).

    Args:
        source: the labels on the map's grid.
        window: the window to read.
        scheme: scheme of the label codes.
        name: the label raster, for messages.

    Returns:
        int64 class indices; -1 for the scheme's nodata and ignored codes, the
        raster's nodata and pixels outside it.

    Raises:
        ValueError: If a label holds a code the scheme does not know.
    """
    codes = source.read(1, window=window)
    inside = source.read_masks(1, window=window) > 0
    scheme.check_codes(codes[inside], name, 'scheme (--scheme)')
    indices = scheme.to_index(np.where(inside, codes, 0)).astype(np.int64)
    return np.where(inside, indices, -1)


@contextlib.contextmanager
def _labels_on_map_grid(labels: Any, prediction: Any) -> Iterator[Any]:
    """The labels as they are, or warped onto the map's grid (nearest).

    Pixels outside the labels (and their nodata) are masked (an alpha band), so
    no fill value can pass for a class code.

    Args:
        labels: the open label raster.
        prediction: the open map raster.

    Yields:
        Something to read label windows of the map's grid from.
    """
    if (
        labels.crs == prediction.crs
        and labels.transform == prediction.transform
        and labels.shape == prediction.shape
    ):
        yield labels
        return
    with WarpedVRT(
        labels,
        crs=prediction.crs,
        transform=prediction.transform,
        width=prediction.width,
        height=prediction.height,
        resampling=Resampling.nearest,
        add_alpha=True,
    ) as warped:
        yield warped

"""Score map rasters against label rasters: ``torchgeo-lsr evaluate``.

Any class map can be scored, not only ours: the labels are read onto the map's
grid (warped with nearest resampling when the grids differ), window by window, and
both are turned into class indices of one scheme; the scores come from
:mod:`torchgeo_lsr.metrics`, as the task's ``test`` scores do. Pixels count when the
label is a class of the scheme and the map has a value there (not its nodata).
"""

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from .grid import check_overlap, iter_blocks
from .metrics import confusion_matrix, segmentation_scores
from .schemes import ClassScheme, get_scheme

__all__ = ('evaluate_maps',)

PathLike = str | os.PathLike[str]


def _map_indices(
    values: np.ndarray,
    nodata: float | None,
    map_scheme: ClassScheme | None,
    classes: int,
) -> np.ndarray:
    """Class indices of map values (-1 where the map has no value).

    Args:
        values: map values of a window.
        nodata: the map's nodata value.
        map_scheme: scheme of the map's codes (None: the values are indices).
        classes: number of classes.

    Returns:
        int64 class indices.

    Raises:
        ValueError: If a map value is no class.
    """
    values = values.astype(np.int64)
    missing = np.zeros(values.shape, bool) if nodata is None else values == nodata
    if map_scheme is not None:
        indices = map_scheme.to_index(np.where(missing, 0, values)).astype(np.int64)
    else:
        indices = values
    indices = np.where(missing, -1, indices)
    bad = (indices >= classes) | ((indices < 0) & ~missing)
    if map_scheme is None and bad.any():
        raise ValueError(
            f'map values {sorted(set(values[bad].tolist()))[:5]} are not class indices '
            f'0..{classes - 1}: give the scheme of its codes (map_scheme)'
        )
    return indices


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
        Scores as :func:`~torchgeo_lsr.metrics.segmentation_scores` gives them.

    Raises:
        FileNotFoundError: If a raster does not exist.
        ValueError: If a pair does not overlap, or the schemes do not agree.
    """
    scheme = get_scheme(scheme)
    mapped = None if map_scheme is None else get_scheme(map_scheme)
    if mapped is not None and list(mapped.names) != list(scheme.names):
        raise ValueError(
            f'the map scheme {mapped.name!r} has classes {list(mapped.names)}, the '
            f'labels {list(scheme.names)}'
        )
    total = np.zeros((scheme.num_classes, scheme.num_classes), np.int64)
    for map_path, label_path in pairs:
        total += _pair_confusion(map_path, label_path, scheme, mapped, window)
    return segmentation_scores(total, scheme.names)


def _pair_confusion(
    map_path: PathLike,
    label_path: PathLike,
    scheme: ClassScheme,
    map_scheme: ClassScheme | None,
    window: int,
) -> np.ndarray:
    """Confusion counts of one map against its labels, block by block.

    Args:
        map_path: the class map.
        label_path: the labels (read onto the map's grid when the grids differ).
        scheme: scheme of the label codes.
        map_scheme: scheme of the map's codes (None: class indices).
        window: block side for reading.

    Returns:
        (classes, classes) int64 counts, predicted by true.

    Raises:
        FileNotFoundError: If a raster does not exist.
        ValueError: If the rasters do not overlap or the map holds no classes.
    """
    for path in (map_path, label_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f'{path} does not exist')
    classes = scheme.num_classes
    total = np.zeros((classes, classes), np.int64)
    with rasterio.open(map_path) as prediction, rasterio.open(label_path) as labels:
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
                    prediction.nodata,
                    map_scheme,
                    classes,
                )
                truth = scheme.to_index(source.read(1, window=block.window))
                truth = truth.astype(np.int64)
                keep = (truth >= 0) & (predicted >= 0)
                total += confusion_matrix(predicted[keep], truth[keep], classes).numpy()
    return total


@contextlib.contextmanager
def _labels_on_map_grid(labels: Any, prediction: Any) -> Iterator[Any]:
    """The labels as they are, or warped onto the map's grid (nearest).

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
        nodata=labels.nodata if labels.nodata is not None else 0,
    ) as warped:
        yield warped

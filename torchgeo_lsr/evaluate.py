"""Score map rasters against label rasters: ``torchgeo-lsr evaluate``.

Any class map can be scored, not only ours: the labels are read onto the map's
grid (warped with nearest resampling when the grids differ), window by window, and
both are turned into class indices of one scheme; the scores come from
:mod:`torchgeo_lsr.metrics`, as the task's ``test`` scores do. Pixels count when the
label is a class of the scheme and the map has a value there (not its nodata).
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from .metrics import confusion_matrix, segmentation_scores
from .schemes import ClassScheme, get_scheme

__all__ = ('evaluate_maps',)

PathLike = str | os.PathLike[str]


def _windows(height: int, width: int, size: int) -> list[rasterio.windows.Window]:
    """Row-major windows covering a grid."""
    return [
        rasterio.windows.Window(
            col, row, min(size, width - col), min(size, height - row)
        )
        for row in range(0, height, size)
        for col in range(0, width, size)
    ]


def _map_indices(
    values: np.ndarray,
    nodata: float | None,
    map_scheme: ClassScheme | None,
    classes: int,
) -> np.ndarray:
    """Class indices of map values (-1 where the map has no value).

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
    classes = scheme.num_classes
    total = np.zeros((classes, classes), np.int64)
    for map_path, label_path in pairs:
        for path in (map_path, label_path):
            if not os.path.exists(path):
                raise FileNotFoundError(f'{path} does not exist')
        with rasterio.open(map_path) as prediction, rasterio.open(label_path) as labels:
            _check_overlap(prediction, labels, map_path, label_path)
            same_grid = (
                labels.crs == prediction.crs
                and labels.transform == prediction.transform
                and labels.shape == prediction.shape
            )
            source: Any = labels
            if not same_grid:
                source = WarpedVRT(
                    labels,
                    crs=prediction.crs,
                    transform=prediction.transform,
                    width=prediction.width,
                    height=prediction.height,
                    resampling=Resampling.nearest,
                    nodata=labels.nodata if labels.nodata is not None else 0,
                )
            try:
                for block in _windows(prediction.height, prediction.width, window):
                    predicted = _map_indices(
                        prediction.read(1, window=block),
                        prediction.nodata,
                        mapped,
                        classes,
                    )
                    truth = scheme.to_index(source.read(1, window=block)).astype(
                        np.int64
                    )
                    keep = (truth >= 0) & (predicted >= 0)
                    total += confusion_matrix(
                        predicted[keep], truth[keep], classes
                    ).numpy()
            finally:
                if source is not labels:
                    source.close()
    return segmentation_scores(total, scheme.names)


def _check_overlap(
    prediction: Any, labels: Any, map_path: PathLike, label_path: PathLike
) -> None:
    """Refuse a map and labels that do not overlap.

    Raises:
        ValueError: Naming both files and their bounds.
    """
    from rasterio.warp import transform_bounds

    if labels.crs is None or prediction.crs is None:
        raise ValueError(f'{map_path} and {label_path} both need a CRS')
    left, bottom, right, top = transform_bounds(
        labels.crs, prediction.crs, *labels.bounds
    )
    own = prediction.bounds
    if left >= own.right or right <= own.left or bottom >= own.top or top <= own.bottom:
        raise ValueError(
            f'labels {label_path} do not overlap the map {map_path} '
            f'(map bounds {tuple(round(v, 1) for v in own)}, labels in the map CRS '
            f'{(round(left, 1), round(bottom, 1), round(right, 1), round(top, 1))})'
        )

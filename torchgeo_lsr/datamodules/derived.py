"""Data-module settings derived from the data: the default recipe's rules applied.

When a data module leaves ``prior_sigma`` / ``prior_kernel_size`` to ``None`` or
``length`` to ``'auto'``, these functions measure what the rules of
:mod:`torchgeo_lsr.recipe` need (the coarse cell in imagery pixels, the training
pixels), apply them and log the choice, so a user sees what was chosen.
"""

from lightning.pytorch.utilities import rank_zero_info
from rasterio.warp import calculate_default_transform
from torchgeo.datasets import GeoDataset, RasterDataset

from ..io import open_raster
from ..recipe import training_patches
from .prior_source import PriorSource

__all__ = ('coarse_cell_pixels', 'resolve_blur', 'training_length')


def coarse_cell_pixels(coarse: RasterDataset, imagery: RasterDataset) -> float:
    """Side of a coarse label cell in pixels of the imagery grid.

    Read from the first coarse file's own resolution (the dataset itself is opened
    on the imagery's grid), reprojected to the imagery's CRS when they differ.

    Args:
        coarse: the coarse labels.
        imagery: the imagery.

    Returns:
        The cell side in imagery pixels.
    """
    path = min(str(p) for p in coarse.index['filepath'])
    with open_raster(path, 'coarse labels') as src:
        if src.crs == imagery.crs:
            res = float(src.res[0])
        else:
            transform, _, _ = calculate_default_transform(
                src.crs, imagery.crs, src.width, src.height, *src.bounds
            )
            res = float(abs(transform.a))
    return res / float(imagery.res[0])


def resolve_blur(
    source: PriorSource, coarse: RasterDataset, imagery: RasterDataset
) -> tuple[float, int] | None:
    """Set a blur left to the data (one coarse cell) and log what was chosen.

    Args:
        source: the data module's prior source.
        coarse: the coarse labels.
        imagery: the imagery.

    Returns:
        The ``(sigma, kernel_size)`` chosen (None: nothing was left to the data).
    """
    if not source.blur_pending:
        return None
    cell = coarse_cell_pixels(coarse, imagery)
    chosen = source.resolve_blur(cell)
    if chosen is not None:
        rank_zero_info(
            f'prior blur: sigma {chosen[0]:g} px, kernel {chosen[1]} px (one coarse '
            f'cell = {cell:.4g} imagery pixels)'
        )
    return chosen


def training_length(dataset: GeoDataset, size: int, batch_size: int) -> int:
    """Training patches per epoch from the training pixels, logged.

    Args:
        dataset: the training dataset (its index and resolution).
        size: the training patch side in pixels.
        batch_size: patches per batch.

    Returns:
        The number of patches (see :func:`~torchgeo_lsr.recipe.training_patches`).
    """
    res = dataset.res
    pixels = float(dataset.index.geometry.area.sum()) / (res[0] * res[1])
    length = training_patches(pixels, size, batch_size)
    rank_zero_info(
        f'training length: {length} patches of {size} px ({length // batch_size} '
        f'steps) for {pixels:,.0f} training pixels'
    )
    return length

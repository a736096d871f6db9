"""Write a prior GeoTIFF for a whole raster, window by window.

Memory is bounded by the window size (plus halo), not the raster size; the output is
a tiled, compressed GeoTIFF on the chosen grid, written to a temporary file and moved
into place only when complete.
"""

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import rasterio.windows
from rasterio.warp import transform_bounds
from tqdm import tqdm

from ..io import atomic_path
from .builder import PriorBuilder
from .layers import LayerSource, labels_on_grid

__all__ = ('OutputGrid', 'write_prior')

PriorDtype = Literal['float32', 'uint8']


class OutputGrid:
    """CRS, transform and size of an output raster."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Take the grid of an existing raster.

        Args:
            path: the raster.
        """
        with rasterio.open(path) as src:
            if src.crs is None:
                raise ValueError(f'{path} has no CRS')
            self.crs = src.crs
            self.transform = src.transform
            self.width, self.height = src.width, src.height
            self.bounds = src.bounds


def _blocks(height: int, width: int, size: int) -> Iterator[tuple[int, int, int, int]]:
    """Row-major (row, col, height, width) blocks covering a grid."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield row, col, min(size, height - row), min(size, width - col)


def _check_coarse(
    builder: PriorBuilder, src: rasterio.DatasetReader, grid: OutputGrid, name: str
) -> None:
    """Check overlap with the output grid and the codes over it, before any output.

    Args:
        builder: the prior builder.
        src: the coarse raster.
        grid: the output grid.
        name: the coarse raster's name, for messages.

    Raises:
        ValueError: Without overlap, or with codes the matrix lacks.
    """
    if src.crs is None:
        raise ValueError(f'coarse raster {name} has no CRS')
    left, bottom, right, top = transform_bounds(grid.crs, src.crs, *grid.bounds)
    own = src.bounds
    if left >= own.right or right <= own.left or bottom >= own.top or top <= own.bottom:
        raise ValueError(
            f'coarse raster {name} does not overlap the output grid '
            f'(output bounds in its CRS: {left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}; '
            f'its bounds: {tuple(round(v, 1) for v in own)})'
        )
    window = rasterio.windows.from_bounds(left, bottom, right, top, src.transform)
    window = (
        window.round_offsets()
        .round_lengths()
        .intersection(rasterio.windows.Window(0, 0, src.width, src.height))
    )
    codes = src.read(1, window=window, masked=True)
    builder.check_codes(codes.compressed())


def write_prior(
    builder: PriorBuilder,
    coarse: str | os.PathLike[str],
    out: str | os.PathLike[str],
    like: str | os.PathLike[str] | None = None,
    layers: Mapping[str, str | os.PathLike[str]] | None = None,
    dtype: PriorDtype = 'float32',
    block_size: int = 2048,
    progress: bool = True,
) -> Path:
    """Build the prior of a whole grid and write it as a GeoTIFF.

    Args:
        builder: the prior builder.
        coarse: coarse label raster (any CRS and resolution; read with nearest
            resampling onto the output grid; its nodata value counts as nodata).
        out: output GeoTIFF path.
        like: raster whose grid the output takes (default: the coarse raster's).
        layers: auxiliary layers by name (raster or vector files) for the rules.
        dtype: ``'float32'`` (probabilities summing to 1, nodata NaN) or ``'uint8'``
            (floor(255 p), as the paper stored priors, nodata in the internal mask).
        block_size: output block side (a multiple of 256).
        progress: show a progress bar.

    Returns:
        The output path.

    Raises:
        ValueError: On bad inputs (no overlap, unknown codes, missing layers, ...).
    """
    if block_size % 256:
        raise ValueError(f'block_size must be a multiple of 256, got {block_size}')
    if dtype not in ('float32', 'uint8'):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    layers = dict(layers or {})
    rules = builder.rules
    needed = rules.layers if rules is not None else ()
    missing = [name for name in needed if name not in layers]
    if missing:
        raise ValueError(
            f'the fusion rules need layers {missing}; given: {sorted(layers)}'
        )
    grid = OutputGrid(like if like is not None else coarse)
    scheme = builder.scheme
    halo = builder.halo
    sources: dict[str, LayerSource] = {}
    with rasterio.open(coarse) as src:
        _check_coarse(builder, src, grid, str(coarse))
        try:
            for name in needed:
                sources[name] = LayerSource(
                    layers[name],
                    grid.crs,
                    grid.transform,
                    grid.width,
                    grid.height,
                    rules.options(name) if rules is not None else None,
                )
            profile = {
                'driver': 'GTiff',
                'width': grid.width,
                'height': grid.height,
                'count': scheme.num_classes,
                'dtype': dtype,
                'crs': grid.crs,
                'transform': grid.transform,
                'tiled': True,
                'blockxsize': 256,
                'blockysize': 256,
                # Fast deflate, compressed by all cores: 3x faster than the default
                # level for 2% larger files, and readable by every GIS.
                'compress': 'deflate',
                'zlevel': 1,
                'num_threads': 'ALL_CPUS',
                'predictor': 3 if dtype == 'float32' else 2,
                'interleave': 'pixel',
                'BIGTIFF': 'IF_SAFER',
            }
            if dtype == 'float32':
                profile['nodata'] = float('nan')
            with (
                labels_on_grid(
                    src, grid.crs, grid.transform, grid.width, grid.height
                ) as vrt,
                atomic_path(out) as temporary,
                rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=256),
                rasterio.open(temporary, 'w', **profile) as dst,
            ):
                for band, name in enumerate(scheme.names, start=1):
                    dst.set_band_description(band, name)
                dst.update_tags(
                    scheme=scheme.name,
                    class_codes=','.join(map(str, scheme.codes)),
                    sigma=str(builder.sigma),
                    kernel_size=str(builder.kernel_size),
                    fusion_rules=','.join(r.name for r in rules.rules) if rules else '',
                )
                blocks = list(_blocks(grid.height, grid.width, block_size))
                for row, col, height, width in tqdm(
                    blocks, desc='prior', unit='block', disable=not progress
                ):
                    top, left = max(0, row - halo), max(0, col - halo)
                    bottom = min(grid.height, row + height + halo)
                    right = min(grid.width, col + width + halo)
                    region = rasterio.windows.Window(
                        left, top, right - left, bottom - top
                    )
                    codes = vrt.read(1, window=region)
                    window_layers = {
                        name: source.read(top, left, bottom - top, right - left)
                        for name, source in sources.items()
                    }
                    cut = (
                        halo - (row - top),
                        halo - (bottom - row - height),
                        halo - (col - left),
                        halo - (right - col - width),
                    )
                    prior, valid = builder.build_window(codes, cut, window_layers)
                    window = rasterio.windows.Window(col, row, width, height)
                    if dtype == 'float32':
                        prior[:, ~valid] = np.nan
                        dst.write(prior, window=window)
                    else:
                        scaled = np.floor(np.clip(prior, 0, 1) * 255).astype(np.uint8)
                        dst.write(scaled, window=window)
                        dst.write_mask(valid.astype(np.uint8) * 255, window=window)
        finally:
            for source in sources.values():
                source.close()
    return Path(out)

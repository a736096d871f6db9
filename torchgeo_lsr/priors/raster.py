"""Write a prior GeoTIFF for a whole raster, block by block.

Memory is bounded by the block size (plus halo), not the raster size; the output is
a tiled, compressed GeoTIFF on the chosen grid, written to a temporary file and moved
into place only when complete. The blocks, the halo cut at the grid's edge, the
overlap check and the GeoTIFF profile come from :mod:`torchgeo_lsr.grid`.
"""

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import rasterio.windows
from rasterio.io import DatasetWriter
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from tqdm import tqdm

from ..grid import check_overlap, geotiff_profile, iter_blocks
from ..io import atomic_path, check_output_file, open_raster
from .builder import PriorBuilder
from .layers import LayerSource, labels_on_grid

__all__ = ('OutputGrid', 'write_prior')

PriorDtype = Literal['float32', 'uint8']


class OutputGrid:
    """CRS, transform and size of an output raster."""

    def __init__(
        self, path: str | os.PathLike[str], role: str = 'grid raster (--like)'
    ) -> None:
        """Take the grid of an existing raster.

        Args:
            path: the raster.
            role: what it is, for messages.

        Raises:
            FileNotFoundError: If the raster does not exist.
            ValueError: If it cannot be read or has no CRS.
        """
        with open_raster(path, role) as src:
            if src.crs is None:
                raise ValueError(
                    f'{os.path.abspath(path)} has no CRS: assign the CRS its '
                    f'coordinates are in, e.g. gdal_edit.py -a_srs EPSG:32617 {path}'
                )
            self.crs = src.crs
            self.transform = src.transform
            self.width, self.height = src.width, src.height
            self.bounds = src.bounds


def _check_arguments(
    builder: PriorBuilder,
    layers: Mapping[str, str | os.PathLike[str]],
    dtype: str,
    block_size: int,
) -> tuple[str, ...]:
    """Refuse a block size, dtype or set of layers :func:`write_prior` cannot use.

    Args:
        builder: the prior builder.
        layers: auxiliary layers given, by name.
        dtype: output data type.
        block_size: output block side.

    Returns:
        The layers the builder's fusion rules need.

    Raises:
        ValueError: Naming the offending argument.
    """
    if block_size % 256:
        raise ValueError(f'block_size must be a multiple of 256, got {block_size}')
    if dtype not in ('float32', 'uint8'):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    needed = builder.rules.layers if builder.rules is not None else ()
    missing = [name for name in needed if name not in layers]
    if missing:
        raise ValueError(
            f'the fusion rules need layers {missing}; given: {sorted(layers)}'
        )
    return tuple(needed)


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
        ValueError: Without a CRS or overlap, or with codes the matrix lacks.
    """
    if src.crs is None:
        raise ValueError(
            f'coarse raster {os.path.abspath(name)} has no CRS: assign the CRS its '
            f'coordinates are in, e.g. gdal_edit.py -a_srs EPSG:32617 {name}'
        )
    check_overlap(
        grid.bounds,
        src.bounds,
        first_name='the output grid',
        second_name=f'coarse raster {name}',
        first_crs=grid.crs,
        second_crs=src.crs,
    )
    left, bottom, right, top = transform_bounds(grid.crs, src.crs, *grid.bounds)
    window = rasterio.windows.from_bounds(left, bottom, right, top, src.transform)
    window = (
        window.round_offsets()
        .round_lengths()
        .intersection(rasterio.windows.Window(0, 0, src.width, src.height))
    )
    codes = src.read(1, window=window, masked=True)
    builder.check_codes(codes.compressed())


def _open_layers(
    stack: contextlib.ExitStack,
    builder: PriorBuilder,
    layers: Mapping[str, str | os.PathLike[str]],
    needed: Sequence[str],
    grid: OutputGrid,
) -> dict[str, LayerSource]:
    """Open the layers the fusion rules need on the output grid.

    Args:
        stack: closes every opened layer when it exits.
        builder: the prior builder (its rules' rasterisation options).
        layers: layer files by name.
        needed: names of the layers to open.
        grid: the output grid.

    Returns:
        The open layers by name.
    """
    rules = builder.rules
    return {
        name: stack.enter_context(
            LayerSource(
                layers[name],
                grid.crs,
                grid.transform,
                grid.width,
                grid.height,
                rules.options(name) if rules is not None else None,
            )
        )
        for name in needed
    }


def _prior_profile(
    grid: OutputGrid, count: int, dtype: PriorDtype
) -> dict[str, object]:
    """GeoTIFF profile of a prior: the package's profile plus prior-specific options.

    Args:
        grid: the output grid.
        count: number of classes (bands).
        dtype: output data type.

    Returns:
        The profile.
    """
    # Compressed by all cores; floating-point prediction suits probabilities.
    options: dict[str, object] = {
        'num_threads': 'ALL_CPUS',
        'predictor': 3 if dtype == 'float32' else 2,
    }
    if dtype == 'float32':
        options['nodata'] = float('nan')
    return geotiff_profile(
        grid.crs, grid.transform, grid.width, grid.height, count, dtype, **options
    )


def _describe(dst: DatasetWriter, builder: PriorBuilder) -> None:
    """Name the bands after the classes and tag how the prior was made.

    Args:
        dst: the open output.
        builder: the prior builder.
    """
    scheme, rules = builder.scheme, builder.rules
    for band, name in enumerate(scheme.names, start=1):
        dst.set_band_description(band, name)
    dst.update_tags(
        scheme=scheme.name,
        class_codes=','.join(map(str, scheme.codes)),
        sigma=str(builder.sigma),
        kernel_size=str(builder.kernel_size),
        fusion_rules=','.join(r.name for r in rules.rules) if rules else '',
    )


def _write_blocks(
    builder: PriorBuilder,
    codes: WarpedVRT,
    sources: Mapping[str, LayerSource],
    dst: DatasetWriter,
    block_size: int,
    progress: bool,
) -> None:
    """Build and write the prior block by block, each read with its halo.

    Args:
        builder: the prior builder.
        codes: the coarse codes on the output grid.
        sources: the open layers by name.
        dst: the open output (float32 with NaN nodata, or uint8 with a mask).
        block_size: block side.
        progress: show a progress bar.
    """
    blocks = list(iter_blocks(dst.height, dst.width, block_size, halo=builder.halo))
    for block in tqdm(blocks, desc='prior', unit='block', disable=not progress):
        (top, bottom), (left, right) = block.read_rows, block.read_cols
        window_layers = {
            name: source.read(top, left, bottom - top, right - left)
            for name, source in sources.items()
        }
        prior, valid = builder.build_window(
            codes.read(1, window=block.read_window), block.cut, window_layers
        )
        if dst.dtypes[0] == 'float32':
            prior[:, ~valid] = np.nan
            dst.write(prior, window=block.window)
        else:
            scaled = np.floor(np.clip(prior, 0, 1) * 255).astype(np.uint8)
            dst.write(scaled, window=block.window)
            dst.write_mask(valid.astype(np.uint8) * 255, window=block.window)


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
    layers = dict(layers or {})
    needed = _check_arguments(builder, layers, dtype, block_size)
    # Before any work: a folder or an unwritable place fails now, not at the end.
    check_output_file(out, 'output prior file')
    grid = (
        OutputGrid(like)
        if like is not None
        else OutputGrid(coarse, 'coarse raster (--coarse)')
    )
    profile = _prior_profile(grid, builder.scheme.num_classes, dtype)
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_raster(coarse, 'coarse raster (--coarse)'))
        _check_coarse(builder, src, grid, str(coarse))
        sources = _open_layers(stack, builder, layers, needed, grid)
        with (
            labels_on_grid(
                src, grid.crs, grid.transform, grid.width, grid.height
            ) as vrt,
            atomic_path(out) as temporary,
            rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=256),
            rasterio.open(temporary, 'w', **profile) as dst,
        ):
            _describe(dst, builder)
            _write_blocks(builder, vrt, sources, dst, block_size, progress)
    return Path(out)

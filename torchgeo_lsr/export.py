"""Whole-raster maps: tiled inference over imagery into GIS-ready Cloud-Optimized GeoTIFFs.

The one sliding-window engine of the package. For every imagery tile (file) of a
data module it writes, on exactly that tile's grid (CRS, transform, size):

* ``<name>.tif``: the class map (uint8 class indices, the scheme's colour table,
  class names in the tags, 255 where no input was valid), with a QGIS style
  (``<name>.qml``) beside it;
* on request, siblings ``<name>_q.tif``, ``<name>_r.tif``, ``<name>_prior.tif``
  (one band per class, probabilities as uint8 = round(255 p) or float32),
  ``<name>_confidence.tif`` (largest probability) and ``<name>_entropy.tif``
  (entropy / log C), each in [0, 1] (uint8 scaled by 255 unless float32).

Windows: the tile is cut into blocks of ``window`` pixels; each block is read
through the data module's dataset with its context (so the network sees its
receptive field) and its prior (built as in training), the network runs on it, and
only the block itself is written. Blocks never overlap in the output, so there is
nothing to average and no seam: for a network whose receptive field fits the
context (the FCN: 11 px, context 5), the mosaic equals a forward pass over the whole
tile up to float error. At the imagery's outer edge the network pads as it would on
the whole tile.

The implied posterior r uses the class totals of the **whole tile** (REFERENCE
§1.6): a first pass computes q, its totals and ``log q + log p`` (cached on disk
next to the output), a second pass turns the cache into r. Memory is bounded by
the block size, not the tile size. Every file is written to a temporary name,
converted to a COG (tiled, deflate, overviews) and renamed into place when
complete; tiles whose outputs exist are skipped, so an interrupted export resumes.
"""

import ctypes
import ctypes.util
import functools
import math
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.shutil
import rasterio.windows
import torch
from affine import Affine
from lightning.pytorch import LightningModule
from torch import Tensor
from tqdm import tqdm

from .io import atomic_path
from .schemes import ClassScheme

__all__ = (
    'PRODUCTS',
    'ExportOptions',
    'TileExporter',
    'TileGrid',
    'export_maps',
    'export_tile',
    'export_with_trainer',
    'output_paths',
    'write_qml',
)

#: Optional products beside the class map.
PRODUCTS = ('q', 'r', 'prior', 'confidence', 'entropy')

#: Class-map value of pixels without valid input.
MAP_NODATA = 255


@dataclass(frozen=True)
class ExportOptions:
    """What an export writes and how.

    Attributes:
        products: optional products beside the class map (see :data:`PRODUCTS`).
        map_source: the class map is the argmax of ``'r'`` (the implied posterior
            with whole-tile totals; default) or of ``'q'`` (the network alone).
        window: block side in pixels.
        probability_dtype: ``'uint8'`` (round(255 p), small files) or
            ``'float32'``.
        overwrite: export tiles whose outputs already exist (default: skip them).
        region: export one map of a region instead of one per tile: a box
            ``(xmin, ymin, xmax, ymax)`` in the imagery CRS or a vector file of
            polygons (any CRS). The map is on the imagery's pixel grid, cut to
            the region's bounding box, across tiles; pixels outside the region are
            nodata and r uses the class totals of the whole region.
    """

    products: Sequence[str] = ()
    map_source: Literal['r', 'q'] = 'r'
    window: int = 1024
    probability_dtype: Literal['uint8', 'float32'] = 'uint8'
    overwrite: bool = False
    region: Any = None

    def __post_init__(self) -> None:
        """Check the options.

        Raises:
            ValueError: On an unknown product, map source, dtype or a bad window.
        """
        unknown = sorted(set(self.products) - set(PRODUCTS))
        if unknown:
            raise ValueError(f'unknown products {unknown}; choose from {PRODUCTS}')
        if self.map_source not in ('r', 'q'):
            raise ValueError(f"map_source must be 'r' or 'q', got {self.map_source!r}")
        if self.probability_dtype not in ('uint8', 'float32'):
            raise ValueError(
                f"probability_dtype must be 'uint8' or 'float32', "
                f'got {self.probability_dtype!r}'
            )
        if self.window < 16:
            raise ValueError(f'window must be at least 16 px, got {self.window}')

    @property
    def needs_r(self) -> bool:
        """Whether the second (whole-tile r) pass runs."""
        return self.map_source == 'r' or 'r' in self.products


@dataclass(frozen=True)
class TileGrid:
    """The grid of one output map: an imagery tile, or a region across tiles.

    Attributes:
        path: the imagery file (its stem names the outputs), or ``region.tif``.
        index: the tile's index in the data module's dataset (-1: any tile).
        crs: the CRS.
        transform: the affine transform of the grid.
        width: columns.
        height: rows.
        region: pixels outside this geometry (in ``crs``) are nodata (None: none).
    """

    path: Path
    index: int
    crs: Any
    transform: Affine
    width: int
    height: int
    region: Any = None

    def valid_mask(self, tile: Tensor, row: int, col: int) -> Tensor:
        """Pixels of a block that belong to this map.

        Args:
            tile: (h, w) tile index of each pixel of the block (-1: no tile).
            row: the block's first row.
            col: the block's first column.

        Returns:
            (h, w) boolean tensor: in this tile (or any tile, for a region) and
            inside the region.
        """
        inside = tile >= 0 if self.index < 0 else tile == self.index
        if self.region is not None:
            from rasterio.features import geometry_mask

            height, width = tile.shape
            block = self.transform @ Affine.translation(col, row)
            in_region = geometry_mask(
                [self.region], out_shape=(height, width), transform=block, invert=True
            )
            inside = inside & torch.from_numpy(in_region).to(tile.device)
        return inside

    def block_bounds(
        self, row: int, col: int, height: int, width: int
    ) -> tuple[float, float, float, float]:
        """(minx, maxx, miny, maxy) of a block of pixels."""
        window = rasterio.windows.Window(col, row, width, height)
        left, bottom, right, top = rasterio.windows.bounds(window, self.transform)
        return left, right, bottom, top


def output_paths(
    out: str | os.PathLike[str],
    tile: str | os.PathLike[str],
    folder: bool,
    products: Sequence[str],
) -> dict[str, Path]:
    """Where each product of a tile goes.

    Args:
        out: a ``.tif`` file (single tile) or a folder (one map per tile, named
            after the tile).
        tile: the imagery file.
        folder: whether ``out`` is a folder.
        products: the optional products.

    Returns:
        ``{'map': path, product: sibling path, ...}``.
    """
    base = Path(out) / f'{Path(tile).stem}.tif' if folder else Path(out)
    paths = {'map': base}
    for product in products:
        paths[product] = base.with_name(f'{base.stem}_{product}{base.suffix}')
    return paths


def _blocks(height: int, width: int, size: int) -> list[tuple[int, int, int, int]]:
    """Row-major (row, col, height, width) blocks covering a grid."""
    return [
        (row, col, min(size, height - row), min(size, width - col))
        for row in range(0, height, size)
        for col in range(0, width, size)
    ]


def _profile(grid: TileGrid, count: int, dtype: str) -> dict[str, Any]:
    """Profile of a tiled GeoTIFF on a tile's grid."""
    return {
        'driver': 'GTiff',
        'width': grid.width,
        'height': grid.height,
        'count': count,
        'dtype': dtype,
        'crs': grid.crs,
        'transform': grid.transform,
        'tiled': True,
        'blockxsize': 256,
        'blockysize': 256,
        'compress': 'deflate',
        'zlevel': 1,
        'interleave': 'pixel' if count > 1 else 'band',
        'BIGTIFF': 'IF_SAFER',
    }


def write_qml(path: str | os.PathLike[str], scheme: ClassScheme) -> Path:
    """A QGIS style file for a class map (QGIS loads ``<map>.qml`` by itself).

    Args:
        path: the class map's path (the style goes beside it).
        scheme: the map's class scheme.

    Returns:
        The style's path.
    """
    from .plot import class_colormap

    cmap = class_colormap(scheme)
    entries = []
    for index, name in enumerate(scheme.names):
        red, green, blue, _ = (round(255 * v) for v in cmap(index))
        colour = f'#{red:02x}{green:02x}{blue:02x}'
        label = name.replace('&', '&amp;').replace('"', '&quot;').replace('<', '&lt;')
        entries.append(
            f'        <paletteEntry value="{index}" color="{colour}" '
            f'label="{label}" alpha="255"/>'
        )
    text = '\n'.join(
        [
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
            '<qgis>',
            '  <pipe>',
            '    <rasterrenderer type="paletted" band="1" opacity="1">',
            '      <colorPalette>',
            *entries,
            '      </colorPalette>',
            '    </rasterrenderer>',
            '  </pipe>',
            '</qgis>',
            '',
        ]
    )
    target = Path(path).with_suffix('.qml')
    with atomic_path(target) as temporary:
        temporary.write_text(text)
    return target


class _Products:
    """Temporary GeoTIFFs of one tile's products, turned into COGs at the end."""

    def __init__(
        self,
        grid: TileGrid,
        paths: dict[str, Path],
        scheme: ClassScheme,
        options: ExportOptions,
        tags: dict[str, str],
        stack: ExitStack,
    ) -> None:
        """Open a temporary GeoTIFF per product.

        Args:
            grid: the tile's grid.
            paths: final path per product.
            scheme: class scheme.
            options: export options.
            tags: metadata for every file.
            stack: closes the files (and removes them) when the export ends.
        """
        self.paths = paths
        self.options = options
        self.files: dict[str, Any] = {}
        self.temporary: dict[str, Path] = {}
        classes = scheme.num_classes
        probability = options.probability_dtype
        # A small GDAL block cache: blocks are written once and never re-read, and
        # GDAL's default (5% of RAM) would make memory grow with the raster.
        stack.enter_context(
            rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=64)
        )
        for name, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                prefix=f'.{path.stem}.', suffix='.part.tif', dir=path.parent
            )
            os.close(handle)
            self.temporary[name] = Path(temporary)
            stack.callback(Path(temporary).unlink, missing_ok=True)
            if name == 'map':
                profile = _profile(grid, 1, 'uint8') | {'nodata': MAP_NODATA}
            elif name in ('q', 'r', 'prior'):
                profile = _profile(grid, classes, probability)
            else:
                profile = _profile(grid, 1, probability)
            dst = stack.enter_context(rasterio.open(temporary, 'w', **profile))
            self.files[name] = dst
            dst.update_tags(**tags, product=name)
            if name == 'map':
                from .plot import class_colormap

                cmap = class_colormap(scheme)
                dst.write_colormap(
                    1,
                    {i: tuple(round(255 * v) for v in cmap(i)) for i in range(classes)},
                )
                dst.set_band_description(1, 'class')
            elif name in ('q', 'r', 'prior'):
                for band, class_name in enumerate(scheme.names, start=1):
                    dst.set_band_description(band, class_name)
            else:
                dst.set_band_description(1, name)

    def write(
        self, name: str, values: np.ndarray, valid: np.ndarray, window: Any
    ) -> None:
        """Write a block of a product.

        Args:
            name: the product.
            values: (bands, h, w) values: class indices for the map, else
                probabilities or fractions in [0, 1].
            valid: (h, w) pixels with valid input.
            window: the block's window.
        """
        if name not in self.files:
            return
        dst = self.files[name]
        if name == 'map':
            data = np.where(valid, values, MAP_NODATA).astype(np.uint8)
            dst.write(data, window=window)
            return
        if self.options.probability_dtype == 'uint8':
            data = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
        else:
            data = values.astype(np.float32)
        dst.write(data, window=window)
        dst.write_mask(valid.astype(np.uint8) * 255, window=window)

    def finish(self) -> None:
        """Close the temporary files, convert them to COGs and move them in place."""
        for dst in self.files.values():
            dst.close()
        for name, path in self.paths.items():
            resampling = 'nearest' if name == 'map' else 'average'
            with atomic_path(path) as target:
                rasterio.shutil.copy(
                    self.temporary[name],
                    target,
                    driver='COG',
                    compress='deflate',
                    level=6,
                    blocksize=512,
                    overview_resampling=resampling,
                    num_threads='ALL_CPUS',
                    BIGTIFF='IF_SAFER',
                )


@functools.cache
def _malloc_trim() -> Any:
    """The C library's ``malloc_trim`` (glibc), or None on other C libraries."""
    name = ctypes.util.find_library('c')
    function = getattr(ctypes.CDLL(name), 'malloc_trim', None) if name else None
    return function


def _release_freed_memory() -> None:
    """Hand memory freed by the last block back to the system.

    Blocks allocate and free hundreds of MB of arrays of similar sizes; glibc keeps
    such freed memory in its heap, so without this the resident size creeps up
    with the number of blocks instead of staying at one block's worth.
    """
    function = _malloc_trim()
    if function is not None:
        function(0)


def _sample(dataset: Any, grid: TileGrid, block: tuple[int, int, int, int]) -> Any:
    """Read one block (with context) through the data module's dataset."""
    minx, maxx, miny, maxy = grid.block_bounds(*block)
    return dataset[minx:maxx, miny:maxy]


def _batch(sample: dict[str, Any], device: torch.device) -> dict[str, Tensor]:
    """A one-sample batch of a sample's tensors on a device."""
    return {
        key: value[None].to(device)
        for key, value in sample.items()
        if isinstance(value, Tensor)
    }


def export_tile(
    task: Any,
    dataset: Any,
    grid: TileGrid,
    paths: dict[str, Path],
    scheme: ClassScheme,
    options: ExportOptions,
    progress: bool = True,
) -> dict[str, Path]:
    """Export one tile (see the module documentation).

    Args:
        task: a :class:`~torchgeo_lsr.tasks.LSRSegmentation` whose data module has
            been adopted (:meth:`~torchgeo_lsr.tasks.LSRSegmentation.adopt_data`).
        dataset: the data module's prediction dataset.
        grid: the tile.
        paths: where each product goes (from :func:`output_paths`).
        scheme: the class scheme.
        options: export options.
        progress: show a progress bar.

    Returns:
        ``paths``.

    Raises:
        ValueError: If the tile has no valid pixel for whole-tile totals.
    """
    device = next(iter(task.parameters()), torch.zeros(())).device
    blocks = _blocks(grid.height, grid.width, options.window)
    tags = {
        'scheme': scheme.name,
        'class_codes': ','.join(map(str, scheme.codes)),
        'class_names': ','.join(scheme.names),
        'map_source': options.map_source,
        'method': str(task.hparams.get('method', '')),
        'loss': str(task.hparams.get('loss', '')),
        'software': 'torchgeo-lsr',
    }
    classes = scheme.num_classes
    was_training = task.training
    task.eval()
    with ExitStack() as stack, torch.no_grad():
        products = _Products(grid, paths, scheme, options, tags, stack)
        cache = None
        if options.needs_r:
            handle, name = tempfile.mkstemp(
                prefix=f'.{paths["map"].stem}.',
                suffix='.cache',
                dir=paths['map'].parent,
            )
            cache = stack.enter_context(os.fdopen(handle, 'w+b'))
            stack.callback(Path(name).unlink, missing_ok=True)
        totals = np.zeros(classes, np.float64)
        bar = stack.enter_context(
            tqdm(
                total=len(blocks) * (2 if options.needs_r else 1),
                desc=grid.path.name,
                unit='block',
                disable=not progress,
                leave=False,
            )
        )
        # Read the next block (imagery, coarse labels, its prior) in a thread
        # while the network runs on this one: reading and the prior's FFT release
        # the GIL, so on a CPU the two overlap as far as free cores allow.
        reader = stack.enter_context(ThreadPoolExecutor(1))
        upcoming = reader.submit(_sample, dataset, grid, blocks[0])
        for number, block in enumerate(blocks):
            sample = upcoming.result()
            if number + 1 < len(blocks):
                upcoming = reader.submit(_sample, dataset, grid, blocks[number + 1])
            window = rasterio.windows.Window(block[1], block[0], block[3], block[2])
            outputs = task.outputs(_batch(sample, device))
            log_q = outputs['log_q'][0]
            prior = outputs['prior'][0]
            inside = grid.valid_mask(outputs['tile'][0], block[0], block[1])
            valid = (outputs['valid'][0] & inside).cpu()
            valid_np = valid.numpy()
            q = log_q.exp()
            products.write('q', q.cpu().numpy(), valid_np, window)
            products.write('prior', prior.cpu().numpy(), valid_np, window)
            if options.map_source == 'q':
                _write_distribution(products, q.cpu().numpy(), valid_np, window)
            if cache is not None:
                totals += q[:, valid.to(q.device)].double().sum(1).cpu().numpy()
                joint = (log_q + prior.clamp_min(1e-30).log()).float().cpu().numpy()
                cache.write(np.ascontiguousarray(joint).tobytes())
                cache.write(valid_np.astype(np.uint8).tobytes())
            del sample, outputs, log_q, prior, q
            _release_freed_memory()
            bar.update()
        if cache is not None:
            if not np.all(totals > 0):
                raise ValueError(
                    f'{grid.path} has no valid pixel: nothing to compute r with'
                )
            log_totals = np.log(totals).astype(np.float32)[:, None, None]
            cache.seek(0)
            for block in blocks:
                _, _, height, width = block
                window = rasterio.windows.Window(block[1], block[0], width, height)
                count = classes * height * width
                joint = np.frombuffer(cache.read(4 * count), np.float32)
                joint = joint.reshape(classes, height, width) - log_totals
                valid_np = np.frombuffer(cache.read(height * width), np.uint8)
                valid_np = valid_np.reshape(height, width).astype(bool)
                r = np.exp(joint - joint.max(0, keepdims=True))
                r /= r.sum(0, keepdims=True)
                products.write('r', r, valid_np, window)
                if options.map_source == 'r':
                    _write_distribution(products, r, valid_np, window)
                del joint, r
                _release_freed_memory()
                bar.update()
        products.finish()
    task.train(was_training)
    write_qml(paths['map'], scheme)
    return paths


def _write_distribution(
    products: _Products, probabilities: np.ndarray, valid: np.ndarray, window: Any
) -> None:
    """Write the class map, confidence and entropy of a block's distribution."""
    products.write('map', probabilities.argmax(0)[None], valid, window)
    if 'confidence' in products.files:
        products.write('confidence', probabilities.max(0)[None], valid, window)
    if 'entropy' in products.files:
        p = np.clip(probabilities, 1e-12, 1)
        entropy = -(p * np.log(p)).sum(0) / math.log(probabilities.shape[0])
        products.write('entropy', entropy[None], valid, window)


def _tile_grids(dataset: Any) -> list[TileGrid]:
    """The grid of every imagery tile of a data module's dataset, in index order.

    Raises:
        ValueError: If a tile's CRS differs from the dataset's (exports are on each
            file's own grid; export such tiles with a data module of their CRS).
    """
    transform = dataset.transforms
    grids = []
    for index, path in enumerate(transform.tile_paths):
        with rasterio.open(path) as src:
            if src.crs != transform.crs and src.crs is not None:
                raise ValueError(
                    f'{path} is in {src.crs}, the data module reads {transform.crs}: '
                    'export tiles of another CRS with a data module of their own'
                )
            grids.append(
                TileGrid(
                    Path(path), index, src.crs, src.transform, src.width, src.height
                )
            )
    return grids


def _region_grid(tiles: Sequence[TileGrid], region: Any) -> TileGrid:
    """The imagery's pixel grid cut to a region's bounding box.

    Args:
        tiles: the imagery tiles (the first one's grid is the reference).
        region: a box ``(xmin, ymin, xmax, ymax)`` in the imagery CRS, or a vector
            file of polygons.

    Returns:
        The region's grid (tile index -1: pixels of any tile).

    Raises:
        ValueError: If the region does not overlap the imagery, or the tiles'
            resolutions differ.
    """
    import shapely

    from .datamodules.lsr import region_geometry

    reference = tiles[0]
    geometry = region_geometry(region, reference.crs)
    res_x, res_y = reference.transform.a, -reference.transform.e
    for tile in tiles:
        if not (
            math.isclose(tile.transform.a, res_x)
            and math.isclose(-tile.transform.e, res_y)
        ):
            raise ValueError(
                f'{tile.path} has another resolution than {reference.path}: a region '
                'map needs tiles that share one pixel size'
            )
    extent = shapely.union_all(
        [
            shapely.box(
                *rasterio.transform.array_bounds(t.height, t.width, t.transform)
            )
            for t in tiles
        ]
    )
    clipped = geometry.intersection(extent)
    if clipped.is_empty or clipped.area == 0:
        raise ValueError(
            f'the region {tuple(round(v, 3) for v in geometry.bounds)} does not '
            f'overlap the imagery {tuple(round(v, 3) for v in extent.bounds)} '
            f'(CRS {reference.crs})'
        )
    minx, miny, maxx, maxy = clipped.bounds
    x0, y0 = reference.transform.c, reference.transform.f
    # Snap outwards to whole pixels of the reference grid.
    col0 = math.floor((minx - x0) / res_x + 1e-9)
    col1 = math.ceil((maxx - x0) / res_x - 1e-9)
    row0 = math.floor((y0 - maxy) / res_y + 1e-9)
    row1 = math.ceil((y0 - miny) / res_y - 1e-9)
    transform = Affine(res_x, 0.0, x0 + col0 * res_x, 0.0, -res_y, y0 - row0 * res_y)
    return TileGrid(
        Path('region.tif'),
        -1,
        reference.crs,
        transform,
        col1 - col0,
        row1 - row0,
        clipped,
    )


def _prepare(
    task: Any, datamodule: Any, out: str | os.PathLike[str], region: Any = None
) -> tuple[list[TileGrid], bool]:
    """Adopt the data module, set up its prediction dataset, list the maps' grids.

    Args:
        task: the trained task.
        datamodule: the data module describing the imagery and prior.
        out: output file or folder.
        region: one map of this region instead of one per tile (see
            :class:`ExportOptions`).

    Returns:
        The tiles, and whether ``out`` is a folder.

    Raises:
        ValueError: If ``out`` names a file but there are several tiles.
    """
    task.adopt_data(datamodule)
    datamodule.setup('predict')
    grids = _tile_grids(datamodule.predict_dataset)
    if region is not None:
        grids = [_region_grid(grids, region)]
    folder = Path(out).suffix.lower() not in ('.tif', '.tiff')
    if not folder and len(grids) > 1:
        raise ValueError(
            f'{len(grids)} imagery tiles cannot go to one file {out}: give a folder'
        )
    return grids, folder


def _export_unless_done(
    task: Any,
    datamodule: Any,
    grid: TileGrid,
    out: str | os.PathLike[str],
    folder: bool,
    options: ExportOptions,
    progress: bool,
) -> dict[str, Path]:
    """Export a tile unless all its outputs exist (and ``overwrite`` is off)."""
    paths = output_paths(out, grid.path, folder, options.products)
    if options.overwrite or not all(p.exists() for p in paths.values()):
        export_tile(
            task,
            datamodule.predict_dataset,
            grid,
            paths,
            datamodule.scheme,
            options,
            progress,
        )
    return paths


def export_maps(
    task: Any,
    datamodule: Any,
    out: str | os.PathLike[str],
    options: ExportOptions | None = None,
    progress: bool = True,
) -> list[dict[str, Path]]:
    """Export maps of every imagery tile of a data module, in this process.

    For several devices or processes, use :func:`export_with_trainer`.

    Args:
        task: a trained :class:`~torchgeo_lsr.tasks.LSRSegmentation`.
        datamodule: an :class:`~torchgeo_lsr.datamodules.LSRDataModule` describing
            the imagery and its prior (its ``predict`` stage is set up here).
        out: a ``.tif`` path for a single tile, else a folder.
        options: what to write.
        progress: show progress bars.

    Returns:
        The paths of every tile (written now or found from an earlier run).
    """
    options = options or ExportOptions()
    grids, folder = _prepare(task, datamodule, out, options.region)
    return [
        _export_unless_done(task, datamodule, grid, out, folder, options, progress)
        for grid in tqdm(grids, desc='export', unit='tile', disable=not progress)
    ]


def _identity(item: Any) -> Any:
    """Collate nothing (batches are single tiles)."""
    return item


class _RankTiles(torch.utils.data.IterableDataset[TileGrid]):
    """This process's share of the tiles (``rank::world_size``), decided when read.

    An iterable dataset, so Lightning does not add a distributed sampler (which
    would pad ranks with duplicate tiles).
    """

    def __init__(self, grids: Sequence[TileGrid]) -> None:
        """Keep the tiles.

        Args:
            grids: all tiles.
        """
        self.grids = list(grids)

    def _mine(self) -> list[TileGrid]:
        """The tiles of this rank."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank = torch.distributed.get_rank()
            world = torch.distributed.get_world_size()
            return self.grids[rank::world]
        return self.grids

    def __iter__(self) -> Any:
        """Iterate over this rank's tiles."""
        return iter(self._mine())

    def __len__(self) -> int:
        """Number of this rank's tiles."""
        return len(self._mine())


class TileExporter(LightningModule):
    """Export tiles as a Lightning predict loop: DDP ranks split the tiles."""

    def __init__(
        self, task: Any, datamodule: Any, out: str, options: ExportOptions
    ) -> None:
        """Wrap a task for exporting.

        Args:
            task: the trained task (moved to the trainer's device with this).
            datamodule: the data module describing the imagery and prior.
            out: output file or folder.
            options: what to write.
        """
        super().__init__()
        self.task = task
        self.datamodule_ = datamodule
        self.out = out
        self.options = options
        self.grids: list[TileGrid] = []
        self.folder = False
        self.written: list[dict[str, Path]] = []

    def setup(self, stage: str) -> None:
        """Prepare the data module's prediction dataset in this process."""
        self.grids, self.folder = _prepare(
            self.task, self.datamodule_, self.out, self.options.region
        )

    def predict_dataloader(self) -> Any:
        """One tile per step."""
        return torch.utils.data.DataLoader(
            _RankTiles(self.grids), batch_size=None, collate_fn=_identity
        )

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Tiles are descriptions, not tensors."""
        return batch

    def predict_step(self, batch: TileGrid, batch_idx: int) -> None:
        """Export one tile (skipped if its outputs exist)."""
        progress = (
            self.trainer.is_global_zero
            and self.trainer.progress_bar_callback is not None
        )
        self.written.append(
            _export_unless_done(
                self.task,
                self.datamodule_,
                batch,
                self.out,
                self.folder,
                self.options,
                progress,
            )
        )


def export_with_trainer(
    trainer: Any, task: Any, datamodule: Any, out: str, options: ExportOptions
) -> list[dict[str, Path]]:
    """Export with a Lightning trainer: its devices and DDP ranks share the tiles.

    Args:
        trainer: the trainer (CPU, one GPU or several; ``strategy='ddp'``).
        task: the trained task.
        datamodule: the data module describing the imagery and prior.
        out: output file or folder.
        options: what to write.

    Returns:
        The paths of the tiles this process exported or found.
    """
    exporter = TileExporter(task, datamodule, out, options)
    trainer.predict(exporter, return_predictions=False)
    written: list[dict[str, Path]] = exporter.written
    return written

"""The two passes over one tile's blocks: q (and the cache for r), then r.

The tile is cut into blocks of ``window`` pixels (:func:`~torchgeo_lsr.grid.
iter_blocks`); each block is read through the data module's dataset with its
context and prior, the task's :meth:`~torchgeo_lsr.tasks.LSRSegmentation.outputs`
run on it, and only the block itself is written. The first pass writes q, the
prior (and the class map from q) and, when r is wanted, caches ``log q + log p``
on disk and sums the tile's class totals (:class:`~torchgeo_lsr.tasks.tile_totals.
TileTotals`); the second pass turns the cache into r with those totals. Memory is
bounded by the block size, not the tile size.
"""

import ctypes
import ctypes.util
import functools
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ..grid import Block, iter_blocks
from ..schemes import ClassScheme
from ..tasks.tile_totals import TileTotals
from .grids import TileGrid
from .options import ExportOptions
from .products import ProductWriter, product_tags, write_distribution, write_qml
from .protocols import ExportTask, TileDataset
from .resume import check_stop

__all__ = ('export_tile', 'release_freed_memory')


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` (glibc), or None on other C libraries."""
    name = ctypes.util.find_library('c')
    function = getattr(ctypes.CDLL(name), 'malloc_trim', None) if name else None
    return function


def release_freed_memory() -> None:
    """Hand memory freed by the last block back to the system.

    Blocks allocate and free hundreds of MB of arrays of similar sizes; glibc keeps
    such freed memory in its heap, so without this the resident size creeps up
    with the number of blocks instead of staying at one block's worth.
    """
    function = _malloc_trim()
    if function is not None:
        function(0)


def _read_block(
    dataset: TileDataset, grid: TileGrid, block: Block
) -> Mapping[str, Any]:
    """Read one block (with context) through the data module's dataset."""
    minx, maxx, miny, maxy = grid.block_bounds(
        block.row, block.col, block.height, block.width
    )
    return dataset[minx:maxx, miny:maxy]


class _ReadAhead:
    """Reads the next block in a thread while the caller works on this one.

    Reading and the prior's FFT release the GIL, so on a CPU the reading and the
    network overlap as far as free cores allow.
    """

    def __init__(
        self,
        reader: ThreadPoolExecutor,
        dataset: TileDataset,
        grid: TileGrid,
        blocks: Sequence[Block],
    ) -> None:
        """Start reading the first block.

        Args:
            reader: a one-thread executor.
            dataset: the data module's prediction dataset.
            grid: the tile.
            blocks: the blocks, in the order they are taken.
        """
        self._reader = reader
        self._dataset = dataset
        self._grid = grid
        self._blocks = list(blocks)
        self._next = 1
        self._upcoming = self._submit(0)

    def _submit(self, number: int) -> Future[Mapping[str, Any]]:
        """Start reading a block."""
        return self._reader.submit(
            _read_block, self._dataset, self._grid, self._blocks[number]
        )

    def take(self) -> Mapping[str, Any]:
        """The next block's sample (waits for it), and start reading the one after.

        Returns:
            The sample. Only the caller holds it, so deleting it frees it.
        """
        sample = self._upcoming.result()
        if self._next < len(self._blocks):
            self._upcoming = self._submit(self._next)
            self._next += 1
        return sample


def _batch(sample: Mapping[str, Any], device: torch.device) -> dict[str, Tensor]:
    """A one-sample batch of a sample's tensors on a device."""
    return {
        key: value[None].to(device)
        for key, value in sample.items()
        if isinstance(value, Tensor)
    }


class _JointCache:
    """``log q + log p`` and validity of every block, on disk between the passes."""

    def __init__(self, beside: Path, stack: ExitStack) -> None:
        """Open a hidden cache file beside the map (removed when the export ends).

        Args:
            beside: the class map's path.
            stack: closes and removes the file.
        """
        handle, name = tempfile.mkstemp(
            prefix=f'.{beside.stem}.', suffix='.cache', dir=beside.parent
        )
        self.file = stack.enter_context(os.fdopen(handle, 'w+b'))
        stack.callback(Path(name).unlink, missing_ok=True)

    def write(self, log_q: Tensor, prior: Tensor, valid: np.ndarray) -> None:
        """Append a block.

        Args:
            log_q: (C, h, w) log-probabilities.
            prior: (C, h, w) smoothed prior.
            valid: (h, w) pixels of the map with valid input.
        """
        joint = (log_q + prior.clamp_min(1e-30).log()).float().cpu().numpy()
        self.file.write(np.ascontiguousarray(joint).tobytes())
        self.file.write(valid.astype(np.uint8).tobytes())

    def rewind(self) -> None:
        """Read from the first block again."""
        self.file.seek(0)

    def read(
        self, classes: int, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The next block.

        Args:
            classes: classes C.
            height: the block's rows.
            width: its columns.

        Returns:
            (C, h, w) float32 ``log q + log p`` and (h, w) boolean validity.
        """
        count = classes * height * width
        joint = np.frombuffer(self.file.read(4 * count), np.float32)
        valid = np.frombuffer(self.file.read(height * width), np.uint8)
        shape = (height, width)
        return joint.reshape(classes, *shape), valid.reshape(shape).astype(bool)


@dataclass(frozen=True)
class _TileExport:
    """One tile's export in progress: what both passes read and write.

    Attributes:
        grid: the tile.
        blocks: its blocks, row-major.
        classes: classes C.
        products: its files.
        map_source: the class map is the argmax of ``'r'`` or ``'q'``.
        bar: progress over both passes' blocks.
    """

    grid: TileGrid
    blocks: list[Block]
    classes: int
    products: ProductWriter
    map_source: str
    bar: 'tqdm[Any]'


def _q_pass(
    task: ExportTask, dataset: TileDataset, tile: _TileExport, cache: _JointCache | None
) -> TileTotals:
    """First pass: q, the prior and the q map; the cache and totals for r.

    Args:
        task: the task (in eval mode).
        dataset: the data module's prediction dataset.
        tile: the tile's export.
        cache: where ``log q + log p`` go (None: r is not wanted).

    Returns:
        The tile's class totals of q (empty without a cache).
    """
    device = next(iter(task.parameters()), torch.zeros(())).device
    totals = TileTotals(tile.classes)
    with ThreadPoolExecutor(1) as reader:
        ahead = _ReadAhead(reader, dataset, tile.grid, tile.blocks)
        for block in tile.blocks:
            outputs = task.outputs(_batch(ahead.take(), device))
            log_q, prior = outputs['log_q'][0], outputs['prior'][0]
            inside = tile.grid.valid_mask(outputs['tile'][0], block.row, block.col)
            valid = (outputs['valid'][0] & inside).cpu()
            valid_np = valid.numpy()
            q = log_q.exp()
            tile.products.write('q', q.cpu().numpy(), valid_np, block.window)
            tile.products.write('prior', prior.cpu().numpy(), valid_np, block.window)
            if tile.map_source == 'q':
                write_distribution(
                    tile.products, q.cpu().numpy(), valid_np, block.window
                )
            if cache is not None:
                totals.add(q[None], valid.to(q.device)[None])
                cache.write(log_q, prior, valid_np)
            del outputs, log_q, prior, q
            release_freed_memory()
            tile.bar.update()
            check_stop()
    return totals


def _log_totals(totals: TileTotals, grid: TileGrid) -> np.ndarray:
    """(C, 1, 1) float32 log class totals of a tile, for r.

    Raises:
        ValueError: If the tile has no valid pixel.
    """
    if totals.tiles != 1 or not bool((totals.sums > 0).all()):
        raise ValueError(
            f'{grid.path} has no valid pixel: nothing to compute r with; check '
            'image_nodata (is the imagery all nodata here?) and that the coarse '
            'labels or prior cover this tile'
        )
    log_totals: np.ndarray = totals.log()[0].cpu().numpy()
    return log_totals[:, None, None]


def _r_pass(tile: _TileExport, cache: _JointCache, log_totals: np.ndarray) -> None:
    """Second pass: r of every block from the cache (and the r map).

    Args:
        tile: the tile's export.
        cache: the first pass's ``log q + log p``.
        log_totals: (C, 1, 1) the tile's log class totals of q.
    """
    cache.rewind()
    for block in tile.blocks:
        joint, valid = cache.read(tile.classes, block.height, block.width)
        joint = joint - log_totals
        r = np.exp(joint - joint.max(0, keepdims=True))
        r /= r.sum(0, keepdims=True)
        tile.products.write('r', r, valid, block.window)
        if tile.map_source == 'r':
            write_distribution(tile.products, r, valid, block.window)
        del joint, r
        release_freed_memory()
        tile.bar.update()
        check_stop()


def export_tile(
    task: ExportTask,
    dataset: TileDataset,
    grid: TileGrid,
    paths: dict[str, Path],
    scheme: ClassScheme,
    options: ExportOptions,
    progress: bool = True,
) -> dict[str, Path]:
    """Export one tile (see :mod:`torchgeo_lsr.export`).

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
    blocks = list(iter_blocks(grid.height, grid.width, options.window))
    tags = product_tags(scheme, options, task.hparams)
    was_training = task.training
    task.eval()
    try:
        with ExitStack() as stack, torch.no_grad():
            products = ProductWriter(grid, paths, scheme, options, tags, stack)
            cache = _JointCache(paths['map'], stack) if options.needs_r else None
            bar = stack.enter_context(
                tqdm(
                    total=len(blocks) * (2 if options.needs_r else 1),
                    desc=grid.path.name,
                    unit='block',
                    disable=not progress,
                    leave=False,
                )
            )
            tile = _TileExport(
                grid, blocks, scheme.num_classes, products, options.map_source, bar
            )
            totals = _q_pass(task, dataset, tile, cache)
            if cache is not None:
                _r_pass(tile, cache, _log_totals(totals, grid))
            products.finish()
    finally:
        task.train(was_training)
    write_qml(paths['map'], scheme)
    return paths

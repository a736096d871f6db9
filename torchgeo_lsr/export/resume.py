"""Resuming and stopping an export: what counts as done, what is left over, signals.

An export can be stopped at any moment (Ctrl-C, a scheduler's SIGTERM, SIGKILL, a
full disk) and run again with the same command:

* :func:`output_problem` says whether a file already at an output path is a
  complete map of its tile: a readable GeoTIFF with every byte its directories
  refer to (:func:`~torchgeo_lsr.io.truncated_by`), on the tile's grid, written by
  torchgeo-lsr as that product. Only a tile whose every output passes is skipped;
  any other file is rewritten.
* :func:`sweep_temporaries` removes what a killed export left beside a tile's
  outputs (``.<name>.*.part.tif`` GeoTIFFs, the ``.<name>.*.cache`` of the r pass
  and ``.<name>.tif.*.tmp.tif`` COGs being renamed): SIGKILL runs no clean-up.
* :func:`stop_on_sigterm` turns SIGTERM into a prompt stop between two blocks:
  :func:`check_stop` raises :class:`ExportStopped` (exit status 143), the tile in
  progress removes its temporary files, finished tiles stay.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import rasterio
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rasterio.errors import RasterioIOError

from ..io import truncated_by
from .grids import TileGrid

__all__ = (
    'ExportStopped',
    'check_stop',
    'output_problem',
    'stop_on_sigterm',
    'sweep_temporaries',
)

#: Set by the SIGTERM handler of :func:`stop_on_sigterm`.
_STOP = threading.Event()


class ExportStopped(SIGTERMException):
    """An export stopped by SIGTERM between two blocks (exit status 143)."""

    def __init__(self) -> None:
        """Exit with the shell's status for SIGTERM (128 + 15)."""
        super().__init__(128 + signal.SIGTERM)


def check_stop() -> None:
    """Stop here if SIGTERM arrived (see :func:`stop_on_sigterm`).

    Raises:
        ExportStopped: If it did.
    """
    if _STOP.is_set():
        raise ExportStopped()


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM makes :func:`check_stop` raise.

    The handler in place before (Lightning's, which only logs) still runs. Outside
    the main thread signals cannot be handled, and this does nothing.

    Yields:
        Nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        _STOP.set()
        if callable(previous):
            previous(signum, frame)

    _STOP.clear()
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _leftovers(path: Path) -> list[Path]:
    """Temporary files an export of ``path`` may leave when killed."""
    folder, stem, name = path.parent, path.stem, path.name
    if not folder.is_dir():
        return []
    patterns = (f'.{stem}.*.part.tif', f'.{stem}.*.cache', f'.{name}.*.tmp*')
    return sorted({f for pattern in patterns for f in folder.glob(pattern)})


def sweep_temporaries(paths: Mapping[str, Path]) -> list[Path]:
    """Remove what a killed export of these outputs left beside them.

    Only one process exports a tile at a time (DDP ranks split the tiles), so
    nothing else is writing these names.

    Args:
        paths: a tile's output paths by product.

    Returns:
        The files removed.
    """
    removed = []
    for path in paths.values():
        for leftover in _leftovers(path):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    for leftover in _leftovers(paths['map'].with_suffix('.qml')):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _tags_problem(src: Any, product: str, classes: int) -> str | None:
    """What is wrong with an output's tags and bands, if anything."""
    tags = src.tags()
    if tags.get('software') != 'torchgeo-lsr' or tags.get('product') != product:
        return f'not a {product!r} product of torchgeo-lsr'
    bands = classes if product in ('q', 'r', 'prior') else 1
    if src.count != bands:
        return f'{src.count} bands, {bands} expected'
    return None


def output_problem(
    path: Path, product: str, grid: TileGrid, classes: int
) -> str | None:
    """Why an existing output cannot be kept (None: it is a complete map).

    Args:
        path: the output file.
        product: ``'map'`` or a product name.
        grid: the tile's grid.
        classes: classes C.

    Returns:
        None if complete, else what is wrong (missing, cut short, ...).
    """
    if not path.is_file():
        return 'missing'
    try:
        missing = truncated_by(path)
        if missing:
            return f'cut short ({missing:,} bytes missing)'
        with rasterio.open(path) as src:
            if (src.width, src.height) != (grid.width, grid.height) or (
                src.crs != grid.crs or not src.transform.almost_equals(grid.transform)
            ):
                return "not on the tile's grid"
            return _tags_problem(src, product, classes)
    except (RasterioIOError, OSError) as error:
        return f'unreadable ({error})'

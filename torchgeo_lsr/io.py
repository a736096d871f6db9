"""Safe file input and output: clear errors for bad files, results whole or not at all.

Reading: :func:`open_raster` opens a raster a user gave and turns every way it can
be unreadable (missing, empty, not a raster, cut short) into one error naming its
role, its full path and what is wrong; :func:`check_raster` does the same without
keeping it open. Writing: :func:`check_output_file` and :func:`check_output_folder`
refuse an output location that cannot be written before any work is done, and
:func:`atomic_path` writes to a temporary file moved into place on success.
"""

import contextlib
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

__all__ = (
    'atomic_path',
    'check_class_raster',
    'check_output_file',
    'check_output_folder',
    'check_raster',
    'open_raster',
    'truncated_by',
)

PathLike = str | os.PathLike[str]


def _full(path: PathLike) -> str:
    """The absolute path, as messages name files."""
    return os.path.abspath(os.fspath(path))


#: Bytes per value of each TIFF field type.
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
                    11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip

#: Tags whose values are offsets (strips, tiles) and those giving their lengths.
_DATA_TAGS = {273: 279, 324: 325}


def _ifd_end(
    file: Any, order: str, big: bool, offset: int, size: int
) -> tuple[int, int]:
    """The furthest byte one TIFF directory refers to, and the next directory.

    Args:
        file: the open file.
        order: ``'<'`` or ``'>'``.
        big: BigTIFF layout.
        offset: the directory's offset.
        size: the file's size.

    Returns:
        The end of the furthest data it refers to, and the next directory's offset
        (0: none).
    """
    count_format, entry_format = ('Q', 'HHQQ') if big else ('H', 'HHII')
    inline = 8 if big else 4
    file.seek(offset)
    raw = file.read(struct.calcsize(order + count_format))
    if len(raw) < struct.calcsize(order + count_format):
        return offset + len(raw) + 1, 0  # the directory itself is cut
    (entries,) = struct.unpack(order + count_format, raw)
    entry_size = struct.calcsize(order + entry_format)
    block = file.read(entries * entry_size + inline)
    if len(block) < entries * entry_size + inline:
        return size + 1, 0
    end = offset + len(raw) + len(block)
    fields = {}
    for index in range(entries):
        tag, kind, count, value = struct.unpack_from(
            order + entry_format, block, index * entry_size
        )
        length = _TIFF_TYPE_SIZES.get(kind, 1) * count
        fields[tag] = (kind, count, value, length)
        if length > inline:
            end = max(end, value + length)
    for offsets_tag, lengths_tag in _DATA_TAGS.items():
        if offsets_tag in fields and lengths_tag in fields:
            starts = _tiff_values(file, order, big, fields[offsets_tag], size)
            lengths = _tiff_values(file, order, big, fields[lengths_tag], size)
            if starts and lengths:
                end = max(
                    end, max(a + b for a, b in zip(starts, lengths, strict=False))
                )
    (next_offset,) = struct.unpack_from(
        order + ('Q' if big else 'I'), block, entries * entry_size
    )
    return end, next_offset


def _tiff_values(
    file: Any, order: str, big: bool, field: tuple[int, int, int, int], size: int
) -> list[int]:
    """The integer values of a TIFF field (empty if they lie past the file's end).

    Args:
        file: the open file.
        order: byte order.
        big: BigTIFF layout.
        field: (type, count, value or offset, length in bytes).
        size: the file's size.

    Returns:
        The values.
    """
    kind, count, value, length = field
    code = {3: 'H', 4: 'I', 16: 'Q'}.get(kind)
    if code is None:
        return []
    if length <= (8 if big else 4):
        packed = struct.pack(order + ('Q' if big else 'I'), value)
    else:
        if value + length > size:
            return []
        file.seek(value)
        packed = file.read(length)
    return list(struct.unpack_from(f'{order}{count}{code}', packed))


def truncated_by(path: PathLike) -> int:
    """How many bytes a TIFF's directories and data reach past the end of its file.

    A file cut short (an interrupted copy or download) often still opens, and
    fails later with a misleading message: GDAL drops geo-keys that were cut (the
    file then "has no CRS") and fails only when a missing block is read. This reads
    the TIFF's own directories (classic and BigTIFF) and finds the furthest byte
    they refer to: tag values, strips and tiles, of every image (overviews too).

    Args:
        path: the file.

    Returns:
        The number of bytes missing (0 when complete, or not a TIFF).
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as file:
        header = file.read(16)
        if header[:2] not in (b'II', b'MM') or len(header) < 8:
            return 0
        order = '<' if header[:2] == b'II' else '>'
        (version,) = struct.unpack_from(order + 'H', header, 2)
        if version not in (42, 43):
            return 0
        big = version == 43
        if big and len(header) < 16:
            return 16 - len(header)
        (offset,) = struct.unpack_from(
            order + ('Q' if big else 'I'), header, 8 if big else 4
        )
        end, seen = 0, set[int]()
        while offset and offset not in seen and len(seen) < 1000:
            seen.add(offset)
            if offset >= size:
                end = max(end, offset + 1)
                break
            ifd_end, offset = _ifd_end(file, order, big, offset, size)
            end = max(end, ifd_end)
    return max(0, end - size)


def _unreadable(path: str, role: str, error: Exception | None) -> ValueError:
    """The error of a file that is not a readable raster.

    Args:
        path: the file (absolute).
        role: what it is for (``'coarse raster'``).
        error: GDAL's complaint, if any.

    Returns:
        The error to raise.
    """
    missing = truncated_by(path)
    if os.path.getsize(path) == 0:
        what = 'is empty (0 bytes)'
    elif missing:
        return ValueError(
            f'{role} {path} is cut short ({missing:,} bytes of its data are missing, '
            'e.g. an interrupted copy): copy or download it again'
        )
    else:
        detail = str(error).replace(path, '').strip(" :'") if error else ''
        what = f'is not a raster GDAL can read ({detail})' if detail else ''
        what = what or 'is not a raster GDAL can read'
    return ValueError(
        f'{role} {path} {what}: give a GeoTIFF (or another raster GDAL reads), '
        'complete and not renamed from another format'
    )


@contextlib.contextmanager
def open_raster(path: PathLike, role: str) -> Iterator[Any]:
    """Open a raster a user gave, or fail with one line saying what is wrong.

    Args:
        path: the file.
        role: what it is for, for messages (``'coarse raster'``, ``'--labels'``).

    Yields:
        The open rasterio dataset.

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it is a folder, empty, not a raster, or cut short.
    """
    full = _full(path)
    if not os.path.exists(full):
        raise FileNotFoundError(f'{role} {full} does not exist')
    if os.path.isdir(full):
        raise ValueError(f'{role} {full} is a folder: give a raster file')
    try:
        src = rasterio.open(full)
    except RasterioIOError as error:
        raise _unreadable(full, role, error) from None
    with src:
        missing = truncated_by(full)
        if missing:
            raise ValueError(
                f'{role} {full} is cut short ({missing:,} bytes of its data are '
                'missing, e.g. an interrupted copy): copy or download it again'
            )
        yield src


def check_class_raster(src: Any, role: str, integer: bool = True) -> None:
    """Refuse a raster that cannot be scored as classes: no CRS, bands, float values.

    Imagery or a probability raster given where a class map or labels are expected
    would otherwise be scored as codes (its first band, truncated to integers).

    Args:
        src: the open raster.
        role: what it is for, for messages.
        integer: refuse floating-point values (coarse rasters may store codes
            as floats with NaN nodata).

    Raises:
        ValueError: If it has no CRS (it would be compared in the other raster's),
            more than one band or (with ``integer``) a floating-point type.
    """
    name = os.path.abspath(src.name)
    if src.crs is None:
        raise ValueError(
            f'{role} {name} has no CRS: assign the CRS its coordinates are in, e.g. '
            f'gdal_edit.py -a_srs EPSG:32617 {name}'
        )
    if src.count != 1:
        raise ValueError(
            f'{role} {name} has {src.count} bands, a class raster has one: give the '
            "class map (an export's map, not its q / r / prior products) or labels, "
            'not imagery'
        )
    if integer and np.dtype(src.dtypes[0]).kind == 'f':
        raise ValueError(
            f'{role} {name} holds {src.dtypes[0]} values, a class raster holds '
            'integer codes: give a class map or labels, not probabilities'
        )


def check_raster(path: PathLike, role: str) -> None:
    """Refuse a raster that does not exist or cannot be read (see :func:`open_raster`).

    Args:
        path: the file.
        role: what it is for, for messages.
    """
    with open_raster(path, role):
        pass


def _check_writable_folder(folder: str, what: str) -> None:
    """Refuse a folder that cannot take new files.

    Args:
        folder: an existing folder (absolute).
        what: the output, for messages.

    Raises:
        PermissionError: If files cannot be created in it.
    """
    try:
        handle, name = tempfile.mkstemp(prefix='.torchgeo-lsr-check.', dir=folder)
    except OSError as error:
        raise PermissionError(
            f'{what}: cannot write in {folder} ({error.strerror}): choose a folder '
            'you can write to'
        ) from None
    os.close(handle)
    os.unlink(name)


def _existing_parent(path: str) -> str:
    """The nearest folder of ``path`` that exists (a missing one is created later).

    Args:
        path: an absolute path.

    Returns:
        The folder.

    Raises:
        NotADirectoryError: If the nearest existing ancestor is a file.
    """
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(
            f'{path}: {parent} is a file, so no folder can be made there'
        )
    return parent


def check_output_file(path: PathLike, what: str) -> Path:
    """Refuse an output file path before any work: a folder, or not writable.

    Missing parent folders are fine (they are created when the file is written).

    Args:
        path: the file to write.
        what: the option that names it, for messages (``'--out'``).

    Returns:
        The path.

    Raises:
        IsADirectoryError: If it is an existing folder.
        NotADirectoryError: If a parent is a file.
        PermissionError: If its folder cannot take new files.
    """
    full = _full(path)
    if os.path.isdir(full):
        raise IsADirectoryError(
            f'{what} {full} is a folder: give the path of the file to write'
        )
    _check_writable_folder(_existing_parent(full), what)
    return Path(path)


def check_output_folder(path: PathLike, what: str) -> Path:
    """Refuse an output folder before any work: a file, or not writable.

    Args:
        path: the folder to write in (created if missing).
        what: the option that names it, for messages.

    Returns:
        The path.

    Raises:
        NotADirectoryError: If it (or a parent) is a file.
        PermissionError: If it cannot take new files.
    """
    full = _full(path)
    if os.path.exists(full) and not os.path.isdir(full):
        raise NotADirectoryError(
            f'{what} {full} is a file: give a folder (it is created if missing)'
        )
    folder = full if os.path.isdir(full) else _existing_parent(full)
    _check_writable_folder(folder, what)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Write to a temporary file beside ``path`` and move it into place on success.

    An interrupted or failing writer leaves any existing file at ``path`` untouched
    and no partial file behind.

    Args:
        path: final location; its parent folders are created.

    Yields:
        The temporary path to write to (same folder and suffix as ``path``).

    Raises:
        Exception: Whatever the writer raised; the temporary file is removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f'.{target.name}.', suffix=f'.tmp{target.suffix}', dir=target.parent
    )
    os.close(handle)
    temporary = Path(name)
    # mkstemp creates owner-only files; results get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

"""The fast sampling path: windows read straight from open files on a shared grid.

TorchGeo's :class:`~torchgeo.datasets.RasterDataset` reads every sample through a
spatial-index query, a (possibly warped) file handle and :func:`rasterio.merge.merge`,
which costs far more than the pixels themselves. Where every input lies on the
imagery's pixel grid (same CRS, north up, no warp) or on a coarser grid whose cells are
whole blocks of imagery pixels (30 m labels on 1 m imagery: 30 x 30 blocks), a window
is plain integer arithmetic: :class:`AlignedReader` reads it from cached open datasets,
coarse inputs at their own resolution, and repeats coarse cells onto the imagery grid
(nearest resampling, exactly what :func:`~rasterio.merge.merge` does on such grids).

It gives the same sample as the TorchGeo path, byte for byte (tests check it): the same
nodata fill (the files' nodata, else 0), masked pixels read as that fill, files earlier
in the index winning where they overlap, the same dtypes. Inputs it cannot read exactly
(other CRSs, rotated or warped grids, non-integer resolution ratios, offsets that are
not whole pixels, per-band files, time series, a dataset-level nodata override) make
:func:`plan_aligned_reads` return None with the reason, and TorchGeo's path is used;
a query whose corner is not on the imagery grid falls back per sample.
"""

import math
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.enums import MaskFlags
from rasterio.io import DatasetReader
from rasterio.windows import Window
from torchgeo.datasets import GeoDataset, IntersectionDataset, RasterDataset
from torchgeo.datasets.utils import Sample, array_to_tensor

__all__ = ('AlignedReader', 'AlignedSource', 'GridFile', 'plan_aligned_reads')

#: Offsets and ratios within this fraction of a pixel of a whole number are whole.
PIXEL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class GridFile:
    """One file of an input, placed on the imagery grid.

    Attributes:
        path: the file.
        row: row of its top edge, in imagery pixels from the grid origin.
        col: column of its left edge, in imagery pixels from the grid origin.
        height: its height in its own pixels.
        width: its width in its own pixels.
    """

    path: str
    row: int
    col: int
    height: int
    width: int


@dataclass(frozen=True)
class AlignedSource:
    """An input whose files all lie on the imagery grid (or whole blocks of it).

    Attributes:
        key: sample key of its data (``'image'``, ``'coarse'``, ``'mask'``, ...).
        files: its files, in the dataset's index order (earlier ones win).
        ratio: each of its pixels covers ``ratio x ratio`` imagery pixels.
        bands: 1-based band indexes to read (None: all).
        count: number of bands read.
        dtype: numpy dtype of its files.
        fill: value outside the files and at masked pixels.
        nodata: the files' nodata value (None: none).
        mask: how the files mask pixels: ``'none'``, ``'nodata'`` (their nodata
            value only) or ``'gdal'`` (other masks: read through GDAL's).
        torch_dtype: dtype of the sample's tensor (the dataset's).
        is_image: the data keeps its band axis (else it is squeezed, as masks are).
    """

    key: str
    files: tuple[GridFile, ...]
    ratio: int
    bands: tuple[int, ...] | None
    count: int
    dtype: np.dtype[Any]
    fill: float
    nodata: float | None
    mask: str
    torch_dtype: torch.dtype
    is_image: bool


def _close_all(handles: dict[str, DatasetReader]) -> None:
    """Close open datasets (a reader's finaliser)."""
    for handle in handles.values():
        handle.close()
    handles.clear()


def _tensor(array: np.ndarray) -> torch.Tensor:
    """An array as a tensor without a copy where torch has its dtype."""
    if array.dtype in (np.uint16, np.uint32):
        return array_to_tensor(array)
    return torch.from_numpy(np.ascontiguousarray(array))


def _leaves(dataset: GeoDataset) -> Iterator[GeoDataset]:
    """The datasets an intersection combines, in the order it reads them."""
    if isinstance(dataset, IntersectionDataset):
        for part in dataset.datasets:
            yield from _leaves(part)
    else:
        yield dataset


def _whole(value: float) -> int | None:
    """``value`` as an integer if it is one (to :data:`PIXEL_TOLERANCE`), else None."""
    rounded = round(value)
    return rounded if abs(value - rounded) <= PIXEL_TOLERANCE else None


def _fill_value(nodata: float | None, dtype: np.dtype[Any]) -> float:
    """The fill :func:`rasterio.merge.merge` uses: the files' nodata if it fits."""
    if nodata is None:
        return 0.0
    if math.isnan(nodata):
        return nodata if dtype.kind == 'f' else 0.0
    info = np.iinfo(dtype) if dtype.kind in 'iu' else np.finfo(dtype)
    if not info.min <= nodata <= info.max:
        return 0.0
    if dtype.kind == 'f' and not np.can_cast(np.min_scalar_type(nodata), dtype):
        return 0.0
    return nodata


def _mask_kind(handle: DatasetReader) -> str:
    """How a file masks pixels (see :attr:`AlignedSource.mask`)."""
    flags = {tuple(band) for band in handle.mask_flag_enums}
    if flags == {(MaskFlags.all_valid,)}:
        return 'none'
    if flags == {(MaskFlags.nodata,)}:
        return 'nodata'
    return 'gdal'


def _plan_source(
    dataset: RasterDataset, origin: tuple[float, float], res: tuple[float, float]
) -> AlignedSource | str:
    """Place one dataset's files on the imagery grid, or say why it cannot be.

    Args:
        dataset: the input (a keyed raster dataset of the data path).
        origin: ``(left, top)`` of the imagery grid.
        res: ``(xres, yres)`` of the imagery grid.

    Returns:
        The source, or the reason its reads need TorchGeo's path.
    """
    name = type(dataset).__name__
    if dataset.separate_files or dataset.time_series:
        return f'{name} reads per-band files or time series'
    if dataset.nodata is not None:
        return f'{name} overrides the files nodata'
    files, meta = [], set()
    for path in dataset.index['filepath']:
        handle = dataset._cached_load_warp_file(path, dataset.crs)
        if not isinstance(handle, DatasetReader):
            return f'{path} is warped to the imagery CRS'
        transform = handle.transform
        if transform.b or transform.d or transform.a <= 0 or transform.e >= 0:
            return f'{path} is not north up'
        ratio = _whole(transform.a / res[0])
        if ratio is None or ratio < 1 or _whole(-transform.e / res[1]) != ratio:
            return f'{path}: its pixels are not whole blocks of imagery pixels'
        if ratio > 1 and dataset.resampling != rasterio.enums.Resampling.nearest:
            return f'{path} would be resampled bilinearly'
        col = _whole((transform.c - origin[0]) / res[0])
        row = _whole((origin[1] - transform.f) / res[1])
        if col is None or row is None:
            return f'{path} is offset from the imagery grid by part of a pixel'
        files.append(GridFile(str(path), row, col, handle.height, handle.width))
        meta.add(
            (ratio, handle.dtypes[0], handle.nodata, handle.count, _mask_kind(handle))
        )
    if len(meta) != 1:
        return f'{name} files differ in resolution, dtype, nodata or bands'
    ratio, dtype, nodata, count, mask = meta.pop()
    bands = tuple(dataset.band_indexes) if dataset.band_indexes else None
    return AlignedSource(
        key=getattr(dataset, 'sample_key', 'image' if dataset.is_image else 'mask'),
        files=tuple(files),
        ratio=ratio,
        bands=bands,
        count=len(bands) if bands else count,
        dtype=np.dtype(dtype),
        fill=_fill_value(nodata, np.dtype(dtype)),
        nodata=nodata,
        mask=mask,
        torch_dtype=dataset.dtype,
        is_image=dataset.is_image,
    )


def plan_aligned_reads(dataset: GeoDataset) -> 'AlignedReader | str':
    """An aligned reader for an intersection of raster datasets, if one applies.

    Args:
        dataset: the intersection the data module samples (imagery first).

    Returns:
        The reader, or the reason TorchGeo's path must read the samples.
    """
    leaves = list(_leaves(dataset))
    if not all(isinstance(leaf, RasterDataset) for leaf in leaves):
        return 'an input is not a raster dataset'
    rasters: list[RasterDataset] = [leaf for leaf in leaves]  # type: ignore[misc]
    imagery = rasters[0]
    first = imagery.index['filepath'].iloc[0]
    handle = imagery._cached_load_warp_file(first, imagery.crs)
    if not isinstance(handle, DatasetReader):
        return f'{first} is warped'
    res = (float(imagery.res[0]), float(imagery.res[1]))
    origin = (handle.transform.c, handle.transform.f)
    sources = []
    for raster in rasters:
        source = _plan_source(raster, origin, res)
        if isinstance(source, str):
            return source
        sources.append(source)
    if sources[0].ratio != 1:
        return 'the imagery files are not on one grid'
    return AlignedReader(tuple(sources), origin, res)


class AlignedReader:
    """Reads windows of inputs placed on one grid from cached open files.

    Picklable: file handles are opened lazily in each process (data-loader
    workers included) and not pickled.
    """

    def __init__(
        self,
        sources: Sequence[AlignedSource],
        origin: tuple[float, float],
        res: tuple[float, float],
    ) -> None:
        """Initialise the reader.

        Args:
            sources: the inputs, imagery first.
            origin: ``(left, top)`` of the imagery grid.
            res: ``(xres, yres)`` of the imagery grid.
        """
        self.sources = tuple(sources)
        self.origin = origin
        self.res = res
        self._handles: dict[str, DatasetReader] = {}
        self._closer: Callable[[], object] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without open file handles."""
        state = self.__dict__.copy()
        state['_handles'], state['_closer'] = {}, None
        return state

    def _open(self, path: str) -> DatasetReader:
        """The cached open dataset of a file."""
        handle = self._handles.get(path)
        if handle is None:
            if self._closer is None:
                # Closed when the reader goes, or at exit while GDAL and logging
                # still work (closing them during the interpreter's teardown
                # fails and garbles the last lines a user sees).
                self._closer = weakref.finalize(self, _close_all, self._handles)
            handle = self._handles[path] = rasterio.open(path)
        return handle

    def window(self, x: slice, y: slice) -> tuple[int, int, int, int] | None:
        """The pixel window of a query on the grid, if its corner is on the grid.

        Args:
            x: the query's ``xmin:xmax:xres``.
            y: the query's ``ymin:ymax:yres``.

        Returns:
            ``(row, col, height, width)`` in imagery pixels from the grid origin, or
            None when the query is off the grid (another resolution, or a corner
            between pixels).
        """
        if not (
            math.isclose(x.step, self.res[0], rel_tol=1e-9)
            and math.isclose(y.step, self.res[1], rel_tol=1e-9)
        ):
            return None
        col = _whole((x.start - self.origin[0]) / self.res[0])
        row = _whole((self.origin[1] - y.stop) / self.res[1])
        if col is None or row is None:
            return None
        width = round((x.stop - x.start) / self.res[0])
        height = round((y.stop - y.start) / self.res[1])
        return row, col, height, width

    def read(
        self,
        window: tuple[int, int, int, int],
        trim: Mapping[str, int] | None = None,
        native: bool = False,
        blocks: Collection[str] = (),
    ) -> dict[str, torch.Tensor]:
        """Every input's data on a window of the imagery grid.

        Args:
            window: ``(row, col, height, width)`` from :meth:`window`.
            trim: pixels to leave off every side of the window, by sample key
                (inputs that need no halo).
            native: keep integer data in its files' dtype (uint16 as int32)
                instead of the dataset's dtype (float32 images, int64 masks).
            blocks: sample keys of coarse inputs to give as their own pixels
                where one file covers the window: ``<key>`` (h, w) and the
                block of every window row and column, ``<key>_rows`` (H,) and
                ``<key>_cols`` (W,) (see :mod:`~torchgeo_lsr.priors.separable`).

        Returns:
            Tensors by sample key, as TorchGeo's datasets give them: images
            ``(bands, height, width)``, masks ``(height, width)``.
        """
        trim = trim or {}
        out: dict[str, torch.Tensor] = {}
        for source in self.sources:
            cut = trim.get(source.key, 0)
            row, col, height, width = window
            inner = (row + cut, col + cut, height - 2 * cut, width - 2 * cut)
            if source.key in blocks and source.ratio > 1:
                found = self._blocks(source, inner)
                if found is not None:
                    out.update(found)
                    continue
            out[source.key] = self._read_source(source, inner, native)
        return out

    def _covering(
        self, source: AlignedSource, window: tuple[int, int, int, int]
    ) -> GridFile | None:
        """The one file of a source that meets a window, if it covers it whole.

        Only where its pixels need no masking either (none masked, or masked to
        the fill value they hold): the window is then the file's data as read.
        """
        if not (
            source.mask == 'none'
            or (source.mask == 'nodata' and source.nodata == source.fill)
        ):
            return None
        row, col, height, width = window
        found = None
        for file in source.files:
            bottom = file.row + file.height * source.ratio
            right = file.col + file.width * source.ratio
            if file.row >= row + height or bottom <= row:
                continue
            if file.col >= col + width or right <= col:
                continue
            if found is not None:
                return None
            covers = file.row <= row and bottom >= row + height
            if not (covers and file.col <= col and right >= col + width):
                return None
            found = file
        return found

    def _blocks(
        self, source: AlignedSource, window: tuple[int, int, int, int]
    ) -> dict[str, torch.Tensor] | None:
        """A coarse input's own pixels over a window and their row/column maps."""
        file = self._covering(source, window)
        if file is None:
            return None
        row, col, height, width = window
        ratio = source.ratio
        rows = (np.arange(row, row + height) - file.row) // ratio
        cols = (np.arange(col, col + width) - file.col) // ratio
        data = self._open(file.path).read(
            source.bands[0] if source.bands else 1,
            window=Window(
                int(cols[0]),
                int(rows[0]),
                int(cols[-1] - cols[0] + 1),
                int(rows[-1] - rows[0] + 1),
            ),
        )
        return {
            source.key: _tensor(data),
            f'{source.key}_rows': torch.from_numpy(rows - rows[0]),
            f'{source.key}_cols': torch.from_numpy(cols - cols[0]),
        }

    def _read_source(
        self, source: AlignedSource, window: tuple[int, int, int, int], native: bool
    ) -> torch.Tensor:
        """One input on a window (see :meth:`read`)."""
        row, col, height, width = window
        file = self._covering(source, window) if source.ratio == 1 else None
        if file is not None:
            # The common case: one file, read straight into the sample.
            out = self._open(file.path).read(
                source.bands,
                window=Window(col - file.col, row - file.row, width, height),
            )
            out = out[None] if out.ndim == 2 else out
        else:
            out = np.full((source.count, height, width), source.fill, source.dtype)
            for part in source.files:
                self._paste(source, part, (row, col, height, width), out)
        data = _tensor(out)
        if not (native and source.dtype.kind in 'iu'):
            data = data.to(source.torch_dtype)
        return data if source.is_image else data.squeeze(0)

    def _paste(
        self,
        source: AlignedSource,
        file: GridFile,
        window: tuple[int, int, int, int],
        out: np.ndarray,
    ) -> None:
        """Copy one file's part of a window into ``out`` where it holds the fill.

        As :func:`rasterio.merge.merge` does: a pixel still holding the fill value
        (NaN for NaN, close to it for other floats) takes the file's value unless
        the file masks it.
        """
        row, col, height, width = window
        ratio = source.ratio
        # The window's imagery pixels inside the file.
        top = max(row, file.row)
        bottom = min(row + height, file.row + file.height * ratio)
        left = max(col, file.col)
        right = min(col + width, file.col + file.width * ratio)
        if top >= bottom or left >= right:
            return
        # The file's pixels those cover.
        row0, row1 = (top - file.row) // ratio, (bottom - 1 - file.row) // ratio + 1
        col0, col1 = (left - file.col) // ratio, (right - 1 - file.col) // ratio + 1
        data, masked = self._read_file(
            source, file.path, Window(col0, row0, col1 - col0, row1 - row0)
        )
        if ratio > 1:
            rows = (np.arange(top, bottom) - file.row) // ratio - row0
            cols = (np.arange(left, right) - file.col) // ratio - col0
            data = data[:, rows][:, :, cols]
            masked = masked[:, rows][:, :, cols] if masked is not None else None
        region = out[:, top - row : bottom - row, left - col : right - col]
        fill = source.fill
        if masked is None and len(source.files) == 1:
            # One file, nothing masked: every pixel still holds the fill.
            region[...] = data
            return
        if math.isnan(fill):
            unwritten = np.isnan(region)
        elif region.dtype.kind == 'f':
            unwritten = np.isclose(region, fill)
        else:
            unwritten = region == fill
        writable = unwritten if masked is None else unwritten & ~masked
        np.copyto(region, data, where=writable, casting='unsafe')

    def _read_file(
        self, source: AlignedSource, path: str, window: Window
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A window of one file and its mask (None: nothing masked).

        Files whose only mask is their nodata value are read plainly and compared
        with it (what GDAL's nodata mask does, without numpy's masked arrays);
        others get GDAL's masks.
        """
        handle = self._open(path)
        if source.mask == 'gdal':
            read = handle.read(source.bands, window=window, masked=True)
            read = read[None] if read.ndim == 2 else read
            return np.ma.getdata(read), np.ma.getmaskarray(read)
        data = handle.read(source.bands, window=window)
        data = data[None] if data.ndim == 2 else data
        if source.mask == 'none':
            return data, None
        nodata = float(source.nodata)  # type: ignore[arg-type]
        masked = np.isnan(data) if math.isnan(nodata) else data == nodata
        return data, masked if masked.any() else None

    def sample(
        self,
        x: slice,
        y: slice,
        t: slice,
        trim: Mapping[str, int] | None = None,
        native: bool = False,
        blocks: Collection[str] = (),
    ) -> Sample | None:
        """A raw sample of all inputs for a query, as the intersection reads it.

        Args:
            x: the query's ``xmin:xmax:xres``.
            y: the query's ``ymin:ymax:yres``.
            t: its time slice.
            trim: pixels to leave off every side, by sample key (see :meth:`read`).
            native: keep integer data in its files' dtype (see :meth:`read`).
            blocks: coarse inputs to give as their own pixels (see :meth:`read`).

        Returns:
            The sample with ``bounds`` and ``transform`` of the query, or None when
            the query is off the grid.
        """
        window = self.window(x, y)
        if window is None:
            return None
        sample: Sample = dict(self.read(window, trim, native, blocks))
        transform = rasterio.transform.from_origin(x.start, y.stop, x.step, y.step)
        bounds = [x.start, x.stop, x.step, y.start, y.stop, y.step]
        bounds += [t.start.timestamp(), t.stop.timestamp(), t.step]
        # One copy per input, as TorchGeo's intersections concatenate them.
        copies = len(self.sources)
        sample['bounds'] = torch.tensor(bounds * copies)
        sample['transform'] = torch.tensor(list(transform) * copies)
        return sample

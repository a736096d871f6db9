"""Input files of the LSR data modules: what each stage reads, and opening it.

A data module reads four raster inputs by *role*: the imagery (``'image'``), the
coarse labels (``'coarse'``), the high-res labels (``'label'``) and precomputed priors
(``'prior'``), each from files or folders matched by a glob, plus auxiliary layers
(rasters or vectors, see :mod:`~torchgeo_lsr.datamodules.layer_set`).
:class:`StageInputs` lists the files one stage reads; :func:`open_input` opens one
role as a raster dataset, naming the role and its glob when nothing matches;
:func:`select_tiles` picks imagery tiles by file name or stem for the splits.
Every raster input must carry a CRS: :func:`check_georeferenced` refuses a file
without one (naming the file, its role and the fix), as ``prior``, ``cooccurrence``
and ``evaluate`` do, instead of assuming the imagery's CRS.
"""

import functools
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import rasterio
from rasterio.errors import RasterioIOError
from torchgeo.datasets import DatasetNotFoundError, GeoDataset, RasterDataset
from torchgeo.datasets.utils import find_files

from ..datasets.rasters import (
    CoarseLabelRaster,
    ImageryRaster,
    LabelRaster,
    PriorRaster,
)
from ..grid import check_overlap
from ..io import open_raster

__all__ = (
    'ROLE_DATASETS',
    'ROLE_NAMES',
    'Paths',
    'Role',
    'StageInputs',
    'band_count',
    'check_coverage',
    'check_georeferenced',
    'is_raster',
    'open_input',
    'path_list',
    'select_tiles',
)

#: A file, a folder, or several of them.
Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

#: The raster inputs of a data module.
Role = Literal['image', 'coarse', 'label', 'prior']

#: The raster dataset class of each role.
ROLE_DATASETS: dict[str, Callable[..., RasterDataset]] = {
    'image': ImageryRaster,
    'coarse': CoarseLabelRaster,
    'label': LabelRaster,
    'prior': PriorRaster,
}

#: Readable names of the roles, for messages.
ROLE_NAMES = {
    'image': 'imagery',
    'coarse': 'coarse labels',
    'label': 'high-res labels',
    'prior': 'priors',
}

_RASTER_SUFFIXES = ('.tif', '.tiff', '.vrt', '.img', '.jp2')


@dataclass
class StageInputs:
    """The files one stage (fit, validate, test, predict) reads.

    Attributes:
        image: imagery files (each one a tile of the stage).
        coarse: coarse label files or folders.
        label: high-res label files or folders.
        prior: precomputed prior files or folders.
        layers: auxiliary layer files (rasters or vectors) by layer name.
    """

    image: list[str]
    coarse: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    prior: list[str] = field(default_factory=list)
    layers: dict[str, list[str]] = field(default_factory=dict)


def path_list(paths: Paths | None) -> list[str]:
    """Normalise a file, a folder or a list of them to a list of strings.

    Args:
        paths: one path, several, or None.

    Returns:
        The paths as strings (empty for None).
    """
    if paths is None:
        return []
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def is_raster(path: str) -> bool:
    """Whether a layer path is a raster (or a folder of rasters), not vectors.

    Args:
        path: a file or folder.

    Returns:
        True for folders, files with a raster suffix and files GDAL opens as
        rasters.
    """
    if os.path.isdir(path):
        return True
    if Path(path).suffix.lower() in _RASTER_SUFFIXES:
        return True
    try:
        with rasterio.open(path):
            return True
    except RasterioIOError:
        return False


@functools.lru_cache(maxsize=4096)
def _raster_problem(path: str, mtime: float, what: str) -> str | None:
    """What is wrong with an input raster file, if anything.

    Args:
        path: the file.
        mtime: its modification time (the cache key: a rewritten file is re-read).
        what: its role, for the message.

    Returns:
        None for a readable, complete raster with a CRS, else the message.
    """
    try:
        with open_raster(path, what) as src:
            if src.crs is None:
                return (
                    f'{os.path.abspath(path)} ({what}) has no CRS: assign the CRS its '
                    f'coordinates are in, e.g. gdal_edit.py -a_srs EPSG:32617 {path}'
                )
    except (FileNotFoundError, ValueError) as error:
        return str(error)
    return None


def check_georeferenced(files: Iterable[str], what: str) -> None:
    """Refuse input files that are not complete, readable rasters with a CRS.

    TorchGeo skips files it cannot open (a tile would silently go missing) and
    assumes the grid's CRS for a file without one; both are refused here.

    Args:
        files: the raster files.
        what: their role, for the message (``'imagery'``, ``'buildings layer'``).

    Raises:
        ValueError: If a file is empty, not a raster, cut short or has no CRS
            (names the file, its role and the fix).
    """
    for path in files:
        mtime = os.path.getmtime(path) if os.path.exists(path) else 0.0
        problem = _raster_problem(str(path), mtime, what)
        if problem is not None:
            raise ValueError(problem)


def open_input(
    role: str, paths: Sequence[str], glob: str, **grid: Any
) -> RasterDataset:
    """Open one input as a raster dataset, naming the input when it is missing.

    Args:
        role: ``'image'``, ``'coarse'``, ``'label'`` or ``'prior'``.
        paths: its files or folders.
        glob: pattern of its files inside folders.
        **grid: passed to the dataset class (``crs``, ``res``).

    Returns:
        The dataset (the role's class of :data:`ROLE_DATASETS`).

    Raises:
        FileNotFoundError: If no file matches (names the role, glob and paths).
        ValueError: If a file has no CRS.
    """
    # Before opening: TorchGeo would assume the grid's CRS for such a file (or
    # fail with a bare CRSError for the first imagery file).
    files = sorted({f for path in paths for f in find_files(Path(path), glob)})
    check_georeferenced(files, ROLE_NAMES[role])
    try:
        return ROLE_DATASETS[role](list(paths), filename_glob=glob, **grid)
    except DatasetNotFoundError:
        raise FileNotFoundError(
            f'no {ROLE_NAMES[role]} files matching {glob!r} in {list(paths)} '
            f'(set {role}_paths / {role}_glob)'
        ) from None


def _names_file(path: str, wanted: str) -> bool:
    """Whether ``wanted`` is the file name or the stem of ``path``."""
    return Path(path).name == wanted or Path(path).stem == wanted


def select_tiles(
    files: Sequence[str], names: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[str]:
    """Imagery files selected by name or stem (or all but ``exclude``).

    Args:
        files: the imagery files.
        names: file names or stems to keep (empty: keep all).
        exclude: file names or stems to drop.

    Returns:
        The matching files, sorted.

    Raises:
        ValueError: If a requested or excluded tile matches no imagery file.
    """
    files = sorted(files)
    for wanted in [*names, *exclude]:
        if not any(_names_file(f, wanted) for f in files):
            raise ValueError(f'no imagery file named {wanted!r} for the split')
    keep = [f for f in files if not names or any(_names_file(f, n) for n in names)]
    return [f for f in keep if not any(_names_file(f, n) for n in exclude)]


def band_count(dataset: RasterDataset) -> int:
    """Number of bands of a raster dataset: its named bands, or its first file's.

    Args:
        dataset: a TorchGeo raster dataset.

    Returns:
        The number of bands.
    """
    if dataset.all_bands:
        return len(dataset.all_bands)
    with rasterio.open(next(iter(dataset.files))) as src:
        return int(src.count)


def check_coverage(
    imagery: RasterDataset, sources: Sequence[tuple[str, GeoDataset]]
) -> None:
    """Refuse inputs that miss the imagery; warn about tiles an input misses.

    Args:
        imagery: the stage's imagery.
        sources: ``(role, dataset)`` of the inputs read with it, on its grid.

    Raises:
        ValueError: If an input does not overlap the imagery at all.
    """
    extent = imagery.index.geometry.union_all()
    for role, source in sources:
        covered = source.index.geometry.union_all()
        check_overlap(
            extent,
            covered,
            first_name='the imagery',
            second_name=f'the {ROLE_NAMES[role]}',
            first_crs=imagery.crs,
            plural=True,
        )
        # A tile no input file meets would silently drop out of every stage.
        missed = [
            Path(str(path)).name
            for path, geometry in zip(
                imagery.index['filepath'], imagery.index.geometry, strict=True
            )
            if not geometry.intersection(covered).area > 0
        ]
        if missed:
            warnings.warn(
                f'{len(missed)} imagery tile(s) meet no {ROLE_NAMES[role]} file and '
                f'are left out: {", ".join(sorted(set(missed))[:10])}',
                stacklevel=3,
            )

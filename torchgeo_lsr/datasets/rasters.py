"""Raster datasets of the LSR data path: imagery, coarse labels, high-res labels, priors.

Thin :class:`~torchgeo.datasets.RasterDataset` subclasses. Each finds its files by a
configurable glob (so users' own files work) and puts its data under a key of its own,
so that they can be intersected (``imagery & coarse & labels``) without clashing:

=========================  ========  =================  ==============================
class                      key       dtype              resampling
=========================  ========  =================  ==============================
:class:`ImageryRaster`     image     float32            bilinear
:class:`CoarseLabelRaster` coarse    int64 (codes)      nearest
:class:`LabelRaster`       mask      int64 (codes)      nearest
:class:`PriorRaster`       prior     float32            bilinear
:class:`LayerRaster`       layer_*   int64 (0/1, ...)   nearest
=========================  ========  =================  ==============================

Label codes are kept raw; class schemes (:mod:`torchgeo_lsr.schemes`) map them.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from pyproj import CRS
from torchgeo.datasets import RasterDataset
from torchgeo.datasets.utils import GeoSlice, Path, Sample

__all__ = (
    'CoarseLabelRaster',
    'ImageryRaster',
    'LabelRaster',
    'LayerRaster',
    'PriorRaster',
)


class _KeyedRaster(RasterDataset):
    """A raster dataset with a configurable glob and its own sample key."""

    #: Sample key of this dataset's data.
    sample_key: ClassVar[str] = 'image'
    filename_glob = '*.tif'

    def __init__(
        self,
        paths: Path | Iterable[Path] = 'data',
        crs: CRS | None = None,
        res: float | tuple[float, float] | None = None,
        bands: Sequence[str] | None = None,
        transforms: Callable[[Sample], Sample] | None = None,
        cache: bool = True,
        filename_glob: str | None = None,
    ) -> None:
        """Initialise the dataset.

        Args:
            paths: files or folders to search (as TorchGeo's ``paths``).
            crs: CRS to warp to (default: that of the first file).
            res: resolution in CRS units (default: that of the first file).
            bands: bands to return (default: all).
            transforms: transform applied to each sample (after renaming the key).
            cache: cache file handles.
            filename_glob: pattern of the files to use (default: ``*.tif``).

        Raises:
            DatasetNotFoundError: If no matching file is found.
        """
        if filename_glob is not None:
            self.filename_glob = filename_glob
        super().__init__(paths, crs, res, bands, transforms=None, cache=cache)
        self.keyed_transforms = transforms

    def __getitem__(self, index: GeoSlice) -> Sample:
        """Read a sample and store its data under :attr:`sample_key`.

        Args:
            index: ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tres]`` slice.

        Returns:
            The sample.
        """
        sample = super().__getitem__(index)
        default = 'image' if self.is_image else 'mask'
        if self.sample_key != default:
            sample[self.sample_key] = sample.pop(default)
        if self.keyed_transforms is not None:
            sample = self.keyed_transforms(sample)
        return sample


class ImageryRaster(_KeyedRaster):
    """Multispectral imagery, e.g. NAIP (R, G, B, NIR); float32 under ``image``."""

    is_image = True
    sample_key = 'image'


class CoarseLabelRaster(_KeyedRaster):
    """Coarse labels, e.g. 30 m NLCD; raw integer codes under ``coarse``."""

    is_image = False
    sample_key = 'coarse'


class LabelRaster(_KeyedRaster):
    """High-resolution labels (for metrics); raw integer codes under ``mask``."""

    is_image = False
    sample_key = 'mask'


class PriorRaster(_KeyedRaster):
    """Precomputed priors (``torchgeo-lsr prior``); float32 bands under ``prior``."""

    is_image = True
    sample_key = 'prior'


class LayerRaster(_KeyedRaster):
    """An auxiliary layer as a raster (e.g. EnviroAtlas's 0/1 roads or buildings).

    Its data goes under ``layer_<name>``, so several layers intersect without
    clashing.
    """

    is_image = False

    def __init__(
        self,
        name: str,
        paths: Path | Iterable[Path] = 'data',
        crs: CRS | None = None,
        res: float | tuple[float, float] | None = None,
        cache: bool = True,
        filename_glob: str | None = None,
    ) -> None:
        """Initialise the dataset.

        Args:
            name: layer name (``'roads'``, ``'buildings'``, ...).
            paths: files or folders to search.
            crs: CRS to warp to (default: that of the first file).
            res: resolution in CRS units (default: that of the first file).
            cache: cache file handles.
            filename_glob: pattern of the files to use (default: ``*.tif``).

        Raises:
            DatasetNotFoundError: If no matching file is found.
        """
        self.sample_key = f'layer_{name}'  # type: ignore[misc]
        super().__init__(paths, crs, res, cache=cache, filename_glob=filename_glob)

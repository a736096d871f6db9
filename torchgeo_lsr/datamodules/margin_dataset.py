"""The stage dataset: inputs intersected, each patch read with a margin around it.

Samplers choose patches as usual; each read extends the patch by ``margin`` pixels on
all sides (outside the data, rasters read as nodata), and the sample transform
(:class:`~.sample.LSRSampleTransform`) crops what it does not keep. Where all inputs
share the imagery's grid (or whole blocks of it), reads go through an
:class:`~.aligned_reads.AlignedReader` (the same samples, many times faster);
otherwise, and for queries off the grid, through TorchGeo's datasets.

Indexing the dataset gives whole samples (prior included). The data loaders read it
through :meth:`MarginDataset.loader_view`, which, with device priors, gives samples
whose prior the batch's device finishes (:mod:`~.device_batch`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from torchgeo.datasets import GeoDataset, IntersectionDataset
from torchgeo.datasets.utils import GeoSlice, Sample

from .aligned_reads import AlignedReader, plan_aligned_reads

__all__ = ('DeviceReads', 'LoaderView', 'MarginDataset')


@dataclass(frozen=True)
class DeviceReads:
    """How loader samples are read and made when the device builds the priors.

    Attributes:
        transform: the sample transform shipping block weights.
        trim: pixels the fast path leaves off each side, by sample key (inputs
            that need no prior halo).
        blocks: coarse inputs the fast path gives as their own pixels.
    """

    transform: Callable[[Sample], Sample]
    trim: dict[str, int]
    blocks: tuple[str, ...] = ('coarse',)


class MarginDataset(IntersectionDataset):
    """An intersection of datasets that reads every patch with a margin around it."""

    def __init__(
        self,
        dataset1: GeoDataset,
        dataset2: GeoDataset,
        margin: int,
        fast_reads: bool = True,
    ) -> None:
        """Intersect two datasets.

        Args:
            dataset1: the first dataset (its bounds describe the patch).
            dataset2: the second dataset.
            margin: pixels of context read around each patch.
            fast_reads: read aligned inputs straight from their files.
        """
        super().__init__(dataset1, dataset2)
        self.margin = margin
        self.reader: AlignedReader | None = None
        #: Loader samples for device priors (None: loaders read whole samples).
        self.device_reads: DeviceReads | None = None
        #: Why TorchGeo's path reads the samples (empty: the aligned reader does).
        self.slow_reason = 'fast reads are off'
        if fast_reads:
            plan = plan_aligned_reads(self)
            if isinstance(plan, AlignedReader):
                self.reader, self.slow_reason = plan, ''
            else:
                self.slow_reason = plan

    @property
    def bounds(self) -> tuple[slice, slice, slice]:
        """Bounds of the index, computed once per index (each read needs them)."""
        key = (id(self.index), len(self.index))
        if getattr(self, '_bounds_key', None) != key:
            self._bounds = super().bounds
            self._bounds_key = key
        return self._bounds

    def read(self, index: GeoSlice, device: bool = False) -> Sample:
        """Read the patch ``index`` plus the margin and make its sample.

        Args:
            index: the patch's ``[x, y, t]`` slice.
            device: make the sample for device priors (:attr:`device_reads`).

        Returns:
            The sample.
        """
        x, y, t = self._disambiguate_slice(index)
        xres, yres = self.res
        dx, dy = self.margin * xres, self.margin * yres
        expanded = (
            slice(x.start - dx, x.stop + dx, x.step),
            slice(y.start - dy, y.stop + dy, y.step),
            t,
        )
        reads = self.device_reads if device else None
        transform = reads.transform if reads is not None else self.transforms
        sample = None
        if self.reader is not None:
            if reads is not None:
                sample = self.reader.sample(
                    *expanded, trim=reads.trim, native=True, blocks=reads.blocks
                )
            else:
                sample = self.reader.sample(*expanded)
        if sample is None:
            sample = self.collate_fn([ds[expanded] for ds in self.datasets])
        return transform(sample) if transform is not None else sample

    def __getitem__(self, index: GeoSlice) -> Sample:
        """The whole sample of the patch ``index`` (see :meth:`read`).

        Args:
            index: the patch's ``[x, y, t]`` slice.

        Returns:
            The sample.
        """
        return self.read(index)

    def loader_view(self) -> 'LoaderView':
        """This dataset as data loaders read it (device samples where set)."""
        return LoaderView(self)


class LoaderView(GeoDataset):
    """A :class:`MarginDataset` read for a data loader.

    Gives device samples when the dataset has :attr:`~MarginDataset.device_reads`,
    whole samples otherwise; everything else is the dataset's.
    """

    def __init__(self, dataset: MarginDataset) -> None:
        """Wrap a dataset.

        Args:
            dataset: the stage dataset.
        """
        self.dataset = dataset
        self.index = dataset.index

    def __getitem__(self, index: GeoSlice) -> Sample:
        """The loader sample of the patch ``index``.

        Args:
            index: the patch's ``[x, y, t]`` slice.

        Returns:
            The sample.
        """
        return self.dataset.read(index, device=self.dataset.device_reads is not None)

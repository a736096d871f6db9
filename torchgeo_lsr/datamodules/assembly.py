"""Assembling a stage's dataset: imagery, prior source, labels and layers, intersected.

:func:`stage_dataset` opens every input of a stage on the imagery's grid, checks that
each overlaps the imagery, intersects them in a :class:`~.sample.MarginDataset` (which
reads aligned inputs through the fast path of :mod:`~.aligned_reads`) and gives it
the :class:`~.sample.LSRSampleTransform` that makes the samples. The data module
(:class:`~.lsr.LSRDataModule`) holds the settings (:class:`StageSettings`).
"""

import dataclasses
from typing import Any, Protocol

import numpy as np
from lightning.pytorch.utilities import rank_zero_info
from torchgeo.datasets import GeoDataset, RasterDataset

from ..schemes import ClassScheme
from .derived import resolve_blur
from .inputs import StageInputs, check_coverage
from .layer_set import StageLayers, needed_layers
from .margin_dataset import DeviceReads, MarginDataset
from .prior_source import PriorSource
from .sample import LSRSampleTransform, SampleSpec
from .splits import geometry_bounds
from .tile_priors import TileLayout

__all__ = ('StageSettings', 'stage_dataset')


class StageSettings(Protocol):
    """What :func:`stage_dataset` needs of the data module."""

    prior_source: PriorSource
    inputs: list[str]
    context: int
    image_scale: float
    image_nodata: float | None
    fast_reads: bool

    @property
    def margin(self) -> int:
        """Pixels read around each sampled patch."""

    @property
    def num_classes(self) -> int:
        """Number of prior classes."""

    @property
    def scheme(self) -> ClassScheme | None:
        """Class scheme of the prior's channels and the labels."""

    def open_role(self, role: str, paths: list[str], **grid: Any) -> RasterDataset:
        """Open one input (``'image'``, ``'coarse'``, ...) with its glob."""


def _sources(
    settings: StageSettings, inputs: StageInputs, imagery: RasterDataset, labels: bool
) -> list[tuple[str, GeoDataset]]:
    """The datasets read with the imagery: prior source, labels, raster layers.

    Args:
        settings: the data module.
        inputs: the stage's files.
        imagery: the stage's imagery (its grid is theirs).
        labels: read the high-res labels.

    Returns:
        ``(role, dataset)`` pairs, each checked to overlap the imagery.

    Raises:
        ValueError: If one does not overlap the imagery, or a layer mixes raster
            and vector files.
    """
    grid = {'crs': imagery.crs, 'res': imagery.res}
    source = settings.prior_source
    sources: list[tuple[str, GeoDataset]] = []
    if source.builder is not None:
        coarse = settings.open_role('coarse', list(inputs.coarse), **grid)
        resolve_blur(source, coarse, imagery)
        sources.append(('coarse', coarse))
    else:
        sources.append(
            ('prior', settings.open_role('prior', list(inputs.prior), **grid))
        )
    if labels:
        sources.append(
            ('label', settings.open_role('label', list(inputs.label), **grid))
        )
    extent = imagery.index.geometry.union_all()
    check_coverage(imagery, sources)
    priors = source.tile_priors(list(imagery.index['filepath']))
    if priors is not None:
        files = sorted({str(p) for p in dict(sources)['coarse'].index['filepath']})
        priors.check_coarse_files(files, tuple(extent.bounds), imagery.crs)
    return sources


def _layers(
    settings: StageSettings, inputs: StageInputs, imagery: RasterDataset
) -> StageLayers:
    """The stage's auxiliary layers the inputs and fusion rules need.

    Args:
        settings: the data module.
        inputs: the stage's files.
        imagery: the stage's imagery (its grid is theirs).

    Returns:
        The layers, raster ones checked to overlap the imagery.

    Raises:
        ValueError: If a raster layer has no CRS or does not overlap the imagery,
            or a layer mixes raster and vector files.
    """
    source = settings.prior_source
    names = needed_layers(settings.inputs, source.rule_layers)
    layers = StageLayers.open(
        names, inputs.layers, imagery.crs, imagery.res, source.rules
    )
    layers.check_rasters(imagery.index.geometry.union_all(), imagery.crs)
    return layers


def _uint8_imagery(imagery: RasterDataset) -> bool:
    """Every imagery file holds uint8 (whole numbers 0-255 survive a uint8 batch)."""
    dtypes = set()
    for path in imagery.index['filepath']:
        handle = imagery._cached_load_warp_file(path, imagery.crs)
        dtypes.update(handle.dtypes)
    return dtypes == {np.dtype(np.uint8).name}


def _sample_spec(
    settings: StageSettings,
    imagery: RasterDataset,
    layers: StageLayers,
    region: Any,
    labels: bool,
) -> SampleSpec:
    """What the stage's transform makes of each sample.

    Args:
        settings: the data module.
        imagery: the stage's imagery.
        layers: its auxiliary layers.
        region: geometry of the pixels the split may use (None: all).
        labels: the high-res labels are read.

    Returns:
        The spec of whole samples.
    """
    paths = tuple(str(path) for path in imagery.index['filepath'])
    spec = SampleSpec(
        num_classes=settings.num_classes,
        tiles=TileLayout(
            bounds=tuple(geometry_bounds(g) for g in imagery.index.geometry),
            paths=paths,
            crs=imagery.crs,
        ),
        priors=settings.prior_source.tile_priors(paths),
        context=settings.context,
        vector_layers=layers.vectors,
        label_scheme=settings.scheme if labels else None,
        image_scale=settings.image_scale,
        image_nodata=settings.image_nodata,
        region=region,
        inputs=tuple(settings.inputs),
    )
    return spec


def stage_dataset(
    settings: StageSettings,
    inputs: StageInputs,
    region: Any = None,
    labels: bool = True,
    device: bool = False,
) -> tuple[GeoDataset, LSRSampleTransform]:
    """Intersect imagery, prior source, labels and raster layers for a stage.

    Args:
        settings: the data module.
        inputs: the stage's files.
        region: geometry of the pixels the split may use (None: all).
        labels: read the high-res labels (when there are any).
        device: ship priors as block weights for the batch's device to build,
            where that applies (:attr:`~.sample.SampleSpec.device_priors_apply`).

    Returns:
        The dataset and the transform of its whole samples (loaders read device
        samples through :meth:`~.margin_dataset.MarginDataset.loader_view`).

    Raises:
        ValueError: If an input does not overlap the imagery, or a layer mixes
            raster and vector files.
    """
    imagery = settings.open_role('image', list(inputs.image))
    with_labels = bool(inputs.label) and labels
    sources = _sources(settings, inputs, imagery, with_labels)
    layers = _layers(settings, inputs, imagery)
    sources += list(layers.rasters.items())
    inner: GeoDataset = imagery
    for _, source in sources[:-1]:
        inner = inner & source
    dataset = MarginDataset(
        inner, sources[-1][1], settings.margin, fast_reads=settings.fast_reads
    )
    spec = _sample_spec(settings, imagery, layers, region, with_labels)
    if device and spec.device_priors_apply:
        uint8 = spec.inputs == ('imagery',) and _uint8_imagery(imagery)
        loader_spec = dataclasses.replace(spec, device_priors=True, uint8_image=uint8)
        dataset.device_reads = DeviceReads(
            transform=LSRSampleTransform(spec=loader_spec),
            # Only the coarse codes need the prior's halo; imagery and labels not.
            trim=dict.fromkeys(('image', 'mask'), spec.halo),
        )
    reads = (
        f'TorchGeo datasets ({dataset.slow_reason})'
        if dataset.slow_reason
        else 'aligned windows from open files'
    )
    where = 'on the batch device' if dataset.device_reads else 'in the loader'
    rank_zero_info(f'reads: {reads}; priors built {where}')
    transform = LSRSampleTransform(spec=spec)
    dataset.transforms = transform
    return dataset, transform

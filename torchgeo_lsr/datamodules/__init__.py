"""Lightning data modules: batches of (image, prior) for learning from priors.

:class:`LSRDataModule` (any imagery with coarse labels or priors) and the data-set
modules built on it (EnviroAtlas, Chesapeake, NAIP + NLCD). Their parts, one
mechanism per module: :mod:`.inputs` (files and tiles), :mod:`.splits` (split
planning), :mod:`.prior_source` (precomputed or built priors), :mod:`.layer_set`
(auxiliary layers), :mod:`.tile_priors` (each tile's part of a sample's prior),
:mod:`.assembly` (a stage's dataset), :mod:`.margin_dataset` (patches read with a
margin), :mod:`.aligned_reads` (the fast path: windows of inputs on one grid),
:mod:`.sample` (the per-sample transform), :mod:`.device_batch` (batches finished on
their device: priors, imagery scale) and :mod:`.statistics` (image statistics).
"""

from .aligned_reads import AlignedReader, plan_aligned_reads
from .chesapeake import ChesapeakeLSRDataModule
from .device_batch import collate_samples, complete_batch
from .enviroatlas import EnviroAtlasLSRDataModule
from .lsr import (
    LAYER_NAMES,
    LSRDataModule,
    LSRSampleTransform,
    MarginDataset,
    Region,
    StageInputs,
    region_geometry,
)
from .naip_nlcd import NAIPNLCDDataModule
from .prior_source import PriorSource
from .sample import SampleSpec
from .splits import SplitPlan
from .tile_index import TileIndex, TileIndexDataModule

__all__ = (
    'LAYER_NAMES',
    'AlignedReader',
    'ChesapeakeLSRDataModule',
    'EnviroAtlasLSRDataModule',
    'LSRDataModule',
    'LSRSampleTransform',
    'MarginDataset',
    'NAIPNLCDDataModule',
    'PriorSource',
    'Region',
    'SampleSpec',
    'SplitPlan',
    'StageInputs',
    'TileIndex',
    'TileIndexDataModule',
    'collate_samples',
    'complete_batch',
    'plan_aligned_reads',
    'region_geometry',
)

"""Lightning data modules: batches of (image, prior) for learning from priors."""

from .chesapeake import ChesapeakeLSRDataModule
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
from .tile_index import TileIndex, TileIndexDataModule

__all__ = (
    'LAYER_NAMES',
    'ChesapeakeLSRDataModule',
    'EnviroAtlasLSRDataModule',
    'LSRDataModule',
    'LSRSampleTransform',
    'MarginDataset',
    'NAIPNLCDDataModule',
    'Region',
    'StageInputs',
    'TileIndex',
    'TileIndexDataModule',
    'region_geometry',
)

"""Whole-raster maps: tiled inference over imagery into GIS-ready Cloud-Optimized GeoTIFFs.

The one sliding-window engine of the package. For every imagery tile (file) of a
data module it writes, on exactly that tile's grid (CRS, transform, size):

* ``<name>.tif``: the class map (uint8 class indices, the scheme's colour table,
  class names in the tags, 255 where no input was valid), with a QGIS style
  (``<name>.qml``) beside it;
* on request, siblings ``<name>_q.tif``, ``<name>_r.tif``, ``<name>_prior.tif``
  (one band per class, probabilities as uint8 = round(255 p) or float32),
  ``<name>_confidence.tif`` (largest probability) and ``<name>_entropy.tif``
  (entropy / log C), each in [0, 1] (uint8 scaled by 255 unless float32).

Windows: the tile is cut into blocks of ``window`` pixels; each block is read
through the data module's dataset with its context (so the network sees its
receptive field) and its prior (built as in training), the network runs on it, and
only the block itself is written. Blocks never overlap in the output, so there is
nothing to average and no seam: for a network whose receptive field fits the
context (the FCN: 11 px, context 5), the mosaic equals a forward pass over the whole
tile up to float error. At the imagery's outer edge the network pads as it would on
the whole tile.

The implied posterior r uses the class totals of the **whole tile** (REFERENCE
§1.6): a first pass computes q, its totals and ``log q + log p`` (cached on disk
next to the output), a second pass turns the cache into r. Memory is bounded by
the block size, not the tile size. Every file is written to a temporary name,
converted to a COG (tiled, deflate, overviews) and renamed into place when
complete; a tile whose outputs are all complete maps of it is skipped, so an
interrupted export resumes (:mod:`~torchgeo_lsr.export.resume`: what counts as
complete, the temporaries a killed run left, SIGTERM).

Modules: :mod:`~torchgeo_lsr.export.options` (what to write, file names),
:mod:`~torchgeo_lsr.export.grids` (the maps' grids),
:mod:`~torchgeo_lsr.export.passes` (the two passes over a tile),
:mod:`~torchgeo_lsr.export.products` (the files),
:mod:`~torchgeo_lsr.export.maps` (every tile in this process),
:mod:`~torchgeo_lsr.export.distributed` (every tile with a trainer),
:mod:`~torchgeo_lsr.export.resume` (resuming and stopping) and
:mod:`~torchgeo_lsr.export.protocols` (what export needs of the task and data).
"""

from .distributed import ExportSummary, TileExporter, export_with_trainer, run_export
from .grids import TileGrid
from .maps import export_maps
from .options import MAP_NODATA, PRODUCTS, ExportOptions, output_paths
from .passes import export_tile
from .products import write_qml
from .protocols import ExportDataModule, ExportTask
from .resume import ExportStopped

__all__ = (
    'MAP_NODATA',
    'PRODUCTS',
    'ExportDataModule',
    'ExportOptions',
    'ExportStopped',
    'ExportSummary',
    'ExportTask',
    'TileExporter',
    'TileGrid',
    'export_maps',
    'export_tile',
    'export_with_trainer',
    'output_paths',
    'run_export',
    'write_qml',
)

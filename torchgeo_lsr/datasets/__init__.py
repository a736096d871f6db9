"""Datasets for label super-resolution.

* :mod:`.rasters`: imagery, coarse labels, high-res labels and priors as TorchGeo
  raster datasets, each under its own sample key;
* :mod:`.vectors`: buildings, roads, waterways and water bodies from local files
  (:mod:`.vector_files`) or OpenStreetMap (:mod:`.osm`), rasterised
  (:mod:`.rasterize`) with the paper's rules (:mod:`.layer_options`);
* :mod:`.scene`: :func:`make_scene` writes a georeferenced synthetic scene (NAIP-like
  imagery, 1 m EnviroAtlas labels, 30 m NLCD, vector layers, manifest);
* :mod:`.landscape`: :func:`make_landscape` writes landscapes of other styles,
  sensors, resolutions, class counts and coarse-label kinds (the multi-scene
  suite's cases).
"""

from .landscape import LandscapeOptions, make_landscape
from .rasters import CoarseLabelRaster, ImageryRaster, LabelRaster, PriorRaster
from .scene import SceneManifest, make_scene
from .vectors import (
    LAYER_OPTIONS,
    download_osm_layers,
    rasterize_layer,
    read_vector_layer,
)

__all__ = (
    'LAYER_OPTIONS',
    'CoarseLabelRaster',
    'ImageryRaster',
    'LabelRaster',
    'LandscapeOptions',
    'PriorRaster',
    'SceneManifest',
    'download_osm_layers',
    'make_landscape',
    'make_scene',
    'rasterize_layer',
    'read_vector_layer',
)

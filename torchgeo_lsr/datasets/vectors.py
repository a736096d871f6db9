"""Auxiliary vector layers (roads, waterways, water bodies, buildings) on a grid.

The land-cover experiments of the paper (REFERENCE, "Resolving label uncertainty
with implicit posterior models") add four vector layers to the priors. They come from
local files or from OpenStreetMap and are rasterised to 0/1 onto the imagery grid with
the paper's rules. This module gathers the public names of the four modules that do
the work:

* :mod:`.layer_options`: the four layers, their rasterisation rules
  (:data:`LAYER_OPTIONS`) and OSM tags;
* :mod:`.vector_files`: :func:`read_vector_layer` reads GeoPackage, GeoJSON,
  Shapefile, GeoParquet, FlatGeobuf or OSM XML files in any CRS;
* :mod:`.rasterize`: :func:`rasterize_layer` burns a raster, vector file or frame
  onto a grid;
* :mod:`.osm`: :func:`download_osm_layers` fetches the layers with osmnx as the
  paper did and caches them as GeoPackages; offline, it fails at once and asks for
  local files instead.
"""

from .layer_options import LAYER_OPTIONS, OSM_LAYERS, OSM_TAGS, WATERWAY_FILTER
from .osm import download_osm_layers, osm_cache_paths
from .rasterize import rasterize_layer
from .vector_files import SUPPORTED_FORMATS, read_vector_layer

__all__ = (
    'LAYER_OPTIONS',
    'OSM_LAYERS',
    'OSM_TAGS',
    'SUPPORTED_FORMATS',
    'WATERWAY_FILTER',
    'download_osm_layers',
    'osm_cache_paths',
    'rasterize_layer',
    'read_vector_layer',
)

"""The paper's four auxiliary layers: how each is rasterised and found in OSM.

The land-cover experiments of the paper (REFERENCE, "Resolving label uncertainty
with implicit posterior models") add roads, waterways, water bodies and buildings to
the priors. This module holds what defines them, shared by reading local OSM XML
files (:mod:`.vector_files`), rasterising (:mod:`.rasterize`) and downloading
(:mod:`.osm`):

============  ============================================  ============  =========
layer         OpenStreetMap source                          all_touched   widen
============  ============================================  ============  =========
roads         highway lines (``graph_from_bbox``,           False         3x3
              ``network_type='all_private'``)
waterways     ``["waterway"]["tunnel"!~"culvert|yes"]``     True          no
              lines
waterbodies   ``natural=water`` polygons                    False         no
buildings     ``building=*`` polygons (or Microsoft         False         no
              building footprints)
============  ============================================  ============  =========
"""

import geopandas

from ..priors.fusion import RasterisationOptions

__all__ = (
    'LAYER_OPTIONS',
    'OSM_GEOMETRIES',
    'OSM_LAYERS',
    'OSM_TAGS',
    'WATERWAY_FILTER',
    'select_osm_features',
)

#: The paper's rasterisation rules for its four auxiliary layers.
LAYER_OPTIONS: dict[str, RasterisationOptions] = {
    'roads': RasterisationOptions(all_touched=False, widen=3),
    'waterways': RasterisationOptions(all_touched=True, widen=1),
    'waterbodies': RasterisationOptions(all_touched=False, widen=1),
    'buildings': RasterisationOptions(all_touched=False, widen=1),
}

#: Layers :func:`~torchgeo_lsr.datasets.osm.download_osm_layers` can fetch.
OSM_LAYERS: tuple[str, ...] = ('roads', 'waterways', 'waterbodies', 'buildings')

#: Overpass filter of the paper's waterways (culverts and tunnels left out).
WATERWAY_FILTER = '["waterway"]["tunnel"!~"culvert|yes"]'

#: OSM tags of each layer (used for features and to filter ``.osm`` files).
OSM_TAGS: dict[str, dict[str, bool | str | list[str]]] = {
    'roads': {'highway': True},
    'waterways': {'waterway': True},
    'waterbodies': {'natural': 'water'},
    'buildings': {'building': True},
}

_LINES = ('LineString', 'MultiLineString')
_POLYGONS = ('Polygon', 'MultiPolygon')

#: Geometry types kept for each OSM layer.
OSM_GEOMETRIES: dict[str, tuple[str, ...]] = {
    'roads': _LINES,
    'waterways': _LINES,
    'waterbodies': _POLYGONS,
    'buildings': _POLYGONS,
}


def select_osm_features(
    frame: geopandas.GeoDataFrame, layer: str
) -> geopandas.GeoDataFrame:
    """Keep the OSM features that belong to a layer (by geometry type and tags).

    Args:
        frame: OSM features.
        layer: one of :data:`OSM_LAYERS`.

    Returns:
        The selected features.
    """
    frame = frame[frame.geom_type.isin(OSM_GEOMETRIES[layer])]
    if layer == 'waterways' and 'tunnel' in frame.columns:
        frame = frame[~frame['tunnel'].isin(['culvert', 'yes'])]
    return frame

"""The vector layer names stay importable from their old homes.

The tests of the work itself mirror the modules: ``test_layer_options``,
``test_vector_files``, ``test_rasterize`` and ``test_osm``.
"""

import torchgeo_lsr.datasets
from torchgeo_lsr.datasets import layer_options, osm, rasterize, vector_files, vectors


def test_vectors_re_exports_the_split_modules() -> None:
    homes = {
        'LAYER_OPTIONS': layer_options,
        'OSM_LAYERS': layer_options,
        'OSM_TAGS': layer_options,
        'WATERWAY_FILTER': layer_options,
        'SUPPORTED_FORMATS': vector_files,
        'read_vector_layer': vector_files,
        'rasterize_layer': rasterize,
        'download_osm_layers': osm,
        'osm_cache_paths': osm,
    }
    assert set(vectors.__all__) == set(homes)
    for name, home in homes.items():
        assert getattr(vectors, name) is getattr(home, name), name
        assert name in home.__all__, name


def test_datasets_re_exports_the_vector_names() -> None:
    for name in (
        'LAYER_OPTIONS',
        'download_osm_layers',
        'rasterize_layer',
        'read_vector_layer',
    ):
        assert name in torchgeo_lsr.datasets.__all__
        assert getattr(torchgeo_lsr.datasets, name) is getattr(vectors, name)

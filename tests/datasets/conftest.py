"""Small vector layers on a 64 x 64 m UTM test grid, shared by the dataset tests."""

from pathlib import Path

import geopandas
import numpy as np
import numpy.typing as npt
import pytest
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin

from torchgeo_lsr.datasets.rasterize import rasterize_layer
from torchgeo_lsr.priors.fusion import RasterisationOptions

UTM = CRS.from_epsg(32617)
X0, Y0 = 500_000.0, 3_873_400.0
SIZE = 64
TRANSFORM = from_origin(X0, Y0, 1.0, 1.0)
GRID_BOUNDS = (X0, Y0 - SIZE, X0 + SIZE, Y0)


def xy(col: float, row: float) -> tuple[float, float]:
    """Map coordinates of a point given in pixel units of the test grid."""
    return X0 + col, Y0 - row


def line(*points: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([xy(*p) for p in points])


def square(col: float, row: float, side: float) -> shapely.Polygon:
    return shapely.Polygon(
        [
            xy(col, row),
            xy(col + side, row),
            xy(col + side, row + side),
            xy(col, row + side),
        ]
    )


def frame(
    geometries: list[shapely.Geometry], crs: CRS | None = UTM
) -> geopandas.GeoDataFrame:
    return geopandas.GeoDataFrame(
        {'kind': [f'f{i}' for i in range(len(geometries))]},
        geometry=geometries,
        crs=None if crs is None else crs.to_wkt(),
    )


def rasterize(
    source: str | Path | geopandas.GeoDataFrame,
    name: str,
    options: RasterisationOptions | None = None,
) -> npt.NDArray[np.uint8]:
    return rasterize_layer(source, name, UTM, TRANSFORM, SIZE, SIZE, options)


LINES = frame(
    [
        line((5.2, 10.4), (40.3, 10.4)),  # horizontal, one pixel wide at 1 m
        line((5.3, 20.2), (40.7, 55.6)),  # diagonal
    ]
)
POLYGONS = frame([square(10.25, 30.25, 10), square(40.2, 5.7, 12.4)])

FORMATS: dict[str, dict[str, str]] = {
    'gpkg': {'driver': 'GPKG'},
    'geojson': {'driver': 'GeoJSON'},
    'shp': {'driver': 'ESRI Shapefile'},
    'fgb': {'driver': 'FlatGeobuf'},
    'parquet': {},
}


def write(data: geopandas.GeoDataFrame, path: Path) -> Path:
    """Write a frame in the format its suffix names."""
    if path.suffix == '.parquet':
        pytest.importorskip('pyarrow', reason='GeoParquet needs pyarrow')
        data.to_parquet(path)
    else:
        data.to_file(path, **FORMATS[path.suffix[1:]])
    return path


# ---------------------------------------------------------------------- OSM XML

TO_LONLAT = Transformer.from_crs(UTM.to_wkt(), 'EPSG:4326', always_xy=True)


def osm_xml(ways: dict[int, tuple[list[tuple[float, float]], dict[str, str]]]) -> str:
    """OSM XML of ways given by pixel coordinates on the test grid."""
    nodes, way_lines, node_id = [], [], 0
    for way_id, (points, tags) in ways.items():
        refs = []
        closed = points[0] == points[-1]
        for point in points[:-1] if closed else points:
            node_id += 1
            lon, lat = TO_LONLAT.transform(*xy(*point))
            nodes.append(f'  <node id="{node_id}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
            refs.append(node_id)
        if closed:
            refs.append(refs[0])
        members = ''.join(f'<nd ref="{ref}"/>' for ref in refs)
        tag_text = ''.join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        way_lines.append(f'  <way id="{way_id}">{members}{tag_text}</way>')
    body = '\n'.join(nodes + way_lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<osm version="0.6" generator="test">\n{body}\n</osm>\n'
    )


ROAD = [(5.2, 10.4), (40.3, 10.4)]
WATER = [(10.25, 30.25), (20.25, 30.25), (20.25, 40.25), (10.25, 40.25), (10.25, 30.25)]
STREAM = [(5.3, 20.2), (40.7, 55.6)]
CULVERT = [(50.2, 5.1), (60.7, 50.3)]


@pytest.fixture
def osm_file(tmp_path: Path) -> Path:
    path = tmp_path / 'area.osm'
    path.write_text(
        osm_xml(
            {
                100: (ROAD, {'highway': 'residential'}),
                101: (WATER, {'natural': 'water'}),
                102: (STREAM, {'waterway': 'stream'}),
                103: (CULVERT, {'waterway': 'ditch', 'tunnel': 'culvert'}),
            }
        )
    )
    return path

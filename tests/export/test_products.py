from pathlib import Path

import numpy as np
import rasterio

from tests.conftest import TinyScene
from tests.export.helpers import datamodule, read
from torchgeo_lsr.export import MAP_NODATA, ExportOptions, export_maps, write_qml
from torchgeo_lsr.export.products import class_colours
from torchgeo_lsr.schemes import get_scheme
from torchgeo_lsr.tasks import LSRSegmentation


def test_georeference_colours_names_and_cog_layout(
    one_tile_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(one_tile_scene)
    paths = export_maps(
        task,
        dm,
        tmp_path / 'map.tif',
        ExportOptions(products=('q', 'confidence', 'entropy'), window=64),
        False,
    )[0]
    image = next(one_tile_scene.naip.glob('*.tif'))
    with rasterio.open(image) as src, rasterio.open(paths['map']) as out:
        assert out.crs == src.crs
        assert out.transform == src.transform
        assert (out.width, out.height) == (src.width, src.height)
        assert out.dtypes == ('uint8',)
        assert out.nodata == MAP_NODATA
        colours = out.colormap(1)
        assert colours[0][:3] == (0x00, 0xC5, 0xFF)  # EnviroAtlas water
        tags = out.tags()
        assert tags['class_names'].split(',')[0] == 'Water'
        assert tags['scheme'] == 'enviroatlas'
        assert out.profile['tiled']
        assert out.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
    with rasterio.open(paths['q']) as q:
        assert q.count == 5
        assert q.descriptions[0] == 'Water'
        values = q.read().astype(int)
        assert values.max() <= 255
        # Probabilities stored as round(255 p) still sum to about one.
        assert np.abs(values.sum(0) - 255).max() <= 5
    for name in ('confidence', 'entropy'):
        data = read(paths[name])
        assert data.shape == (1, one_tile_scene.size, one_tile_scene.size)
    assert paths['map'].with_suffix('.qml').read_text().count('paletteEntry') == 5
    assert not list(tmp_path.glob('.*'))  # no temporary file left


def test_qml_has_the_map_colours(tmp_path: Path) -> None:
    scheme = get_scheme('enviroatlas')
    path = write_qml(tmp_path / 'map.tif', scheme)
    assert path == tmp_path / 'map.qml'
    text = path.read_text()
    red, green, blue, _ = class_colours(scheme)[0]
    assert f'value="0" color="#{red:02x}{green:02x}{blue:02x}"' in text
    assert f'label="{scheme.names[0]}"' in text
    assert text.count('paletteEntry') == scheme.num_classes

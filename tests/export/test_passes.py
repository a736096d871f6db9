from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from tests.conftest import TinyScene
from tests.export.helpers import datamodule, read, whole_tile
from torchgeo_lsr.export import (
    MAP_NODATA,
    ExportOptions,
    export_maps,
    export_tile,
    maps,
    passes,
)
from torchgeo_lsr.losses import implied_posterior
from torchgeo_lsr.tasks import LSRSegmentation


def test_mosaic_is_seam_free_and_equals_a_whole_tile_pass(
    one_tile_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(one_tile_scene)
    options = {'products': ('q', 'r', 'prior'), 'probability_dtype': 'float32'}
    small = export_maps(
        task, dm, tmp_path / 'small.tif', ExportOptions(window=48, **options), False
    )[0]
    large = export_maps(
        task, dm, tmp_path / 'large.tif', ExportOptions(window=512, **options), False
    )[0]
    for product in ('map', 'q', 'r', 'prior'):
        np.testing.assert_allclose(
            read(small[product]), read(large[product]), atol=1e-6
        )
    reference = whole_tile(task, dm, one_tile_scene)
    q = reference['log_q'][0].exp().numpy()
    np.testing.assert_allclose(read(small['q']), q, atol=1e-5)
    np.testing.assert_allclose(read(small['prior']), reference['prior'][0], atol=1e-5)
    # r with the whole tile's class totals (REFERENCE §1.6).
    valid = reference['valid']
    log_r = implied_posterior(reference['log_q'], reference['prior'], mask=valid)
    np.testing.assert_allclose(read(small['r']), log_r[0].exp().numpy(), atol=1e-5)
    expected_map = np.where(valid[0].numpy(), log_r[0].argmax(0).numpy(), MAP_NODATA)
    np.testing.assert_array_equal(read(small['map'])[0], expected_map)


def test_overviews_on_a_larger_raster(tmp_path: Path, task: LSRSegmentation) -> None:
    from tests.conftest import _scene

    scene = _scene(tmp_path / 'scene', 1100, 1, 1)
    paths = export_maps(
        task, datamodule(scene), tmp_path / 'big.tif', ExportOptions(window=1024), False
    )[0]
    with rasterio.open(paths['map']) as out:
        assert out.overviews(1)[0] == 2


def test_interrupted_export_leaves_nothing_and_resumes(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path, monkeypatch: Any
) -> None:
    dm = datamodule(tiny_scene)
    out = tmp_path / 'maps'
    calls = {'n': 0}
    original = passes._read_block

    def failing(*args: Any) -> Any:
        calls['n'] += 1
        if calls['n'] == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(passes, '_read_block', failing)
    with pytest.raises(KeyboardInterrupt):
        export_maps(task, dm, out, ExportOptions(window=64, products=('r',)), False)
    assert not [p for p in out.rglob('*') if p.is_file()]
    monkeypatch.setattr(passes, '_read_block', original)
    written = export_maps(
        task, dm, out, ExportOptions(window=64, products=('r',)), False
    )
    assert sorted(p.name for p in out.glob('*.tif')) == [
        'tile_0.tif',
        'tile_0_r.tif',
        'tile_1.tif',
        'tile_1_r.tif',
    ]
    stamps = {p: p.stat().st_mtime_ns for p in out.glob('*.tif')}
    # A second run finds every tile done and writes nothing.
    monkeypatch.setattr(maps, 'export_tile', None)
    again = export_maps(task, dm, out, ExportOptions(window=64, products=('r',)), False)
    assert again == written
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob('*.tif')}
    assert export_tile is not None


def test_nodata_propagates(
    one_tile_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / 'naip'
    folder.mkdir()
    image = next(one_tile_scene.naip.glob('*.tif'))
    copy = shutil.copy(image, folder / image.name)
    with rasterio.open(copy, 'r+') as dst:
        data = dst.read()
        data[:, 20:50, 30:90] = 0
        dst.write(data)
    dm = datamodule(one_tile_scene, image_paths=folder)
    paths = export_maps(
        task, dm, tmp_path / 'map.tif', ExportOptions(products=('q',)), False
    )[0]
    classes = read(paths['map'])[0]
    assert (classes[20:50, 30:90] == MAP_NODATA).all()
    assert (classes[:20] != MAP_NODATA).all()
    with rasterio.open(paths['q']) as q:
        mask = q.read_masks(1)
    assert (mask[20:50, 30:90] == 0).all()
    assert (mask[:20] == 255).all()

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import rasterio
import torch

from tests.conftest import TinyScene
from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.evaluate import evaluate_maps
from torchgeo_lsr.export import (
    MAP_NODATA,
    ExportOptions,
    export_maps,
    export_tile,
    export_with_trainer,
)
from torchgeo_lsr.losses import implied_posterior
from torchgeo_lsr.tasks import LSRSegmentation


def datamodule(scene: TinyScene, **kwargs: Any) -> LSRDataModule:
    options: dict[str, Any] = {
        'image_paths': scene.naip,
        'coarse_paths': scene.nlcd,
        'label_paths': scene.lc,
        'cooccurrence': scene.cooccurrence,
        'prior_sigma': 8.0,
        'prior_kernel_size': 25,
        'patch_size': 48,
        'eval_patch_size': 64,
        'batch_size': 4,
    }
    options.update(kwargs)
    return LSRDataModule(**options)


@pytest.fixture
def task() -> LSRSegmentation:
    torch.manual_seed(0)
    return LSRSegmentation(num_filters=6)


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def whole_tile(
    task: LSRSegmentation, dm: LSRDataModule, scene: TinyScene
) -> dict[str, torch.Tensor]:
    """The network over the whole tile in one forward pass, and its prior."""
    dm.setup('predict')
    x, y, _ = dm.predict_dataset.bounds
    size = scene.size
    sample = dm.predict_dataset[x.start : x.start + size, y.stop - size : y.stop]
    task.eval()
    with torch.no_grad():
        return task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )


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
    from torchgeo_lsr import export

    dm = datamodule(tiny_scene)
    out = tmp_path / 'maps'
    calls = {'n': 0}
    original = export._sample

    def failing(*args: Any) -> Any:
        calls['n'] += 1
        if calls['n'] == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(export, '_sample', failing)
    with pytest.raises(KeyboardInterrupt):
        export_maps(task, dm, out, ExportOptions(window=64, products=('r',)), False)
    assert not [p for p in out.rglob('*') if p.is_file()]
    monkeypatch.setattr(export, '_sample', original)
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
    monkeypatch.setattr(export, 'export_tile', None)
    again = export_maps(task, dm, out, ExportOptions(window=64, products=('r',)), False)
    assert again == written
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob('*.tif')}


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


def test_evaluation_of_an_export_equals_the_test_metrics(
    one_tile_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(one_tile_scene, eval_patch_size=48)
    trainer = L.Trainer(logger=False, enable_progress_bar=False)
    trainer.test(task, dm, verbose=False)
    results = task.test_results
    label = next(one_tile_scene.lc.glob('*.tif'))
    for source in ('r', 'q'):
        paths = export_maps(
            task,
            dm,
            tmp_path / f'{source}.tif',
            ExportOptions(map_source=source, window=80),
            False,
        )[0]
        scores = evaluate_maps([(paths['map'], label)], 'enviroatlas')
        assert scores['pixels'] == results[source]['pixels']
        assert scores['accuracy'] == pytest.approx(
            results[source]['accuracy'], abs=1e-6
        )
        assert scores['miou'] == pytest.approx(results[source]['miou'], abs=1e-6)


def test_folder_of_tiles_and_bad_options(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(tiny_scene)
    with pytest.raises(ValueError, match='cannot go to one file'):
        export_maps(task, dm, tmp_path / 'one.tif', progress=False)
    with pytest.raises(ValueError, match='unknown products'):
        ExportOptions(products=('logits',))
    with pytest.raises(ValueError, match='map_source'):
        ExportOptions(map_source='p')  # type: ignore[arg-type]
    assert export_tile is not None


def test_trainer_export_and_cli(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    trainer = L.Trainer(logger=False, enable_progress_bar=False, devices=1)
    written = export_with_trainer(
        trainer,
        task,
        datamodule(tiny_scene),
        str(tmp_path / 'maps'),
        ExportOptions(window=64),
    )
    assert sorted(p['map'].name for p in written) == ['tile_0.tif', 'tile_1.tif']


@pytest.mark.slow
def test_ddp_ranks_split_the_tiles(tiny_scene: TinyScene, tmp_path: Path) -> None:
    """Two CPU processes (gloo) export one tile each."""
    torch.manual_seed(0)
    task = LSRSegmentation(num_filters=4)
    trainer = L.Trainer(
        accelerator='cpu',
        devices=2,
        strategy='ddp_spawn',
        logger=False,
        enable_progress_bar=False,
    )
    export_with_trainer(
        trainer,
        task,
        datamodule(tiny_scene),
        str(tmp_path / 'maps'),
        ExportOptions(window=64),
    )
    maps = sorted(p.name for p in (tmp_path / 'maps').glob('*.tif'))
    assert maps == ['tile_0.tif', 'tile_1.tif']
    single = export_maps(
        task,
        datamodule(tiny_scene),
        tmp_path / 'single',
        ExportOptions(window=64),
        False,
    )
    for paths in single:
        np.testing.assert_array_equal(
            read(paths['map']), read(tmp_path / 'maps' / paths['map'].name)
        )


def test_region_map_across_tiles(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    """One map of a region straddling two tiles: its grid, q and region-total r."""
    import geopandas
    import shapely
    from rasterio.features import geometry_mask

    dm = datamodule(tiny_scene)
    dm.setup('predict')
    x, y, _ = dm.predict_dataset.bounds
    left, top = x.start + 100.0, y.stop - 20.0
    box = (left - 0.4, top - 130.0, left + 200.0, top + 0.3)  # snaps outwards
    options = {'products': ('q', 'r'), 'probability_dtype': 'float32', 'window': 64}
    paths = export_maps(
        task, dm, tmp_path / 'maps', ExportOptions(region=box, **options), False
    )[0]
    assert paths['map'] == tmp_path / 'maps' / 'region.tif'
    with rasterio.open(paths['map']) as out:
        assert (out.transform.c, out.transform.f) == (left - 1, top + 1)
        assert (out.width, out.height) == (201, 131)
    # The same pixels in one forward pass over the region (across the tile seam).
    sample = dm.predict_dataset[left - 1 : left + 200, top - 130 : top + 1]
    task.eval()
    with torch.no_grad():
        reference = task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )
    q = reference['log_q'][0].exp().numpy()
    np.testing.assert_allclose(read(paths['q']), q, atol=1e-5)
    log_r = implied_posterior(
        reference['log_q'], reference['prior'], mask=reference['valid']
    )
    np.testing.assert_allclose(read(paths['r']), log_r[0].exp().numpy(), atol=1e-5)

    # A polygon in another CRS: pixels outside are nodata, r totals only inside.
    triangle = shapely.Polygon(
        [(left, top), (left + 200, top), (left + 100, top - 130)]
    )
    frame = geopandas.GeoDataFrame(geometry=[triangle], crs=dm.predict_dataset.crs)
    frame.to_crs('EPSG:4326').to_file(tmp_path / 'region.gpkg')
    polygon = export_maps(
        task,
        dm,
        tmp_path / 'triangle.tif',
        ExportOptions(region=str(tmp_path / 'region.gpkg'), **options),
        False,
    )[0]
    with rasterio.open(polygon['map']) as out:
        inside = geometry_mask(
            [triangle], (out.height, out.width), out.transform, invert=True
        )
        classes = out.read(1)
        sample = dm.predict_dataset[
            out.bounds.left : out.bounds.right, out.bounds.bottom : out.bounds.top
        ]
    assert (classes[~inside] == MAP_NODATA).all()
    assert (classes[inside] != MAP_NODATA).all()
    with torch.no_grad():
        reference = task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )
    mask = reference['valid'] & torch.from_numpy(inside)[None]
    log_r = implied_posterior(reference['log_q'], reference['prior'], mask=mask)
    expected = log_r[0].exp().numpy()[:, inside]
    np.testing.assert_allclose(read(polygon['r'])[:, inside], expected, atol=1e-5)
    with pytest.raises(ValueError, match='does not overlap the imagery'):
        export_maps(
            task,
            dm,
            tmp_path / 'far.tif',
            ExportOptions(region=(0.0, 0.0, 10.0, 10.0)),
            False,
        )

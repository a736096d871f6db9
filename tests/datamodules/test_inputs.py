"""Input files: normalising paths, opening inputs by role, selecting tiles."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TinyScene
from tests.datamodules.two_tiles import X0, Y0, datamodule
from tests.rasters import write_geotiff
from torchgeo_lsr.datamodules import LSRDataModule
from torchgeo_lsr.datamodules.inputs import (
    band_count,
    check_georeferenced,
    is_raster,
    open_input,
    path_list,
    select_tiles,
)


def test_missing_inputs_are_named(scene: Path) -> None:
    with pytest.raises(FileNotFoundError, match='no coarse labels files'):
        datamodule(scene, coarse_paths=scene / 'missing').setup('fit')
    with pytest.raises(FileNotFoundError, match=r"no imagery files matching '\*\.jp2'"):
        datamodule(scene, image_glob='*.jp2').setup('fit')


def test_coarse_labels_in_another_crs_are_reprojected(scene: Path) -> None:
    import rasterio.warp

    with rasterio.open(scene / 'nlcd' / 'nlcd.tif') as src:
        codes = src.read(1)
        bounds = src.bounds
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, 'EPSG:3857', src.width, src.height, *bounds
        )
        out = np.zeros((height, width), np.uint8)
        rasterio.warp.reproject(
            codes,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs='EPSG:3857',
            resampling=rasterio.warp.Resampling.nearest,
        )
    (scene / 'nlcd3857').mkdir()
    with rasterio.open(
        scene / 'nlcd3857' / 'nlcd.tif',
        'w',
        driver='GTiff',
        width=width,
        height=height,
        count=1,
        dtype='uint8',
        crs='EPSG:3857',
        transform=transform,
    ) as dst:
        dst.write(out, 1)
    a = datamodule(scene)
    b = datamodule(scene, coarse_paths=scene / 'nlcd3857')
    a.setup('validate')
    b.setup('validate')
    x, y = X0 + 60, Y0 - 60
    pa = a.val_dataset[x : x + 32, y - 32 : y]['prior']
    pb = b.val_dataset[x : x + 32, y - 32 : y]['prior']
    # Reprojection moves 30 m cell edges by a pixel or so: most pixels agree.
    assert (pa - pb).abs().max(0).values.lt(0.05).float().mean() > 0.9


def test_path_list() -> None:
    assert path_list(None) == []
    assert path_list('a.tif') == ['a.tif']
    assert path_list(Path('a.tif')) == ['a.tif']
    assert path_list(['a.tif', Path('b')]) == ['a.tif', 'b']


def test_select_tiles_by_name_or_stem() -> None:
    files = ['x/b.tif', 'x/a.tif', 'x/c.tif']
    assert select_tiles(files) == ['x/a.tif', 'x/b.tif', 'x/c.tif']
    assert select_tiles(files, ['a', 'c.tif']) == ['x/a.tif', 'x/c.tif']
    assert select_tiles(files, exclude=['b']) == ['x/a.tif', 'x/c.tif']
    assert select_tiles(files, ['a', 'b'], ['b.tif']) == ['x/a.tif']
    with pytest.raises(ValueError, match="no imagery file named 'd' for the split"):
        select_tiles(files, ['d'])
    with pytest.raises(ValueError, match="no imagery file named 'x'"):
        select_tiles(files, exclude=['x'])


def test_rasters_and_vectors_are_told_apart(scene: Path, tmp_path: Path) -> None:
    assert is_raster(str(scene / 'naip'))  # a folder of rasters
    assert is_raster(str(scene / 'naip' / 'tile_0.tif'))
    renamed = tmp_path / 'tile.data'
    renamed.write_bytes((scene / 'naip' / 'tile_0.tif').read_bytes())
    assert is_raster(str(renamed))  # GDAL opens it whatever its suffix
    vector = tmp_path / 'roads.geojson'
    vector.write_text('{"type": "FeatureCollection", "features": []}')
    assert not is_raster(str(vector))


def test_open_input_by_role(scene: Path) -> None:
    imagery = open_input('image', [str(scene / 'naip')], '*.tif')
    assert len(imagery.files) == 2
    assert band_count(imagery) == 4
    coarse = open_input(
        'coarse', [str(scene / 'nlcd')], '*.tif', crs=imagery.crs, res=imagery.res
    )
    assert coarse.res == imagery.res
    with pytest.raises(
        FileNotFoundError, match=r"no high-res labels files matching 'x_\*'"
    ):
        open_input('label', [str(scene / 'lc')], 'x_*')
    with pytest.raises(FileNotFoundError, match='set prior_paths / prior_glob'):
        open_input('prior', [str(scene / 'none')], '*.tif')


def test_open_input_refuses_a_file_without_a_crs(tmp_path: Path) -> None:
    """Issue 16 item 11: open_input checks every matched file has a CRS.

    Before, TorchGeo read a CRS-less coarse / label / prior raster in the grid's
    CRS (or raised a bare ``CRSError`` for imagery). A rewritten file is checked
    again (the check caches by modification time). A file the glob matches that
    is not a raster is refused too (issue 20 item 6): TorchGeo skipped it, so a
    tile could go missing without a word.
    """
    data = np.zeros((4, 4), np.uint8)
    good = write_geotiff(tmp_path / 'in' / 'a.tif', data)
    bad = write_geotiff(tmp_path / 'in' / 'b.tif', data, crs=None)  # type: ignore[arg-type]
    notes = tmp_path / 'in' / 'notes.tif'
    notes.write_text('not a raster')
    with pytest.raises(ValueError, match=r'b\.tif \(coarse labels\) has no CRS'):
        open_input('coarse', [str(tmp_path / 'in')], '*.tif')
    write_geotiff(bad, data)
    with pytest.raises(ValueError, match=r'coarse labels .*notes\.tif is not a raster'):
        open_input('coarse', [str(tmp_path / 'in')], '*.tif')
    check_georeferenced([str(good), str(bad)], 'imagery')
    notes.unlink()
    assert len(open_input('coarse', [str(tmp_path / 'in')], '*.tif').files) == 2


def test_a_tile_no_coarse_file_meets_is_named(
    tiny_scene: TinyScene, tmp_path: Path
) -> None:
    """A tile outside every coarse raster dropped out of training without a word."""
    coarse = tmp_path / 'nlcd'
    coarse.mkdir()
    shutil.copy(tiny_scene.nlcd / 'tile_1.tif', coarse / 'tile_1.tif')
    dm = LSRDataModule(
        image_paths=tiny_scene.naip,
        coarse_paths=coarse,
        cooccurrence=tiny_scene.cooccurrence,
        prior_sigma=4,
        prior_kernel_size=13,
        patch_size=32,
        batch_size=2,
        length=2,
    )
    with pytest.warns(UserWarning, match=r'1 imagery tile\(s\) meet no coarse labels'):
        dm.setup('fit')

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from torchgeo_lsr.io import (
    atomic_path,
    check_output_file,
    check_output_folder,
    check_raster,
    open_raster,
    truncated_by,
)


def test_writes_whole_file(tmp_path: Path) -> None:
    target = tmp_path / 'sub' / 'out.txt'
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent
        assert temporary.suffix == '.txt'
        temporary.write_text('done')
        assert not target.exists()
    assert target.read_text() == 'done'
    assert [p.name for p in target.parent.iterdir()] == ['out.txt']


def interrupted_write(target: Path) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text('half')
        raise RuntimeError('interrupted')


def test_failure_keeps_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / 'out.txt'
    target.write_text('old')
    with pytest.raises(RuntimeError, match='interrupted'):
        interrupted_write(target)
    assert target.read_text() == 'old'
    assert [p.name for p in tmp_path.iterdir()] == ['out.txt']


def _geotiff(path: Path, size: int = 300, tiled: bool = True) -> Path:
    data = np.arange(size * size, dtype=np.uint16).reshape(1, size, size)
    profile: dict[str, object] = {'tiled': True, 'blockxsize': 256, 'blockysize': 256}
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=size,
        height=size,
        count=1,
        dtype='uint16',
        crs='EPSG:32617',
        transform=from_origin(500_000, 4_400_000, 1, 1),
        **(profile if tiled else {}),
    ) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize('tiled', [True, False], ids=['tiled', 'striped'])
def test_truncated_by_reads_the_tiff_directories(tmp_path: Path, tiled: bool) -> None:
    """Guards issue 20 item 7: a cut-short file opened and 'had no CRS'."""
    whole = _geotiff(tmp_path / 'whole.tif', tiled=tiled)
    assert truncated_by(whole) == 0
    data = whole.read_bytes()
    for keep in (len(data) - 1, len(data) // 2, 600):
        cut = tmp_path / f'cut_{keep}.tif'
        cut.write_bytes(data[:keep])
        assert truncated_by(cut) > 0, keep
    (tmp_path / 'text.tif').write_text('not a tiff')
    assert truncated_by(tmp_path / 'text.tif') == 0  # not a TIFF: GDAL decides


def test_open_raster_names_role_path_and_problem(tmp_path: Path) -> None:
    whole = _geotiff(tmp_path / 'whole.tif')
    with open_raster(whole, 'coarse raster') as src:
        assert src.width == 300
    (tmp_path / 'empty.tif').write_bytes(b'')
    (tmp_path / 'text.tif').write_text('not a raster')
    (tmp_path / 'cut.tif').write_bytes(whole.read_bytes()[:-10])
    (tmp_path / 'folder.tif').mkdir()
    expected = {
        'missing.tif': (FileNotFoundError, 'does not exist'),
        'empty.tif': (ValueError, r'is empty \(0 bytes\)'),
        'text.tif': (ValueError, 'is not a raster GDAL can read'),
        'cut.tif': (ValueError, r'is cut short \(\d+ bytes of its data are missing'),
        'folder.tif': (ValueError, 'is a folder: give a raster file'),
    }
    for name, (error, message) in expected.items():
        full = re.escape(str((tmp_path / name).resolve()))
        with pytest.raises(error, match=rf'^labels {full} {message}'):
            check_raster(tmp_path / name, 'labels')


def test_output_checks_refuse_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards issue 20 item 9: the error came at the end, naming a hidden file."""
    (tmp_path / 'a_file').write_text('x')
    assert check_output_file(tmp_path / 'new' / 'deep' / 'out.tif', '--out')
    assert check_output_folder(tmp_path / 'maps', '--out')
    with pytest.raises(IsADirectoryError, match=r'--out .* is a folder'):
        check_output_file(tmp_path, '--out')
    with pytest.raises(NotADirectoryError, match=r'a_file is a file, so no folder'):
        check_output_file(tmp_path / 'a_file' / 'out.tif', '--out')
    with pytest.raises(NotADirectoryError, match=r'--out .*a_file is a file: give a'):
        check_output_folder(tmp_path / 'a_file', '--out')

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, 'Permission denied')

    # As root a read-only folder is still writable: make creating files fail.
    monkeypatch.setattr(tempfile, 'mkstemp', refuse)
    with pytest.raises(PermissionError, match=r'--results: cannot write in .*'):
        check_output_file(tmp_path / 'r.json', '--results')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file']

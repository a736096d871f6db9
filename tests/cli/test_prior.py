from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.rasters import write_geotiff
from torchgeo_lsr.cli import build_parser, main


def test_prior_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nlcd = np.repeat(np.repeat(np.array([[11, 21], [41, 81]], np.uint8), 4, 0), 4, 1)
    coarse = write_geotiff(tmp_path / 'nlcd.tif', nlcd, res=30.0)
    like = write_geotiff(tmp_path / 'naip.tif', np.zeros((120, 100), np.uint8))
    out = tmp_path / 'prior.tif'
    args = ['prior', '--coarse', str(coarse), '--cooccurrence', 'enviroatlas-durham']
    args += ['--like', str(like), '--sigma', '5', '--kernel-size', '11']
    assert main([*args, '--out', str(out), '--dtype', 'uint8']) == 0
    assert 'Wrote' in capsys.readouterr().out
    with rasterio.open(out) as src:
        assert src.count == 5
        assert src.descriptions[0] == 'Water'
        assert (src.width, src.height) == (100, 120)
        prior = src.read().astype(float)
    # Top-left is NLCD 11: mostly water.
    assert prior[:, 10, 10].argmax() == 0


def test_prior_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coarse = write_geotiff(tmp_path / 'nlcd.tif', np.array([[11, 250]], np.uint8))
    args = ['prior', '--coarse', str(coarse), '--cooccurrence', 'enviroatlas-austin']
    with pytest.raises(SystemExit) as exit_info:
        main([*args, '--out', str(tmp_path / 'p.tif')])
    assert exit_info.value.code == 2
    assert 'coarse codes [250]' in capsys.readouterr().err
    assert not (tmp_path / 'p.tif').exists()
    # Declared nodata, the pixel takes its prior from its neighbour.
    assert (
        main([*args, '--coarse-nodata', '250', '--out', str(tmp_path / 'p.tif')]) == 0
    )
    with rasterio.open(tmp_path / 'p.tif') as src:
        prior = src.read()
    np.testing.assert_allclose(prior[:, 0, 1], prior[:, 0, 0], rtol=1e-6)
    assert prior[0, 0, 0] == pytest.approx(0.885, abs=1e-3)  # Austin: P(water | 11)


def test_a_layer_must_be_name_equals_file(tmp_path: Path) -> None:
    coarse = write_geotiff(tmp_path / 'nlcd.tif', np.array([[11, 21]], np.uint8))
    args = ['prior', '--coarse', str(coarse), '--cooccurrence', 'enviroatlas-austin']
    with pytest.raises(SystemExit, match='--layer expects NAME=FILE'):
        main([*args, '--layer', 'roads', '--out', str(tmp_path / 'p.tif')])


def test_snake_and_kebab_case_spellings_agree() -> None:
    common = ['prior', '--coarse', 'c.tif', '--cooccurrence', 'm.csv', '--out', 'p.tif']
    values = ['11', '0', '250', 'nlcd', '64']
    snake = ['--kernel_size', '--coarse_nodata', '--coarse_scheme', '--block_size']
    kebab = ['--kernel-size', '--coarse-nodata', '--coarse-scheme', '--block-size']
    parsed = []
    for names in (snake, kebab):
        options = [names[0], values[0], names[1], *values[1:3], names[2], values[3]]
        options += [names[3], values[4]]
        parsed.append(vars(build_parser().parse_args([*common, *options])))
    assert parsed[0] == parsed[1]
    assert parsed[0]['kernel_size'] == 11
    assert parsed[0]['coarse_nodata'] == [0.0, 250.0]
    assert parsed[0]['coarse_scheme'] == 'nlcd'
    assert parsed[0]['block_size'] == 64

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.conftest import TinyScene
from torchgeo_lsr import __version__
from torchgeo_lsr.cli import main
from torchgeo_lsr.priors import estimate_cooccurrence, load_cooccurrence


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert 'usage: torchgeo-lsr' in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['--version'])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['frobnicate'])
    assert exit_info.value.code == 2
    assert 'invalid choice' in capsys.readouterr().err


def test_toy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['toy', '--out', str(tmp_path), '--steps', '40']) == 0
    out = capsys.readouterr().out
    assert 'prior argmax' in out
    assert 'QR (free energy): argmax q' in out
    results = json.loads((tmp_path / 'toy_results.json').read_text())
    assert 0 <= results['rq']['r']['accuracy'] <= 1
    assert (tmp_path / 'toy.png').is_file()


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, '-m', 'torchgeo_lsr', '--help'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'demo' in result.stdout
    assert 'fit' in result.stdout


def test_demo_on_a_tiny_scene(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_lightning import CONFIG, scene_args
    from torchgeo_lsr.demo import run_demo

    extra = scene_args(tiny_scene, tmp_path)[2:]  # all but --config
    extra += ['--trainer.max_steps', '2', '--trainer.limit_val_batches', '1']
    results = run_demo(tmp_path / 'out', tiny_scene.root, CONFIG, extra_args=extra)
    printed = capsys.readouterr().out
    for row in ('prior argmax', 'hard naive', 'QR (q)', 'QR (r)'):
        assert row in printed
    saved = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert set(saved) == {'q', 'r', 'prior_argmax', 'hard_naive', 'hard_naive_r'}
    assert saved['q']['accuracy'] == pytest.approx(results['q']['accuracy'])
    assert (tmp_path / 'out' / 'demo.png').stat().st_size > 10_000
    with pytest.raises(FileNotFoundError, match='run the demo from the repository'):
        run_demo(tmp_path, tiny_scene.root, tmp_path / 'missing.yaml')


def write_tif(path: Path, data: np.ndarray, resolution: float = 1.0) -> Path:
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs='EPSG:32617',
        transform=from_origin(500_000, 4_400_000, resolution, resolution),
    ) as dst:
        dst.write(data, 1)
    return path


def test_cooccurrence_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nlcd = rng.choice([11, 21, 41, 81, 0], size=(6, 6)).astype(np.uint8)
    labels = rng.choice([10, 20, 40, 70, 0], size=(18, 18)).astype(np.uint8)
    coarse = write_tif(tmp_path / 'nlcd.tif', nlcd, resolution=3.0)
    fine = write_tif(tmp_path / 'lc.tif', labels)
    out = tmp_path / 'm.csv'
    args = ['cooccurrence', '--coarse', str(coarse), '--fine', str(fine)]
    assert main([*args, '--out', str(out)]) == 0
    matrix = load_cooccurrence(out, 'enviroatlas')
    expected = estimate_cooccurrence([(coarse, fine)], 'nlcd', 'enviroatlas')
    np.testing.assert_allclose(matrix.matrix, expected.matrix)
    assert matrix.coarse_codes == expected.coarse_codes


def test_cooccurrence_pairs_coarse_and_fine_rasters(tiny_scene: TinyScene) -> None:
    coarse = sorted(tiny_scene.nlcd.glob('*.tif'))
    fine = sorted(tiny_scene.lc.glob('*.tif'))
    out = tiny_scene.root / 'paired.csv'
    args = ['cooccurrence', '--coarse', *map(str, coarse), '--fine', *map(str, fine)]
    assert main([*args, '--out', str(out)]) == 0
    np.testing.assert_allclose(
        load_cooccurrence(out, 'enviroatlas').matrix,
        load_cooccurrence(tiny_scene.cooccurrence, 'enviroatlas').matrix,
    )
    with pytest.raises(SystemExit):
        main(['cooccurrence', '--coarse', *map(str, coarse), '--fine', str(fine[0])])


def test_prior_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nlcd = np.repeat(np.repeat(np.array([[11, 21], [41, 81]], np.uint8), 4, 0), 4, 1)
    coarse = write_tif(tmp_path / 'nlcd.tif', nlcd, resolution=30.0)
    like = write_tif(tmp_path / 'naip.tif', np.zeros((120, 100), np.uint8))
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
    coarse = write_tif(tmp_path / 'nlcd.tif', np.array([[11, 250]], np.uint8))
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


def test_make_scene(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / 'scene'
    assert main(['make-scene', str(out), '--size', '128', '--tiles', '1']) == 0
    assert 'Wrote a 1-tile scene' in capsys.readouterr().out
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['seed'] == 0
    assert len(list((out / 'naip').glob('*.tif'))) == 1
    (tmp_path / 'file').write_text('x')
    with pytest.raises(SystemExit) as exit_info:
        main(['make-scene', str(tmp_path / 'file'), '--size', '128'])
    assert exit_info.value.code == 2

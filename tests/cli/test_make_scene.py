import json
from pathlib import Path

import pytest

from torchgeo_lsr.cli import main


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


def test_make_scene_landscape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'arid'
    args = ['make-scene', str(out), '--generator', 'landscape', '--size', '64']
    args += ['--style', 'arid', '--bands', '6', '--resolution', '30']
    args += ['--coarse_kind', 'mode', '--coarse_factor', '8', '--tiles', '1']
    assert main(args) == 0
    assert 'arid landscape' in capsys.readouterr().out
    assert (out / 'image' / 'tile_0.tif').exists()
    assert (out / 'coarse_scheme.yaml').exists()

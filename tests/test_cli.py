import json
import subprocess
import sys
from pathlib import Path

import pytest

from torchgeo_lsr import __version__
from torchgeo_lsr.cli import main


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


def test_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['demo', '--out', str(tmp_path), '--steps', '40']) == 0
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

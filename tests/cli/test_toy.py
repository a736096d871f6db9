import json
from pathlib import Path

import pytest

from torchgeo_lsr.cli import main


def test_toy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['toy', '--out', str(tmp_path), '--steps', '40']) == 0
    out = capsys.readouterr().out
    assert 'prior argmax' in out
    assert 'QR (free energy): argmax q' in out
    results = json.loads((tmp_path / 'toy_results.json').read_text())
    assert 0 <= results['rq']['r']['accuracy'] <= 1
    assert (tmp_path / 'toy.png').is_file()

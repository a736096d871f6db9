import json
from pathlib import Path

import pytest

from tests.conftest import TinyScene
from tests.test_lightning import CONFIG, scene_args
from torchgeo_lsr.demo import run_demo


def test_demo_on_a_tiny_scene(
    tiny_scene: TinyScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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

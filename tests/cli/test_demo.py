import os
from pathlib import Path
from typing import Any

import pytest

import torchgeo_lsr.cli.demo
from torchgeo_lsr.cli import build_parser, main


def test_defaults() -> None:
    args = build_parser().parse_args(['demo'])
    assert (args.out, args.scene, args.config) == (
        'outputs/demo',
        'data/scene',
        'conf/synthetic.yaml',
    )


def test_hands_its_options_to_run_demo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Any, ...]] = []

    def run_demo(
        out: str | os.PathLike[str], scene: str, config: str
    ) -> dict[str, Any]:
        calls.append((out, scene, config))
        return {}

    monkeypatch.setattr(torchgeo_lsr.cli.demo, 'run_demo', run_demo)
    args = ['demo', '--out', str(tmp_path), '--scene', 's', '--config', 'c.yaml']
    assert main(args) == 0
    assert calls == [(str(tmp_path), 's', 'c.yaml')]


def test_a_missing_config_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['demo', '--out', str(tmp_path), '--config', str(tmp_path / 'no.yaml')])
    assert exit_info.value.code == 2
    assert 'run the demo from the repository' in capsys.readouterr().err

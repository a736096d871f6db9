from pathlib import Path

import pytest

from torchgeo_lsr.io import atomic_path


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

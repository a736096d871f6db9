"""``predict --out`` stopped by SIGINT, SIGTERM or SIGKILL, then run again.

Guards issue 20 items 2-3 end to end, in real processes: each interrupted run stops
promptly with a non-zero status while the second tile is being written, keeps the
finished first tile and (but after SIGKILL, which runs no clean-up) leaves nothing
partial; the rerun sweeps what SIGKILL left, keeps the finished tile, writes the
other, and ends with maps equal to those of an uninterrupted run.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TinyScene
from tests.export.helpers import read
from tests.test_lightning import scene_args
from torchgeo_lsr.cli import main

#: Small blocks, so that a tile takes many steps to write.
EXPORT = ['--window', '32', '--products', '[r]']


@pytest.fixture(scope='module')
def trained(
    tiny_scene: TinyScene, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], Path]:
    """The scene's arguments and a checkpoint of two training steps."""
    root = tmp_path_factory.mktemp('interrupted_fit')
    args = scene_args(tiny_scene, root)
    main(['fit', *args, '--trainer.max_steps', '2', '--trainer.limit_val_batches', '0'])
    return args, next(root.rglob('last.ckpt'))


def predict(args: list[str], checkpoint: Path, out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, '-m', 'torchgeo_lsr.cli', 'predict', *args]
    command += ['--ckpt_path', str(checkpoint), '--out', str(out), *EXPORT]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def partial_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob('.*'))


def maps(out: Path) -> dict[str, np.ndarray]:
    return {p.name: read(p) for p in sorted(out.glob('*.tif'))}


def wait_for_second_tile(process: subprocess.Popen[str], out: Path) -> None:
    """Wait until tile_0 is finished and tile_1 is being written."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (out / 'tile_0.tif').exists() and list(out.glob('.tile_1.*.part.tif')):
            return
        if process.poll() is not None:
            pytest.fail(f'the export ended before tile_1: {process.communicate()}')
        time.sleep(0.02)
    process.kill()
    pytest.fail('the export did not reach tile_1 in time')


@pytest.mark.slow
def test_interrupted_exports_resume_to_the_same_maps(
    trained: tuple[list[str], Path], tmp_path: Path
) -> None:
    args, checkpoint = trained
    reference = tmp_path / 'reference'
    done = predict(args, checkpoint, reference)
    assert done.wait(timeout=300) == 0, done.communicate()
    expected = maps(reference)
    assert sorted(expected) == [
        'tile_0.tif',
        'tile_0_r.tif',
        'tile_1.tif',
        'tile_1_r.tif',
    ]
    statuses = {signal.SIGINT: 1, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
    for signum, status in statuses.items():
        out = tmp_path / signum.name
        process = predict(args, checkpoint, out)
        wait_for_second_tile(process, out)
        process.send_signal(signum)
        assert process.wait(timeout=60) == status, signum.name
        _, err = process.communicate()
        assert (out / 'tile_0.tif').exists()
        assert not (out / 'tile_1.tif').exists()
        if signum == signal.SIGTERM:
            assert (
                err.rstrip()
                .splitlines()[-1]
                .startswith(
                    'torchgeo-lsr predict: stopped by SIGTERM: finished maps are kept'
                )
            )
        if signum == signal.SIGKILL:
            assert partial_files(out), 'SIGKILL should leave its temporaries'
        else:
            assert partial_files(out) == [], signum.name
        rerun = predict(args, checkpoint, out)
        assert rerun.wait(timeout=300) == 0, rerun.communicate()
        printed, _ = rerun.communicate()
        assert 'Wrote maps of 1 tile(s)' in printed
        assert 'kept 1 complete from an earlier run' in printed
        assert partial_files(out) == []
        got = maps(out)
        assert got.keys() == expected.keys()
        for name, data in expected.items():
            np.testing.assert_array_equal(got[name], data, err_msg=name)

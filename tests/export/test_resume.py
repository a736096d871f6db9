"""Resuming an export over complete maps only, sweeping leftovers, SIGTERM.

Guards issue 20 items 1-3: a truncated ``tile_0.tif`` already in the output folder
was kept as if complete (the run said it wrote two tiles), and a killed export's
``.part.tif`` and ``.cache`` files stayed forever.
"""

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TinyScene
from tests.export.helpers import datamodule, read
from torchgeo_lsr.export import ExportOptions, ExportStopped, export_maps
from torchgeo_lsr.export.grids import tile_grids
from torchgeo_lsr.export.maps import export_if_needed, prepare
from torchgeo_lsr.export.resume import (
    check_stop,
    output_problem,
    stop_on_sigterm,
    sweep_temporaries,
)
from torchgeo_lsr.tasks import LSRSegmentation

OPTIONS = ExportOptions(products=('r',), window=96)


def test_a_truncated_output_is_rewritten_and_a_complete_one_kept(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(tiny_scene)
    out = tmp_path / 'maps'
    export_maps(task, dm, out, OPTIONS, False)
    expected = {p.name: read(p) for p in out.glob('*.tif')}
    first = out / 'tile_0.tif'
    first.write_bytes(first.read_bytes()[:2000])  # an interrupted copy
    grids, folder = prepare(task, dm, out)
    results = [
        export_if_needed(task, dm, grid, out, folder, OPTIONS, False) for grid in grids
    ]
    assert [written for _, written in results] == [True, False]
    assert {p.name: read(p) for p in out.glob('*.tif')}.keys() == expected.keys()
    for name, data in expected.items():
        np.testing.assert_array_equal(read(out / name), data)


def test_output_problem_names_what_is_wrong(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(tiny_scene)
    out = tmp_path / 'maps'
    paths = export_maps(task, dm, out, OPTIONS, False)
    grids = tile_grids(dm.predict_dataset.transforms)
    classes = dm.num_classes
    assert output_problem(paths[0]['map'], 'map', grids[0], classes) is None
    assert output_problem(paths[0]['r'], 'r', grids[0], classes) is None
    assert output_problem(out / 'none.tif', 'map', grids[0], classes) == 'missing'
    # Another tile's map, or another product, is not this output.
    assert output_problem(paths[1]['map'], 'map', grids[0], classes) == (
        "not on the tile's grid"
    )
    problem = output_problem(paths[0]['r'], 'map', grids[0], classes)
    assert problem == "not a 'map' product of torchgeo-lsr"
    cut = out / 'cut.tif'
    cut.write_bytes(paths[0]['r'].read_bytes()[:-100])
    assert str(output_problem(cut, 'r', grids[0], classes)).startswith('cut short')
    (out / 'text.tif').write_text('no')
    assert str(output_problem(out / 'text.tif', 'map', grids[0], classes)).startswith(
        'unreadable'
    )


def test_leftovers_of_a_killed_export_are_swept(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    out = tmp_path / 'maps'
    out.mkdir()
    leftovers = [
        out / '.tile_0.abc123.part.tif',
        out / '.tile_0_r.x1.part.tif',
        out / '.tile_0.q9.cache',
        out / '.tile_0.tif.zz.tmp.tif',
        out / '.tile_0.qml.k.tmp.qml',
    ]
    others = [out / '.tile_1.abc.part.tif', out / 'notes.txt', out / '.tile_01.a.cache']
    for path in [*leftovers, *others]:
        path.write_bytes(b'partial')
    paths = {'map': out / 'tile_0.tif', 'r': out / 'tile_0_r.tif'}
    assert sorted(sweep_temporaries(paths)) == sorted(leftovers)
    assert all(path.exists() for path in others)
    # An export sweeps before it decides anything, also for a complete tile.
    dm = datamodule(tiny_scene)
    export_maps(task, dm, out, OPTIONS, False)
    (out / '.tile_0.old.part.tif').write_bytes(b'x')
    export_maps(task, dm, out, OPTIONS, False)
    assert not (out / '.tile_0.old.part.tif').exists()


def test_sigterm_stops_between_blocks() -> None:
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda *args: calls.append(args[0]))
    try:
        with stop_on_sigterm():
            check_stop()
            os.kill(os.getpid(), signal.SIGTERM)
            with pytest.raises(ExportStopped) as stopped:
                check_stop()
        assert stopped.value.code == 143
        assert calls == [signal.SIGTERM]  # the handler before still ran
        with stop_on_sigterm():
            check_stop()  # a new export starts afresh
    finally:
        signal.signal(signal.SIGTERM, previous)

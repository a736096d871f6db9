from pathlib import Path

import lightning as L
import pytest

from tests.conftest import TinyScene
from tests.export.helpers import datamodule
from torchgeo_lsr.evaluate import evaluate_maps
from torchgeo_lsr.export import ExportOptions, export_maps, export_tile
from torchgeo_lsr.tasks import LSRSegmentation


def test_evaluation_of_an_export_equals_the_test_metrics(
    one_tile_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(one_tile_scene, eval_patch_size=48)
    trainer = L.Trainer(logger=False, enable_progress_bar=False)
    trainer.test(task, dm, verbose=False)
    results = task.test_results
    label = next(one_tile_scene.lc.glob('*.tif'))
    for source in ('r', 'q'):
        paths = export_maps(
            task,
            dm,
            tmp_path / f'{source}.tif',
            ExportOptions(map_source=source, window=80),
            False,
        )[0]
        scores = evaluate_maps([(paths['map'], label)], 'enviroatlas')
        assert scores['pixels'] == results[source]['pixels']
        assert scores['accuracy'] == pytest.approx(
            results[source]['accuracy'], abs=1e-6
        )
        assert scores['miou'] == pytest.approx(results[source]['miou'], abs=1e-6)


def test_folder_of_tiles_and_bad_options(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    dm = datamodule(tiny_scene)
    with pytest.raises(ValueError, match='cannot go to one file'):
        export_maps(task, dm, tmp_path / 'one.tif', progress=False)
    with pytest.raises(ValueError, match='unknown products'):
        ExportOptions(products=('logits',))
    with pytest.raises(ValueError, match='map_source'):
        ExportOptions(map_source='p')  # type: ignore[arg-type]
    assert export_tile is not None

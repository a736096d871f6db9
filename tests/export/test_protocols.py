from typing import Any

import pytest

from tests.conftest import TinyScene
from tests.export.helpers import datamodule
from torchgeo_lsr.export import ExportDataModule, ExportTask, export_maps
from torchgeo_lsr.export.protocols import TileDataset, TileTransforms
from torchgeo_lsr.tasks import LSRSegmentation


def test_the_package_task_and_data_module_fit(
    tiny_scene: TinyScene, task: LSRSegmentation
) -> None:
    dm = datamodule(tiny_scene)
    # Structural types: mypy checks these assignments; here the members exist.
    as_task: ExportTask = task
    as_data: ExportDataModule = dm
    as_data.setup('predict')
    assert as_task.hparams['method'] == 'lsr'
    assert isinstance(dm.predict_dataset, TileDataset)
    assert isinstance(dm.predict_dataset.transforms, TileTransforms)


class _Plain:
    """A data module whose prediction dataset export cannot read."""

    scheme: Any = None
    predict_dataset: Any = None

    def setup(self, stage: str) -> None:
        self.predict_dataset = [1, 2, 3]

    def image_statistics(self) -> Any:
        raise AssertionError('not reached')


def test_other_data_modules_are_refused(task: LSRSegmentation, tmp_path: Any) -> None:
    task.hparams['normalize_input'] = False
    with pytest.raises(TypeError, match='prediction dataset export cannot read'):
        export_maps(task, _Plain(), tmp_path, progress=False)

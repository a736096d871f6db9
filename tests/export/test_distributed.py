from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from tests.conftest import TinyScene
from tests.export.helpers import datamodule, read
from torchgeo_lsr.export import ExportOptions, export_maps, export_with_trainer
from torchgeo_lsr.tasks import LSRSegmentation


def test_trainer_export_and_cli(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    trainer = L.Trainer(logger=False, enable_progress_bar=False, devices=1)
    written = export_with_trainer(
        trainer,
        task,
        datamodule(tiny_scene),
        str(tmp_path / 'maps'),
        ExportOptions(window=64),
    )
    assert sorted(p['map'].name for p in written) == ['tile_0.tif', 'tile_1.tif']


@pytest.mark.slow
def test_ddp_ranks_split_the_tiles(tiny_scene: TinyScene, tmp_path: Path) -> None:
    """Two CPU processes (gloo) export one tile each."""
    torch.manual_seed(0)
    task = LSRSegmentation(num_filters=4)
    trainer = L.Trainer(
        accelerator='cpu',
        devices=2,
        strategy='ddp_spawn',
        logger=False,
        enable_progress_bar=False,
    )
    export_with_trainer(
        trainer,
        task,
        datamodule(tiny_scene),
        str(tmp_path / 'maps'),
        ExportOptions(window=64),
    )
    maps = sorted(p.name for p in (tmp_path / 'maps').glob('*.tif'))
    assert maps == ['tile_0.tif', 'tile_1.tif']
    single = export_maps(
        task,
        datamodule(tiny_scene),
        tmp_path / 'single',
        ExportOptions(window=64),
        False,
    )
    for paths in single:
        np.testing.assert_array_equal(
            read(paths['map']), read(tmp_path / 'maps' / paths['map'].name)
        )

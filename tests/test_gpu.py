"""Checks for a CUDA machine: losses, device priors, fit / test / predict, export, DDP.

Marked ``gpu`` and skipped cleanly without CUDA (``pytest -m gpu`` runs only these).
Each compares the device's results with the CPU's, or runs a command end to end.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import TinyScene
from tests.datamodules.two_tiles import datamodule, make_two_tiles
from tests.test_lightning import scene_args
from tests.test_losses import LOSSES, naive_loss
from torchgeo_lsr.cli import main
from torchgeo_lsr.datamodules.device_batch import collate_samples
from torchgeo_lsr.datamodules.margin_dataset import MarginDataset

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA'),
]

GPU = ['--trainer.accelerator', 'gpu', '--trainer.devices', '1']


@pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq', 'ce'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_losses_on_cuda_equal_the_reference(name: str, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 5, 64, 64, generator=generator)
    prior = torch.rand(4, 5, 64, 64, generator=generator)
    log_q = logits.log_softmax(1).to(dtype)
    expected = naive_loss(name, log_q.double(), prior.double())
    loss = LOSSES[name](log_q.cuda(), prior.cuda())
    assert loss.dtype == torch.float32
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(
        loss.double().cpu(), expected, rtol=tolerance, atol=tolerance
    )


def test_device_priors_on_cuda_equal_the_loader_priors(tmp_path: Path) -> None:
    dm = datamodule(make_two_tiles(tmp_path), train_labels=True)
    dm.setup('fit')
    dataset = dm.train_dataset
    assert isinstance(dataset, MarginDataset)
    index = next(iter(dm.train_batch_sampler))
    loaded = collate_samples([dataset.loader_view()[q] for q in index])
    moved = {
        k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in loaded.items()
    }
    batch = dm.on_after_batch_transfer(moved, 0)
    whole = collate_samples([dataset[q] for q in index])
    torch.testing.assert_close(batch['prior'].cpu(), whole['prior'], atol=1e-5, rtol=0)
    assert torch.equal(batch['valid'].cpu(), whole['valid'])
    assert torch.equal(batch['image'].cpu(), whole['image'])


def test_fit_test_predict_and_export_on_cuda(
    tiny_scene: TinyScene, tmp_path: Path
) -> None:
    args = [*scene_args(tiny_scene, tmp_path), *GPU]
    main(['fit', *args, '--trainer.max_steps', '2', '--trainer.limit_val_batches', '1'])
    checkpoint = str(next(tmp_path.rglob('last.ckpt')))
    main(
        [
            'test',
            *args,
            '--ckpt_path',
            checkpoint,
            '--results',
            str(tmp_path / 'r.json'),
        ]
    )
    main(['predict', *args, '--ckpt_path', checkpoint, '--out', str(tmp_path / 'maps')])
    assert sorted(p.name for p in (tmp_path / 'maps').glob('*.tif'))
    assert (tmp_path / 'r.json').exists()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two GPUs')
def test_two_gpu_ddp_fit(tiny_scene: TinyScene, tmp_path: Path) -> None:
    args = scene_args(tiny_scene, tmp_path)
    command = [sys.executable, '-m', 'torchgeo_lsr.cli', 'fit', *args]
    command += ['--trainer.accelerator', 'gpu', '--trainer.devices', '2']
    command += ['--trainer.strategy', 'ddp', '--trainer.max_steps', '2']
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp_path.rglob('last.ckpt'))

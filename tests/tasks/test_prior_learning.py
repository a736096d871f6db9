from pathlib import Path

import lightning.pytorch as pl
import torch

from tests.data.common import KERNEL, SIGMA
from torchgeo_lsr.datamodules import EnviroAtlasLSRDataModule
from torchgeo_lsr.models import PriorNet
from torchgeo_lsr.tasks import PriorLearning


def test_fixed_settings_and_checkpoint_arguments(tmp_path: Path) -> None:
    task = PriorLearning(num_filters=4)
    assert isinstance(task.model.network, PriorNet)  # type: ignore[union-attr]
    assert task.hparams['method'] == 'hr'
    assert task.hparams['model'] == 'prior_net'
    assert task.hparams['normalize_input'] is False
    checkpoint: dict[str, object] = {'hyper_parameters': dict(task.hparams)}
    task.on_save_checkpoint(checkpoint)
    saved = checkpoint['hyper_parameters']
    assert isinstance(saved, dict)
    assert 'method' not in saved
    assert saved['num_filters'] == 4
    PriorLearning(**saved)  # a checkpoint's arguments re-create the task


def test_learns_the_labels_from_prior_and_layers(
    enviroatlas_root: Path, tmp_path: Path
) -> None:
    pl.seed_everything(0)
    dm = EnviroAtlasLSRDataModule(
        root=enviroatlas_root,
        city='pittsburgh',
        train_split='val5',
        prior='prior_no_osm_no_buildings',
        inputs=['prior', 'buildings', 'roads', 'waterbodies', 'waterways'],
        label_scheme='enviroatlas',
        train_labels=True,
        context=10,
        batch_size=8,
        patch_size=48,
        eval_patch_size=64,
        length=8 * 30,
        prior_sigma=SIGMA,
        prior_kernel_size=KERNEL,
    )
    task = PriorLearning(num_filters=8, lr=3e-3)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    results = task.test_results
    # The network sees the NLCD-only prior: after training it beats its argmax.
    assert results['q']['accuracy'] > results['prior_argmax']['accuracy']
    assert task.border == 10
    batch = next(iter(dm.train_dataloader()))
    assert batch['image'].shape[1] == 9
    assert torch.isfinite(batch['image']).all()

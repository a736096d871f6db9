"""Runs behind the non-geo figures: fit a task and keep its accuracies, sweep k.

The benchmark (``benchmarks/bench_nongeo.py``) and the notebooks use these, so the
figures in both come from the same code.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import lightning.pytorch as pl

from .base import ClassificationLoss, LearningRateSchedule, PriorClassification
from .images import ImageSource
from .partial_labels import PartialLabelClassification, PartialLabelDataModule

__all__ = ('RunResult', 'fit_and_score', 'negative_label_sweep')


class RunResult(TypedDict):
    """Accuracies (fractions) and costs of one training run."""

    epochs: int
    final_test_accuracy: float
    best_test_accuracy: float
    final_train_accuracy: float
    test_accuracy_per_epoch: list[float]
    train_accuracy_per_epoch: list[float]
    wall_seconds: float
    cpu_seconds: float


def fit_and_score(
    task: PriorClassification,
    datamodule: pl.LightningDataModule,
    epochs: int,
    *,
    seed: int = 0,
    progress: bool = False,
    accelerator: str = 'cpu',
) -> RunResult:
    """Fit a non-geo task and return its accuracy per epoch against true labels.

    Validation runs on the data module's test split after every epoch (the paper
    records test accuracy every epoch), so ``best`` is the best epoch on the test
    set: report ``final`` as the result.

    Args:
        task: the task (a :class:`~torchgeo_lsr.nongeo.PriorClassification`).
        datamodule: its data module.
        epochs: training epochs.
        seed: seed of the training run (data order, dropout); the network's
            initialisation follows the seed set before the task was built.
        progress: show Lightning's progress bar.
        accelerator: Lightning accelerator.

    Returns:
        The run's accuracies and its wall-clock and CPU seconds.

    Raises:
        ValueError: If ``epochs`` is not positive.
    """
    if epochs < 1:
        raise ValueError(f'epochs must be positive, got {epochs}')
    pl.seed_everything(seed, verbose=False)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit(task, datamodule=datamodule)
    test = task.history['val_accuracy']
    train = task.history.get('train_accuracy', [])
    return {
        'epochs': epochs,
        'final_test_accuracy': test[-1],
        'best_test_accuracy': max(test),
        'final_train_accuracy': train[-1] if train else float('nan'),
        'test_accuracy_per_epoch': list(test),
        'train_accuracy_per_epoch': list(train),
        'wall_seconds': time.perf_counter() - wall,
        'cpu_seconds': time.process_time() - cpu,
    }


def negative_label_sweep(
    ks: Sequence[int],
    losses: Sequence[ClassificationLoss],
    epochs: int,
    *,
    source: ImageSource = 'mnist',
    root: str | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_schedule: LearningRateSchedule = 'constant',
    seed: int = 0,
    progress: bool = False,
    on_run: Callable[[ClassificationLoss, int, RunResult], Any] | None = None,
) -> dict[str, dict[int, RunResult]]:
    """Train with ``k`` negative labels per image for every ``k`` and loss.

    The paper's Fig. 3 (§4.1): the small CNN, the same images and negative labels
    (seeded per ``k``) for every loss.

    Args:
        ks: negative labels per image (1 to classes - 1).
        losses: losses to compare (``'ce'``, ``'nll_union'``, ``'qr'``, ``'rq'``).
        epochs: training epochs per run.
        source: image source (``'mnist'``, ``'cifar10'``, ``'folder'``,
            ``'digits'``).
        root: folder of the source's files.
        train_size: first this many training images (None: all).
        test_size: first this many test images (None: all).
        batch_size: images per batch (the paper: 256).
        lr: learning rate of Adam.
        lr_schedule: ``'constant'`` or ``'cosine'``.
        seed: seed of the negative labels and of training.
        progress: show Lightning's progress bar.
        on_run: called after each run with ``(loss, k, result)`` (e.g. to print or
            save as the sweep goes).

    Returns:
        ``{loss: {k: result}}``.

    Raises:
        ValueError: If ``ks`` or ``losses`` is empty.
    """
    if not ks or not losses:
        raise ValueError('give at least one k and one loss')
    results: dict[str, dict[int, RunResult]] = {}
    loaded: dict[str, Any] = {}
    for k in ks:
        datamodule = PartialLabelDataModule(
            source,
            root,
            k=k,
            seed=seed,
            train_size=train_size,
            test_size=test_size,
            batch_size=batch_size,
        )
        # The images are the same for every k: read them once.
        datamodule.splits.update(loaded)
        split = datamodule.split('train')
        datamodule.split('test')
        loaded = dict(datamodule.splits)
        for loss in losses:
            # Seed before the task builds its network: every loss starts alike.
            pl.seed_everything(seed, verbose=False)
            task = PartialLabelClassification(
                in_channels=split.images.shape[1],
                image_size=split.images.shape[-1],
                num_classes=len(split.classes),
                loss=loss,
                lr=lr,
                lr_schedule=lr_schedule,
            )
            run = fit_and_score(task, datamodule, epochs, seed=seed, progress=progress)
            results.setdefault(loss, {})[k] = run
            if on_run is not None:
                on_run(loss, k, run)
    return results

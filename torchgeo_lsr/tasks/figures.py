"""The segmentation task's validation figure: one sample's image, prior, q, r, labels.

:func:`validation_figure` draws it (with :func:`~torchgeo_lsr.plot.plot_prediction`)
and :func:`log_figure` hands it to the run's logger. matplotlib is imported with
:mod:`torchgeo_lsr.plot` when the task is: it is a dependency of the package and
every validation epoch may draw, so deferring it would save nothing.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from lightning.pytorch.loggers import Logger
from matplotlib.figure import Figure
from torch import Tensor

from ..io import atomic_path
from ..plot import plot_prediction
from ..schemes import ClassScheme, generic_scheme
from .tile_totals import log_posterior

__all__ = ('FIGURE_TAG', 'log_figure', 'log_validation_figure', 'validation_figure')

#: Name of the figure in TensorBoard.
FIGURE_TAG = 'val/prediction'


def validation_figure(
    image: Tensor,
    outputs: Mapping[str, Tensor],
    log_r: Tensor | None,
    scheme: ClassScheme,
    *,
    border: int,
    title: str,
) -> Figure:
    """A figure of a batch's first sample: image, prior, q, r and labels.

    Args:
        image: (B, bands, H, W) imagery of the batch, uncropped.
        outputs: the task's cropped outputs (``prior``, ``log_q``, optionally
            ``target``) of the batch.
        log_r: (B, C, h, w) implied posterior of the batch (None: computed
            from the outputs with the batch's class totals).
        scheme: the classes' names and colours.
        border: pixels the outputs lack on each side of the image.
        title: the figure's title.

    Returns:
        The figure (close it when done).
    """
    first = image[0, :, border : image.shape[-2] - border]
    first = first[..., border : first.shape[-1] - border]
    target = outputs.get('target')
    if log_r is None:
        log_r = log_posterior(outputs, None)
    return plot_prediction(
        first,
        outputs['prior'][0],
        outputs['log_q'][0],
        log_r[0],
        scheme,
        None if target is None else target[0],
        title=title,
    )


def log_figure(logger: Logger, figure: Figure, *, epoch: int, step: int) -> Path | None:
    """Give a validation figure to a logger, then close it.

    TensorBoard loggers get it with ``add_figure`` (:data:`FIGURE_TAG`); other
    loggers with a log folder get a PNG there (``figures/val_epoch_<n>.png``).

    Args:
        logger: the run's logger.
        figure: from :func:`validation_figure`.
        epoch: the epoch (names the PNG).
        step: the global step (TensorBoard's x axis).

    Returns:
        The PNG's path, or None if none was written.
    """
    try:
        experiment = getattr(logger, 'experiment', None)
        if experiment is not None and hasattr(experiment, 'add_figure'):
            experiment.add_figure(FIGURE_TAG, figure, global_step=step)
            return None
        if not logger.log_dir:
            return None
        folder = Path(logger.log_dir) / 'figures'
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f'val_epoch_{epoch:03d}.png'
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=80)
        return path
    finally:
        plt.close(figure)


def log_validation_figure(
    task: Any, batch: Mapping[str, Any], outputs: Mapping[str, Tensor]
) -> None:
    """Log the figure of a validation batch's first sample, from the global rank 0.

    Args:
        task: the :class:`~torchgeo_lsr.tasks.LSRSegmentation` (its logger,
            trainer, classes and border).
        batch: the (uncropped) batch.
        outputs: its cropped outputs.
    """
    logger = task.logger
    if not isinstance(logger, Logger) or not task.trainer.is_global_zero:
        return
    datamodule = getattr(task.trainer, 'datamodule', None)
    scheme = getattr(datamodule, 'scheme', None) or generic_scheme(
        range(task.hparams['num_classes']), names=task.names
    )
    figure = validation_figure(
        batch['image'],
        outputs,
        outputs.get('log_r'),
        scheme,
        border=task.border,
        title=f'epoch {task.current_epoch}',
    )
    log_figure(logger, figure, epoch=task.current_epoch, step=task.global_step)

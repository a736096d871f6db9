"""Learning a better prior from a few labelled tiles (REFERENCE §2.5).

:class:`PriorLearning` trains the paper's prior network
(:class:`~torchgeo_lsr.models.PriorNet`: 11/7/5 convolutions, 21 px receptive
field) with NLL on high-res labels, from an input of the NLCD-only prior and the
raw 0/1 building, road, water-body and waterway rasters. It is
:class:`~torchgeo_lsr.tasks.LSRSegmentation` with the supervised method, that
network and the paper's settings, so metrics, checkpoints and map export are the
same: ``torchgeo-lsr predict --out DIR --products [q]`` writes ``<tile>_q.tif``,
the learned prior, which the LSR data modules read like any prior
(``prior_paths`` / ``prior_glob: '*_q.tif'``, or EnviroAtlas's ``prior:
learned``).

The data module supplies the input through its ``inputs`` (e.g.
``['prior', 'buildings', 'roads', 'waterbodies', 'waterways']``), ``context: 10``
(half the receptive field) and ``train_labels: true``; the reported q metrics
score the learned prior against the labels.
"""

import inspect
from collections.abc import MutableMapping, Sequence
from types import FrameType
from typing import Any, cast

from .segmentation import LSRSegmentation

__all__ = ('PriorLearning',)

#: Settings of the parent task this one fixes.
_FIXED = {'model': 'prior_net', 'method': 'hr', 'normalize_input': False}


class PriorLearning(LSRSegmentation):
    """The learned prior network, trained with NLL on labelled tiles."""

    def __init__(
        self,
        in_channels: int = 9,
        num_classes: int = 5,
        num_filters: int = 128,
        output_smoothing: float = 1e-8,
        prior_smoothing: float = 1e-4,
        border: int | None = None,
        init_checkpoint: str | None = None,
        class_names: Sequence[str] | None = None,
        lr: float = 1e-4,
        patience: int = 4,
        plot_every_n_epochs: int = 1,
    ) -> None:
        """Initialise the task.

        Args:
            in_channels: input channels (the paper: 5 prior bands and 4 rasters).
            num_classes: classes of the prior and the labels.
            num_filters: filters of the network (the paper: 128).
            output_smoothing: ε of the output (the paper: 1e-8).
            prior_smoothing: ε added to the input data module's prior where it
                is scored as a prior (metrics of r).
            border: pixels cropped before the loss and metrics (default: the data
                module's context, which should be 10 for this network).
            init_checkpoint: a checkpoint to start from.
            class_names: class names for metrics.
            lr: learning rate of Adam (the paper: 1e-4).
            patience: epochs without improvement before the learning rate drops.
            plot_every_n_epochs: a validation figure every this many epochs.
        """
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            num_filters=num_filters,
            output_smoothing=output_smoothing,
            prior_smoothing=prior_smoothing,
            border=border,
            init_checkpoint=init_checkpoint,
            class_names=class_names,
            lr=lr,
            patience=patience,
            plot_every_n_epochs=plot_every_n_epochs,
            **_FIXED,  # type: ignore[arg-type]
        )

    def save_hyperparameters(self, *args: Any, **kwargs: Any) -> None:
        """Save the hyper-parameters, including the settings fixed by this task.

        LightningCLI hands ``save_hyperparameters`` this class's own arguments only;
        the parent's code reads the fixed ones (and the parent's defaults) from
        ``hparams`` too.

        Args:
            *args: as :meth:`~lightning.pytorch.LightningModule.save_hyperparameters`.
            **kwargs: as :meth:`~lightning.pytorch.LightningModule.save_hyperparameters`.
        """
        if kwargs.get('frame') is None:
            kwargs['frame'] = cast(FrameType, inspect.currentframe()).f_back
        super().save_hyperparameters(*args, **kwargs)
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(
                LSRSegmentation.__init__
            ).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        saved: tuple[MutableMapping[str, Any], ...] = (
            self._hparams,
            cast(MutableMapping[str, Any], self._hparams_initial),
        )
        for hparams in saved:
            for name, value in {**defaults, **_FIXED}.items():
                if name not in hparams or name in _FIXED:
                    hparams[name] = value

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save only this class's own hyper-parameters.

        LightningCLI re-creates the task from a checkpoint's hyper-parameters
        (``--ckpt_path``); the fixed settings are not arguments of this class.

        Args:
            checkpoint: the checkpoint being saved.
        """
        super().on_save_checkpoint(checkpoint)
        own = inspect.signature(PriorLearning.__init__).parameters
        saved = checkpoint.get('hyper_parameters')
        if isinstance(saved, dict):
            for name in [k for k in saved if k not in own and not k.startswith('_')]:
                del saved[name]

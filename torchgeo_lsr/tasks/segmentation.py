"""Label super-resolution as a TorchGeo task: segmentation trained from priors.

:class:`LSRSegmentation` trains a network ``q(l | x)`` against per-pixel priors with
the QR or RQ loss (or CE / NLL-union), and scores both ``q`` and the implied
posterior ``r`` against high-resolution labels, which are used for metrics only. The
paper's baselines run through the same code path, chosen by ``method``:

=================  ===========================================================
``'lsr'``          the network learns from the prior with ``loss`` (default)
``'prior_argmax'`` no network: ``q`` is the prior (nothing to train)
``'hard_naive'``   cross-entropy on the prior's argmax as hard labels
``'hr'``           supervised on the high-res labels (of other tiles or regions)
``'hr_aux'``       as ``'hr'``, with the prior concatenated to the input
=================  ===========================================================

Batches are those of :class:`~torchgeo_lsr.datamodules.LSRDataModule`: ``image``,
``prior``, ``valid``, optionally ``mask`` (labels, ignore index = number of
classes) and ``tile`` (each pixel's tile, for whole-tile posteriors). A border of
``border`` pixels (by default the data module's context, else half the FCN's
receptive field) is cropped from outputs and targets before losses and metrics.
The task never opens a file.
"""

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import lightning.pytorch.utilities.types
import matplotlib.pyplot as plt
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F
from torch.optim import Adam
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchgeo.tasks import BaseTask

from ..io import atomic_path
from ..losses import (
    CELoss,
    Denominator,
    NLLUnionLoss,
    QRForm,
    QRLoss,
    RQLoss,
    implied_posterior,
)
from ..metrics import ConfusionMatrix, segmentation_scores
from ..models import (
    ModelName,
    SmoothedLogSoftmax,
    build_segmentation_model,
    receptive_field,
    size_multiple,
)

__all__ = ('LSRSegmentation', 'LossName', 'Method', 'PosteriorTotals')

#: How the network is supervised (see the module documentation).
Method = Literal['lsr', 'prior_argmax', 'hard_naive', 'hr', 'hr_aux']

#: Losses on the prior for ``method='lsr'``.
LossName = Literal['qr', 'rq', 'ce', 'nll_union']

#: Class totals behind ``r`` at test time: the batch's, or each pixel's whole tile.
PosteriorTotals = Literal['batch', 'tile']

_SUPERVISED = ('hard_naive', 'hr', 'hr_aux')


def _strip(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of a state dict under a prefix, without it."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class LSRSegmentation(BaseTask):
    """Segmentation from priors (QR / RQ) with q and r metrics, and its baselines."""

    ignore = ('weights',)

    def __init__(
        self,
        model: ModelName = 'fcn',
        backbone: str = 'resnet18',
        weights: str | bool | None = None,
        in_channels: int = 4,
        num_classes: int = 5,
        num_filters: int = 128,
        method: Method = 'lsr',
        loss: LossName = 'qr',
        qr_form: QRForm = 'free_energy',
        denominator: Denominator = 'batch',
        momentum: float = 0.9,
        output_smoothing: float | None = None,
        prior_smoothing: float = 1e-4,
        normalize_input: bool = True,
        border: int | None = None,
        warmup_steps: int = 0,
        init_checkpoint: str | None = None,
        class_names: Sequence[str] | None = None,
        posterior_totals: PosteriorTotals = 'tile',
        lr: float = 1e-4,
        patience: int = 4,
        plot_every_n_epochs: int = 1,
    ) -> None:
        """Initialise the task.

        Args:
            model: ``'fcn'`` (the paper's network) or another model name TorchGeo's
                segmentation task builds (``'unet'``, ``'deeplabv3+'``, ...).
            backbone: encoder of the non-FCN models.
            weights: encoder weights as TorchGeo takes them (non-FCN models).
            in_channels: imagery bands (``'hr_aux'`` adds the prior's channels).
            num_classes: classes of the prior and the labels; the labels' ignore
                index is ``num_classes``.
            num_filters: filters per layer of the FCN (the paper: 128).
            method: ``'lsr'``, ``'prior_argmax'``, ``'hard_naive'``, ``'hr'`` or
                ``'hr_aux'``.
            loss: loss on the prior for ``'lsr'``: ``'qr'``, ``'rq'``, ``'ce'`` or
                ``'nll_union'``.
            qr_form: ``'free_energy'`` (the land-cover results) or ``'kl'``.
            denominator: class totals of QR/RQ: ``'batch'`` or ``'ema'``.
            momentum: weight of the running totals for ``'ema'``.
            output_smoothing: ε of ``q = (softmax + ε) / (1 + C ε)`` (default: the
                paper's 1e-4 for learning from priors, 1e-8 for hard labels).
            prior_smoothing: ε added to the normalised prior before renormalising
                (the paper: 1e-4), in training and evaluation.
            normalize_input: standardise the imagery bands with their mean and
                deviation over the training imagery (computed once when training
                starts, kept in the checkpoint). The paper's models see the bands
                divided by 255 only (``False``); standardised bands train faster.
            border: pixels cropped from each side before losses and metrics
                (default: the data module's ``context`` if it has one, else half
                the FCN's receptive field, or 0 for other models).
            warmup_steps: steps of cross-entropy on the prior before ``loss``
                takes over (the paper's advice for QR/RQ from a random start).
            init_checkpoint: a checkpoint of this task (or of TorchGeo's
                segmentation task, or a state dict) whose network weights to start
                from, e.g. an ``'hr'`` model trained in another city.
            class_names: class names for metrics (default: the data module's
                scheme, else ``class_0``, ...).
            posterior_totals: class totals of ``r`` in testing: ``'tile'`` (each
                pixel's whole tile, as the paper evaluated; one extra pass over the
                test data) or ``'batch'``.
            lr: learning rate of Adam (the paper's optimiser).
            patience: epochs without improvement of the validation loss before the
                learning rate is divided by ten.
            plot_every_n_epochs: a validation figure every this many epochs (0:
                never).

        Raises:
            ValueError: On inconsistent options.
        """
        if method not in ('lsr', 'prior_argmax', *_SUPERVISED):
            raise ValueError(f'unknown method {method!r}')
        if loss not in ('qr', 'rq', 'ce', 'nll_union'):
            raise ValueError(f'unknown loss {loss!r}')
        if border is not None and border < 0:
            raise ValueError(f'border must be >= 0, got {border}')
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f'{len(class_names)} class names for {num_classes} classes'
            )
        self.weights = weights
        super().__init__()
        self.class_names = list(class_names or [])
        self.test_results: dict[str, Any] = {}
        self._tile_log_mass: Tensor | None = None

    # ----------------------------------------------------------------- set-up

    @property
    def ignore_index(self) -> int:
        """Label value that is not scored (the number of classes)."""
        return int(self.hparams['num_classes'])

    def configure_models(self) -> None:
        """Build the network (none for ``'prior_argmax'``).

        Raises:
            ValueError: If ``init_checkpoint`` does not fit the network.
        """
        hp = self.hparams
        if hp['method'] == 'prior_argmax':
            self.model = None
            return
        smoothing = hp['output_smoothing']
        if smoothing is None:
            smoothing = 1e-8 if hp['method'] in _SUPERVISED else 1e-4
        in_channels = hp['in_channels'] + (
            hp['num_classes'] if hp['method'] == 'hr_aux' else 0
        )
        network = build_segmentation_model(
            hp['model'],
            in_channels,
            hp['num_classes'],
            backbone=hp['backbone'],
            weights=self.weights,
            num_filters=hp['num_filters'],
        )
        self.model = SmoothedLogSoftmax(
            network, smoothing, multiple=size_multiple(hp['model'])
        )
        if hp['init_checkpoint']:
            self._load_network(hp['init_checkpoint'])

    def _load_network(self, path: str) -> None:
        """Start from the network weights of a checkpoint or state dict.

        Args:
            path: a Lightning checkpoint of this task or of TorchGeo's segmentation
                task, or a saved state dict of the network.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the weights do not fit the network.
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f'init_checkpoint {path} does not exist')
        saved = torch.load(path, map_location='cpu', weights_only=True)
        state = saved.get('state_dict', saved)
        assert self.model is not None
        try:
            if any(key.startswith('model.network.') for key in state):
                # Ours: the network and its input statistics.
                self.model.load_state_dict(_strip(state, 'model.'))
            elif any(key.startswith('model.') for key in state):
                # TorchGeo's segmentation task.
                self.model.network.load_state_dict(_strip(state, 'model.'))
            else:
                self.model.network.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                f'init_checkpoint {path} does not fit this network '
                f'({self.hparams["model"]}, {self.model.network.__class__.__name__}): '
                f'{str(error).splitlines()[0]} (check model, num_filters, '
                'in_channels and num_classes)'
            ) from None

    def configure_losses(self) -> None:
        """Build the loss on the prior (and the warm-up loss)."""
        hp = self.hparams
        criterion: nn.Module
        match hp['loss']:
            case 'qr':
                criterion = QRLoss(
                    hp['qr_form'],
                    denominator=hp['denominator'],
                    momentum=hp['momentum'],
                )
            case 'rq':
                criterion = RQLoss(
                    denominator=hp['denominator'], momentum=hp['momentum']
                )
            case 'ce':
                criterion = CELoss()
            case _:
                criterion = NLLUnionLoss()
        self.criterion = criterion
        self.warmup_criterion = CELoss()

    def configure_metrics(self) -> None:
        """Confusion matrices of q, r and the prior's argmax per split."""
        classes = self.hparams['num_classes']
        self.confusion = nn.ModuleDict(
            {
                f'{split}_{output}': ConfusionMatrix(classes, self.ignore_index)
                for split in ('val', 'test')
                for output in ('q', 'r', 'prior')
            }
        )

    def _confusion(self, name: str) -> ConfusionMatrix:
        """One of the confusion matrices (``'<split>_<output>'``)."""
        return cast(ConfusionMatrix, self.confusion[name])

    def configure_optimizers(
        self,
    ) -> 'lightning.pytorch.utilities.types.OptimizerLRScheduler':
        """Adam (the paper's optimiser) with learning-rate decay on plateaus.

        Returns:
            Optimiser and scheduler, or None when there is nothing to train.
        """
        if self.model is None:
            return None
        optimizer = Adam(self.model.parameters(), lr=self.hparams['lr'])
        scheduler = ReduceLROnPlateau(optimizer, patience=self.hparams['patience'])
        return {
            'optimizer': optimizer,
            # Not strict: runs without validation simply keep the learning rate.
            'lr_scheduler': {
                'scheduler': scheduler,
                'monitor': self.monitor,
                'strict': False,
            },
        }

    def setup(self, stage: str) -> None:
        """Adopt class names, the border and input statistics from the data module.

        Args:
            stage: the Lightning stage.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        self.adopt_data(datamodule)

    def adopt_data(self, datamodule: Any) -> None:
        """Take class names, the context and input statistics from a data module.

        Called by :meth:`setup`; call it directly when running the task outside a
        trainer (as :mod:`torchgeo_lsr.export` does).

        Args:
            datamodule: the data module (or None).

        Raises:
            ValueError: If its classes do not match ``num_classes``, or input
                statistics are needed and it cannot provide them.
        """
        scheme = getattr(datamodule, 'scheme', None)
        if scheme is not None and scheme.num_classes != self.hparams['num_classes']:
            raise ValueError(
                f'the data have {scheme.num_classes} classes ({", ".join(scheme.names)})'
                f' but the model has num_classes={self.hparams["num_classes"]}'
            )
        if not self.class_names and scheme is not None:
            self.class_names = list(scheme.names)
        self._data_context = getattr(datamodule, 'context', None)
        if (
            self.hparams['normalize_input']
            and self.model is not None
            and self.model.input_mean.numel() == 0
        ):
            statistics = getattr(datamodule, 'image_statistics', None)
            if statistics is None:
                raise ValueError(
                    'normalize_input needs a data module with image_statistics() '
                    '(e.g. LSRDataModule), or set normalize_input to false'
                )
            mean, std = statistics()
            self.model.set_input_statistics(mean, std)

    # ------------------------------------------------------------- the network

    @property
    def border(self) -> int:
        """Pixels cropped from each side of a sample before losses and metrics."""
        if self.hparams['border'] is not None:
            return int(self.hparams['border'])
        context = getattr(self, '_data_context', None)
        if context is not None:
            return int(context)
        field = receptive_field(self.hparams['model'])
        return field // 2 if field else 0

    @property
    def names(self) -> list[str]:
        """Class names for metrics."""
        return self.class_names or [
            f'class_{i}' for i in range(self.hparams['num_classes'])
        ]

    def smooth_prior(self, prior: Tensor) -> Tensor:
        """Normalise the prior, add the smoothing ε, normalise again (REFERENCE §1.5).

        Args:
            prior: (B, C, H, W) non-negative prior.

        Returns:
            The smoothed prior.
        """
        prior = prior.float()
        prior = prior / prior.sum(1, keepdim=True).clamp_min(1e-12)
        eps = float(self.hparams['prior_smoothing'])
        return (prior + eps) / (1 + prior.shape[1] * eps)

    def forward(self, x: Tensor) -> Tensor:
        """Smoothed log-probabilities ``log q`` of the network.

        Args:
            x: (B, in_channels, H, W) input (``'hr_aux'``: imagery and prior).

        Returns:
            (B, C, H, W) log-probabilities.

        Raises:
            RuntimeError: For ``'prior_argmax'``, which has no network.
        """
        if self.model is None:
            raise RuntimeError("method 'prior_argmax' has no network to run")
        output: Tensor = self.model(x)
        return output

    def _forward_inside(self, x: Tensor, inside: Tensor | None) -> Tensor:
        """Run the network on the part of each sample inside the rasters.

        Samples at the edge of the imagery carry context beyond it (read as
        zeros). Outside training, the network runs on the part inside only, so its
        own padding applies at the imagery's edge: the result equals a forward pass
        over the whole raster, whatever the windows. Outside pixels get a uniform
        distribution.

        Args:
            x: (B, channels, H, W) input.
            inside: (B, H, W) pixels inside the rasters (None: all).

        Returns:
            (B, C, H, W) log-probabilities.
        """
        if inside is None or self.training or bool(inside.all()):
            return cast(Tensor, self(x))
        rows, cols = inside.any(2), inside.any(1)
        whole = rows.all(1) & cols.all(1)
        classes = int(self.hparams['num_classes'])
        log_q = x.new_full((x.shape[0], classes, *x.shape[-2:]), -math.log(classes))
        if whole.any():
            log_q[whole] = self(x[whole])
        for index in (~whole).nonzero().flatten().tolist():
            r = rows[index].nonzero().flatten()
            c = cols[index].nonzero().flatten()
            if r.numel() == 0 or c.numel() == 0:
                continue
            r0, r1, c0, c1 = int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1
            log_q[index, :, r0:r1, c0:c1] = self(x[index : index + 1, :, r0:r1, c0:c1])[
                0
            ]
        return log_q

    def outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Run the network on a batch and crop the border from everything.

        Args:
            batch: a batch with ``image`` and ``prior`` (and optionally ``valid``,
                ``mask``, ``tile``).

        Returns:
            Cropped ``log_q``, ``prior`` (smoothed), ``valid``, ``target`` (labels
            with invalid pixels ignored; absent without labels) and ``tile``.

        Raises:
            ValueError: If the image or prior does not match the model.
        """
        image = batch['image'].float()
        raw_prior = batch['prior'].float()
        classes = self.hparams['num_classes']
        if raw_prior.shape[1] != classes:
            raise ValueError(
                f'the prior has {raw_prior.shape[1]} classes but the model has '
                f'num_classes={classes}'
            )
        prior = self.smooth_prior(raw_prior)
        if self.model is None:
            log_q = prior.log()
        else:
            if image.shape[1] != self.hparams['in_channels']:
                raise ValueError(
                    f'the imagery has {image.shape[1]} bands but the model has '
                    f'in_channels={self.hparams["in_channels"]}: set '
                    f'--model.init_args.in_channels {image.shape[1]}'
                )
            x = image
            if self.hparams['method'] == 'hr_aux':
                x = torch.cat([image, raw_prior], 1)
            tile = batch.get('tile')
            log_q = self._forward_inside(x, None if tile is None else tile >= 0)
        valid = batch.get('valid')
        if valid is None:
            valid = torch.ones_like(prior[:, 0], dtype=torch.bool)
        b = self.border
        height, width = log_q.shape[-2:]
        if 2 * b >= min(height, width):
            raise ValueError(
                f'samples of {height}x{width} px are too small to crop a border of '
                f'{b} px'
            )

        def crop(tensor: Tensor) -> Tensor:
            return tensor[..., b : tensor.shape[-2] - b, b : tensor.shape[-1] - b]

        out = {'log_q': crop(log_q), 'prior': crop(prior), 'valid': crop(valid.bool())}
        if 'mask' in batch:
            target = crop(batch['mask'].long())
            out['target'] = torch.where(out['valid'], target, self.ignore_index)
        if 'tile' in batch:
            out['tile'] = crop(batch['tile'].long())
        return out

    def _loss(self, outputs: dict[str, Tensor]) -> Tensor:
        """The training objective of ``method`` on cropped outputs.

        Args:
            outputs: from :meth:`outputs`.

        Returns:
            The loss (0 for ``'prior_argmax'``).

        Raises:
            ValueError: If a method needs labels the batch does not have.
        """
        log_q, prior, valid = outputs['log_q'], outputs['prior'], outputs['valid']
        method = self.hparams['method']
        if method == 'prior_argmax':
            return log_q.new_zeros(())
        if method == 'lsr':
            if self.training and self.global_step < self.hparams['warmup_steps']:
                return cast(Tensor, self.warmup_criterion(log_q, prior, mask=valid))
            return cast(Tensor, self.criterion(log_q, prior, mask=valid))
        if method == 'hard_naive':
            target = torch.where(valid, prior.argmax(1), self.ignore_index)
        else:
            if 'target' not in outputs:
                raise ValueError(
                    f'method {method!r} trains on high-res labels: give the data '
                    'module label_paths and train_labels=True'
                )
            target = outputs['target']
        if not (target != self.ignore_index).any():
            # NLL over no pixel is NaN; a batch without labels contributes nothing.
            return (log_q * 0).sum()
        loss: Tensor = F.nll_loss(log_q, target, ignore_index=self.ignore_index)
        return loss

    def _log_r(
        self, outputs: dict[str, Tensor], totals: PosteriorTotals = 'batch'
    ) -> Tensor:
        """The implied posterior ``log r`` (no gradient).

        Args:
            outputs: from :meth:`outputs`.
            totals: class totals from the batch or from each pixel's whole tile
                (needs :meth:`on_test_epoch_start`'s first pass).

        Returns:
            (B, C, H, W) log-probabilities.
        """
        log_q, prior, valid = outputs['log_q'], outputs['prior'], outputs['valid']
        with torch.no_grad():
            mass = None
            if totals == 'tile' and self._tile_log_mass is not None:
                tile = outputs['tile'].clamp_min(0)
                mass = self._tile_log_mass[tile].permute(0, 3, 1, 2)
            return implied_posterior(
                log_q.detach(),
                prior,
                mask=valid,
                log_class_mass=mass,
                distributed=False if mass is not None else None,
            )

    # ------------------------------------------------------------------- steps

    def training_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> Tensor | None:
        """Compute the training loss.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.

        Returns:
            The loss (None for ``'prior_argmax'``: nothing to train).
        """
        if self.model is None:
            return None
        outputs = self.outputs(batch)
        loss = self._loss(outputs)
        self.log('train_loss', loss, batch_size=outputs['log_q'].shape[0])
        return loss

    def _evaluate(self, batch: Any, split: str, totals: PosteriorTotals) -> Tensor:
        """Loss and metric updates of a validation or test batch.

        Args:
            batch: the batch.
            split: ``'val'`` or ``'test'``.
            totals: class totals of ``r``.

        Returns:
            The loss.
        """
        outputs = self.outputs(batch)
        loss = self._loss(outputs)
        self.log(f'{split}_loss', loss, batch_size=outputs['log_q'].shape[0])
        if 'target' in outputs:
            log_r = self._log_r(outputs, totals)
            target = outputs['target']
            self._confusion(f'{split}_q').update(outputs['log_q'].argmax(1), target)
            self._confusion(f'{split}_r').update(log_r.argmax(1), target)
            self._confusion(f'{split}_prior').update(outputs['prior'].argmax(1), target)
            outputs['log_r'] = log_r
        self._last_outputs = outputs
        return loss

    def validation_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Compute the validation loss and update q / r metrics.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.
        """
        self._evaluate(batch, 'val', 'batch')
        every = self.hparams['plot_every_n_epochs']
        if (
            batch_idx == 0
            and every
            and self.current_epoch % every == 0
            and not self.trainer.sanity_checking
        ):
            self._log_figure(batch, self._last_outputs)

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Compute the test loss and update q / r / prior-argmax metrics.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.
        """
        self._evaluate(batch, 'test', self.hparams['posterior_totals'])

    def predict_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor | None]:
        """Probabilities of q and r (batch totals) for a batch, with georeference.

        Whole-raster maps with whole-tile posteriors come from
        :mod:`torchgeo_lsr.export`, which calls the network directly.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.

        Returns:
            ``q`` and ``r`` (B, C, h, w) probabilities of the cropped samples,
            ``valid``, and the samples' ``bounds`` / ``transform``.
        """
        outputs = self.outputs(batch)
        return {
            'q': outputs['log_q'].exp(),
            'r': self._log_r(outputs).exp(),
            'valid': outputs['valid'],
            'bounds': batch.get('bounds'),
            'transform': batch.get('transform'),
        }

    # ----------------------------------------------------- epoch-level metrics

    def _scores(self, split: str, output: str) -> dict[str, Any]:
        """Scores of an accumulated confusion matrix (and reset it).

        Args:
            split: ``'val'`` or ``'test'``.
            output: ``'q'``, ``'r'`` or ``'prior'``.

        Returns:
            The scores.
        """
        metric = self._confusion(f'{split}_{output}')
        scores = segmentation_scores(metric.compute(), self.names)
        metric.reset()
        return scores

    def _log_scores(self, split: str, output: str, scores: dict[str, Any]) -> None:
        """Log accuracy, mIoU and per-class IoU (when there were labelled pixels).

        Args:
            split: ``'val'`` or ``'test'``.
            output: ``'q'``, ``'r'`` or ``'prior'``.
            scores: from :func:`segmentation_scores`.
        """
        if not scores['pixels']:
            return
        values = {
            f'{split}_{output}_accuracy': scores['accuracy'],
            f'{split}_{output}_miou': scores['miou'],
        }
        for name, iou in scores['per_class_iou'].items():
            if not math.isnan(iou):
                values[f'{split}_{output}_iou_{name}'] = iou
        self.log_dict(values, sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        """Log validation q / r scores."""
        for output in ('q', 'r'):
            self._log_scores('val', output, self._scores('val', output))
        self._confusion('val_prior').reset()

    def on_test_epoch_start(self) -> None:
        """With whole-tile posteriors, sum q over every test tile first.

        This is the first of the paper's two evaluation passes (REFERENCE §1.6):
        the class totals of each tile, then ``r`` with those totals.
        """
        self._tile_log_mass = None
        if self.hparams['posterior_totals'] != 'tile' or self.model is None:
            return
        loaders = self.trainer.test_dataloaders
        if loaders is None:
            return
        loader_list = loaders if isinstance(loaders, list | tuple) else [loaders]
        limits = self.trainer.num_test_batches
        sums: Tensor | None = None
        was_training = self.training
        self.eval()
        with torch.no_grad():
            for loader, limit in zip(loader_list, limits, strict=False):
                batches: Iterable[Any] = loader
                if limit is not None and not math.isinf(limit):
                    batches = itertools.islice(loader, int(limit))
                for batch in batches:
                    batch = self._to_device(batch)
                    if 'tile' not in batch:
                        return
                    sums = self._add_tile_mass(self.outputs(batch), sums)
        self.train(was_training)
        if sums is None:
            return
        if dist.is_available() and dist.is_initialized():
            size = torch.tensor([sums.shape[0]], device=self.device)
            dist.all_reduce(size, op=dist.ReduceOp.MAX)
            sums = F.pad(sums, (0, 0, 0, int(size) - sums.shape[0]))
            dist.all_reduce(sums)
        # Only ratios within a tile matter, so mean and sum give the same r.
        self._tile_log_mass = sums.clamp_min(1e-30).log().float()

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Move a batch's tensors to this module's device.

        Args:
            batch: the batch.

        Returns:
            The moved batch.
        """
        return {
            key: value.to(self.device) if isinstance(value, Tensor) else value
            for key, value in batch.items()
        }

    def _add_tile_mass(self, outputs: dict[str, Tensor], sums: Tensor | None) -> Tensor:
        """Add a batch's q to the per-tile class totals.

        Args:
            outputs: from :meth:`outputs`.
            sums: (tiles, C) totals so far, or None.

        Returns:
            The updated totals (grown to the largest tile index seen).
        """
        tile = outputs['tile']
        keep = outputs['valid'] & (tile >= 0)
        q = outputs['log_q'].exp().permute(0, 2, 3, 1)[keep].double()
        index = tile[keep]
        tiles = int(index.max()) + 1 if index.numel() else 0
        classes = outputs['log_q'].shape[1]
        if sums is None:
            sums = q.new_zeros((tiles, classes))
        elif tiles > sums.shape[0]:
            sums = F.pad(sums, (0, 0, 0, tiles - sums.shape[0]))
        return sums.index_add_(0, index, q)

    def on_test_epoch_end(self) -> None:
        """Log test scores and keep them in :attr:`test_results`."""
        results: dict[str, Any] = {'method': self.hparams['method']}
        if self.hparams['method'] == 'lsr':
            results['loss'] = self.hparams['loss']
        for output, key in (('q', 'q'), ('r', 'r'), ('prior', 'prior_argmax')):
            scores = self._scores('test', output)
            self._log_scores('test', output, scores)
            results[key] = scores
        if self.hparams['method'] == 'hard_naive':
            results['hard_naive'] = results['q']
        self.test_results = results
        self._tile_log_mass = None

    # ------------------------------------------------------------------ figures

    def _log_figure(self, batch: dict[str, Any], outputs: dict[str, Tensor]) -> None:
        """Log a figure of the first sample: image, prior, q, r and labels.

        TensorBoard loggers get it with ``add_figure``; other loggers get a PNG in
        their log folder (``figures/val_epoch_<n>.png``).

        Args:
            batch: the (uncropped) batch.
            outputs: its cropped outputs.
        """
        logger = self.logger
        if logger is None or not self.trainer.is_global_zero:
            return
        from ..plot import plot_prediction
        from ..schemes import generic_scheme

        datamodule = getattr(self.trainer, 'datamodule', None)
        scheme = getattr(datamodule, 'scheme', None) or generic_scheme(
            range(self.hparams['num_classes']), names=self.names
        )
        b = self.border
        image = batch['image'][0, :, b : batch['image'].shape[-2] - b]
        image = image[..., b : image.shape[-1] - b]
        log_r = outputs.get('log_r')
        if log_r is None:
            log_r = self._log_r(outputs)
        target = outputs.get('target')
        fig = plot_prediction(
            image,
            outputs['prior'][0],
            outputs['log_q'][0],
            log_r[0],
            scheme,
            None if target is None else target[0],
            title=f'epoch {self.current_epoch}',
        )
        experiment = getattr(logger, 'experiment', None)
        if experiment is not None and hasattr(experiment, 'add_figure'):
            experiment.add_figure('val/prediction', fig, global_step=self.global_step)
        elif logger.log_dir:
            folder = Path(logger.log_dir) / 'figures'
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f'val_epoch_{self.current_epoch:03d}.png'
            with atomic_path(path) as temporary:
                fig.savefig(temporary, dpi=80)
        plt.close(fig)

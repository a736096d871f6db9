"""Label super-resolution as a TorchGeo task: segmentation trained from priors.

:class:`LSRSegmentation` trains a network ``q(l | x)`` against per-pixel priors with
the QR or RQ loss (or CE / NLL-union), and scores both ``q`` and the implied
posterior ``r`` against high-resolution labels, which are used for metrics only. The
paper's baselines (``prior_argmax``, ``hard_naive``, ``hr``, ``hr_aux``) run through
the same code path, chosen by ``method`` (see :mod:`~torchgeo_lsr.tasks.methods`).

Batches are those of :class:`~torchgeo_lsr.datamodules.LSRDataModule`: ``image``,
``prior``, ``valid`` (required, see :mod:`~torchgeo_lsr.tasks.batch_checks`),
optionally ``mask`` (labels, ignore index = number of classes) and ``tile`` (each
pixel's tile, required in test batches for whole-tile posteriors). A border of
``border`` pixels (by default the data module's context, else half the FCN's
receptive field) is cropped from outputs and targets before losses and metrics.
The task never opens a file.
"""

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, cast, get_args

import lightning.pytorch.utilities.types
from torch import Tensor
from torch.optim import Adam
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchgeo.tasks import BaseTask

from ..losses import Denominator, LossName, QRForm, build_loss, prior_checks
from ..models import ModelName, receptive_field
from .batch_checks import TrainingWatch, batch_validity, check_prior, checked_step
from .borders import crop_outputs
from .figures import log_validation_figure
from .methods import Method, check_method, hard_label_loss, hard_target, network_input
from .network import adopt_input_statistics, build_network
from .raster_edges import forward_inside
from .scoring import (
    OUTPUTS,
    OutputConfusions,
    OutputConsistency,
    consistency_warning,
    metric_values,
    scored_results,
)
from .tile_totals import first_pass_log_mass, log_posterior, require_tiles

__all__ = ('LSRSegmentation', 'LossName', 'Method', 'PosteriorTotals')

#: Class totals behind ``r`` at test time: the batch's, or each pixel's whole tile.
PosteriorTotals = Literal['batch', 'tile']


class LSRSegmentation(BaseTask):
    """Segmentation from priors (QR / RQ) with q and r metrics, and its baselines.

    Besides the Lightning hooks, the public API is :meth:`outputs` (the cropped
    network outputs of a batch, what :mod:`torchgeo_lsr.export` and the demo call),
    :meth:`adopt_data` (take the data module's classes, context and input
    statistics outside a trainer), :meth:`smooth_prior`, :attr:`border`,
    :attr:`names` and :attr:`test_results`.
    """

    ignore = ('weights',)

    def __init__(
        self,
        model: ModelName = 'pixel_mlp',
        backbone: str = 'resnet18',
        weights: str | bool | None = None,
        in_channels: int = 4,
        num_classes: int = 5,
        num_filters: int = 32,
        method: Method = 'lsr',
        loss: LossName = 'qr',
        qr_form: QRForm = 'free_energy',
        denominator: Denominator = 'batch',
        momentum: float = 0.9,
        output_smoothing: float | None = None,
        prior_smoothing: float = 1e-4,
        normalize_input: bool = True,
        border: int | None = None,
        warmup_steps: int = 30,
        init_checkpoint: str | None = None,
        class_names: Sequence[str] | None = None,
        posterior_totals: PosteriorTotals = 'tile',
        lr: float = 3e-3,
        patience: int = 4,
        plot_every_n_epochs: int = 1,
    ) -> None:
        """Initialise the task.

        Args:
            model: ``'pixel_mlp'`` (the default recipe's per-pixel network, see
                :mod:`torchgeo_lsr.models.pixel_mlp`), ``'fcn'`` (the paper's
                network) or another model name TorchGeo's
                segmentation task builds (``'unet'``, ``'deeplabv3+'``, ...).
            backbone: encoder of the non-FCN models.
            weights: encoder weights as TorchGeo takes them (non-FCN models).
            in_channels: imagery bands (``'hr_aux'`` adds the prior's channels).
            num_classes: classes of the prior and the labels; the labels' ignore
                index is ``num_classes``.
            num_filters: filters per layer of the FCN (the paper: 128) or units
                per layer of the per-pixel network (the recipe: 32).
            method: ``'lsr'``, ``'prior_argmax'``, ``'hard_naive'``, ``'hr'`` or
                ``'hr_aux'``.
            loss: loss on the prior for ``'lsr'``: ``'qr'``, ``'rq'``, ``'ce'`` or
                ``'nll_union'``.
            qr_form: ``'free_energy'`` (the land-cover results) or ``'kl'``.
            denominator: class totals of QR/RQ: ``'batch'`` or ``'ema'``.
            momentum: weight of the running totals for ``'ema'``.
            output_smoothing: ε of ``q = (softmax + ε) / (1 + C ε)`` (default:
                0.01 for learning from priors, the recipe's floor; 1e-8 for hard
                labels, the paper's; the paper's configs set its 1e-4).
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
                takes over (the paper's advice for QR/RQ from a random start; the
                recipe: 30).
            init_checkpoint: a checkpoint of this task (or of TorchGeo's
                segmentation task, or a state dict) whose network weights to start
                from, e.g. an ``'hr'`` model trained in another city.
            class_names: class names for metrics (default: the data module's
                scheme, else ``class_0``, ...).
            posterior_totals: class totals of ``r`` in testing: ``'tile'`` (each
                pixel's whole tile, as the paper evaluated; one extra pass over the
                test data) or ``'batch'``.
            lr: learning rate of Adam (the paper's optimiser; the paper's FCN
                used 1e-4, the recipe's per-pixel network 3e-3).
            patience: epochs without improvement of the validation loss before the
                learning rate is divided by ten.
            plot_every_n_epochs: a validation figure every this many epochs (0:
                never).

        Raises:
            ValueError: On inconsistent options.
        """
        check_method(method)
        if loss not in get_args(LossName):
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
        self._watch = TrainingWatch()

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
        self.model = build_network(self.hparams, self.weights)

    def configure_losses(self) -> None:
        """Build the loss on the prior (and the warm-up loss)."""
        hp = self.hparams
        self.criterion = build_loss(
            hp['loss'],
            qr_form=hp['qr_form'],
            denominator=hp['denominator'],
            momentum=hp['momentum'],
        )
        self.warmup_criterion = build_loss('ce')

    def configure_metrics(self) -> None:
        """Confusion matrices of q, r and the prior's argmax per split."""
        self.confusion = OutputConfusions(
            self.hparams['num_classes'], self.ignore_index
        )
        self.consistency = OutputConsistency(self.hparams['num_classes'])

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
                f' but the model has num_classes={self.hparams["num_classes"]}: set '
                f'model.init_args.num_classes to {scheme.num_classes}, or give data of '
                f'{self.hparams["num_classes"]} classes'
            )
        if not self.class_names and scheme is not None:
            self.class_names = list(scheme.names)
        self._data_context = getattr(datamodule, 'context', None)
        if self.hparams['normalize_input'] and self.model is not None:
            adopt_input_statistics(self.model, datamodule)

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

    def _network_log_q(self, batch: dict[str, Any], raw_prior: Tensor) -> Tensor:
        """``log q`` of the network on a batch (uncropped).

        Outside training, the network runs on the part of each sample inside the
        rasters (see :func:`~torchgeo_lsr.tasks.raster_edges.forward_inside`).

        Args:
            batch: the batch.
            raw_prior: its prior as read (the input of ``'hr_aux'``).

        Returns:
            (B, C, H, W) log-probabilities.

        Raises:
            ValueError: If the imagery's bands do not match the model.
        """
        image = batch['image'].float()
        if image.shape[1] != self.hparams['in_channels']:
            raise ValueError(
                f'the imagery has {image.shape[1]} bands but the model has '
                f'in_channels={self.hparams["in_channels"]}: set '
                f'--model.init_args.in_channels {image.shape[1]}'
            )
        x = network_input(self.hparams['method'], image, raw_prior)
        tile = batch.get('tile')
        if tile is None or self.training:
            return cast(Tensor, self(x))
        return forward_inside(self, x, tile >= 0, int(self.hparams['num_classes']))

    def outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Run the network on a batch and crop the border from everything.

        Public API: the one way to get the task's outputs of a batch (used by the
        steps, by :mod:`torchgeo_lsr.export` and by the demo). Call it under
        ``torch.no_grad()`` and after ``eval()`` for inference.

        Args:
            batch: a batch with ``image``, ``prior`` and ``valid`` (and
                optionally ``mask``, ``tile``).

        Returns:
            Cropped float32 ``log_q`` (also under autocast), ``prior`` (smoothed),
            ``valid``, ``target`` (labels with invalid pixels ignored; absent
            without labels) and ``tile`` (absent without tiles).

        Raises:
            ValueError: If the image or prior does not match the model, the
                samples are too small for the border, the batch has no ``valid``
                or its prior is unusable at a valid pixel.
        """
        raw_prior = batch['prior'].float()
        classes = self.hparams['num_classes']
        if raw_prior.shape[1] != classes:
            raise ValueError(
                f'the prior has {raw_prior.shape[1]} classes but the model has '
                f'num_classes={classes}'
            )
        check_prior(raw_prior, batch_validity(batch))
        prior = self.smooth_prior(raw_prior)
        if self.model is None:
            log_q = prior.log()
        else:
            log_q = self._network_log_q(batch, raw_prior).float()
        return crop_outputs(batch, log_q, prior, self.border, self.ignore_index)

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
        target = hard_target(method, outputs, self.ignore_index)
        return hard_label_loss(log_q, target, self.ignore_index)

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

        Raises:
            ValueError: If too many batches in a row had no valid pixel.
        """
        if self.model is None:
            return None
        with prior_checks(checked_step(self.global_step)):
            outputs = self.outputs(batch)
            loss = self._loss(outputs)
        self._watch.update(outputs['valid'], loss)
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
        # r with the whole-tile totals of the first pass, or the batch's.
        whole_tile = self._tile_log_mass if totals == 'tile' else None
        log_r = log_posterior(outputs, whole_tile)
        predictions = {
            'q': outputs['log_q'].argmax(1),
            'r': log_r.argmax(1),
            'prior': outputs['prior'].argmax(1),
        }
        self.consistency.count(split, outputs['prior'], outputs['valid'], predictions)
        if 'target' in outputs:
            self.confusion.count(split, outputs['target'], predictions)
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
            log_validation_figure(self, batch, self._last_outputs)

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Compute the test loss and update q / r / prior-argmax metrics.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.

        Raises:
            ValueError: If whole-tile posteriors are wanted and the batch has no
                ``tile``.
        """
        if self.hparams['posterior_totals'] == 'tile':
            require_tiles(batch)
        self._evaluate(batch, 'test', self.hparams['posterior_totals'])

    def predict_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor | None]:
        """Probabilities of q and r (batch totals) for a batch, with georeference.

        Whole-raster maps with whole-tile posteriors come from
        :mod:`torchgeo_lsr.export`, which calls :meth:`outputs` block by block.

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
            'r': log_posterior(outputs, None).exp(),
            'valid': outputs['valid'],
            'bounds': batch.get('bounds'),
            'transform': batch.get('transform'),
        }

    # ----------------------------------------------------- epoch-level metrics

    def _log_scores(self, split: str, output: str) -> dict[str, Any]:
        """Log the scores of a split's output (when there were labelled pixels).

        Args:
            split: ``'val'`` or ``'test'``.
            output: ``'q'``, ``'r'`` or ``'prior'``.

        Returns:
            The scores (the counts start again from zero).
        """
        scores = self.confusion.scores(split, output, self.names)
        values = metric_values(split, output, scores)
        if values:
            self.log_dict(values, sync_dist=False)
        return scores

    def on_train_epoch_end(self) -> None:
        """Stop a run whose whole epoch had no valid pixel (nothing trained).

        Raises:
            ValueError: If no batch of the epoch had a valid pixel, or the loss
                became NaN or infinite.
        """
        self._watch.check(epoch_end=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to save a checkpoint once the loss has been NaN or infinite.

        Args:
            checkpoint: the checkpoint being saved.

        Raises:
            ValueError: If a training loss so far was not finite.
        """
        self._watch.finite.check()

    def on_validation_epoch_end(self) -> None:
        """Log validation q / r scores and the label-free consistency of each."""
        for output in ('q', 'r'):
            self._log_scores('val', output)
        self.confusion.matrix('val', 'prior').reset()
        self._log_consistency('val')

    def _log_consistency(self, split: str) -> dict[str, float]:
        """Log the label-free consistency of q, r and the prior argmax.

        Args:
            split: ``'val'`` or ``'test'``.

        Returns:
            ``{output: score}`` (the counts start again from zero).
        """
        scores = self.consistency.scores(split)
        values = {
            f'{split}_consistency_{output}': value
            for output, value in scores.items()
            if not math.isnan(value)
        }
        if values:
            self.log_dict(values, sync_dist=False)
        return scores

    def on_test_epoch_start(self) -> None:
        """With whole-tile posteriors, sum q over every test tile first.

        This is the first of the paper's two evaluation passes (REFERENCE §1.6):
        the class totals of each tile
        (:func:`~torchgeo_lsr.tasks.tile_totals.first_pass_log_mass`), then ``r``
        with those totals in :meth:`test_step`.
        """
        self._tile_log_mass = None
        if self.hparams['posterior_totals'] == 'tile':
            self._tile_log_mass = first_pass_log_mass(self)

    def on_test_epoch_end(self) -> None:
        """Log test scores and keep them in :attr:`test_results`."""
        scores = {output: self._log_scores('test', output) for output in OUTPUTS}
        self.test_results = scored_results(
            self.hparams['method'], self.hparams['loss'], scores
        )
        label_free = self._log_consistency('test')
        self.test_results['label_free'] = label_free
        warning = consistency_warning(label_free)
        if warning is not None and self.model is not None:
            warnings.warn(warning, stacklevel=1)
        self._tile_log_mass = None

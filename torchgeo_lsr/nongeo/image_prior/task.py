"""The Lightning task: fit q to one image from its prior, write the maps of q and r."""

from pathlib import Path
from typing import Any, Literal, cast, get_args

import lightning.pytorch.utilities.types
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor, nn
from torch.optim import Adam
from torchgeo.tasks import BaseTask

from ...io import atomic_path
from ...losses import QRForm, build_loss, implied_posterior
from ...metrics import ConfusionMatrix, segmentation_scores
from .io import TARGET_SMOOTHING, class_colours, colourise
from .network import PositionAwareCNN

__all__ = ('ImagePriorSegmentation', 'LossName')

#: Losses the task trains with.
LossName = Literal['rq', 'qr']

#: Outputs scored against the labels: argmax q, argmax r, the prior's argmax.
_LABEL_SCORED = ('q', 'r', 'prior')


class ImagePriorSegmentation(BaseTask):
    """Fit :class:`PositionAwareCNN` to one image and its prior with RQ or QR.

    Batches come from :class:`ImagePriorDataModule`: ``image``, ``position``,
    ``prior`` and, outside training, optionally ``mask`` (labels; unlabelled =
    ``num_classes``). Validation and test compute ``r`` over the whole image and
    log, per split:

    * ``<split>_loss``: the training loss on the whole image (border cropped);
    * ``<split>_{q,r}_agreement``: the fraction of pixels whose argmax lies in the
      prior's allowed set (the classes of highest prior at the pixel);
    * ``<split>_{q,r}_entropy``: mean entropy in nats;
    * with labels, ``<split>_{q,r,prior}_accuracy`` and ``..._miou`` (the prior's
      argmax breaks ties towards the lower class index), from confusion matrices
      pooled over the split's images (and processes) and logged at epoch end.

    Test and predict write the class maps ``<stage>_q.png`` and ``<stage>_r.png``
    (and with ``save_probabilities`` both as (C, H, W) arrays in
    ``<stage>_probabilities.npz``) into ``out_dir``.
    """

    #: Output options, not hyper-parameters: kept out of checkpoints so that
    #: ``test`` / ``predict`` take them from the command line (LightningCLI lets a
    #: checkpoint's hyper-parameters override it).
    ignore = ('out_dir', 'save_probabilities')

    def __init__(
        self,
        num_classes: int = 3,
        loss: LossName = 'rq',
        qr_form: QRForm = 'free_energy',
        lr: float = 5e-4,
        border: int = 5,
        filters: int = 32,
        target_smoothing: float = TARGET_SMOOTHING,
        out_dir: str | None = None,
        save_probabilities: bool = False,
    ) -> None:
        """Initialise the task.

        Args:
            num_classes: classes, the channels of the prior.
            loss: ``'rq'`` (the paper's notebook) or ``'qr'``.
            qr_form: form of QR: ``'free_energy'`` (the notebook's) or ``'kl'``.
            lr: learning rate of Adam (the paper: 5e-4).
            border: pixels cropped from each side before the loss (the paper: 5,
                half the receptive field).
            filters: channels of the network's image branch (the paper: 32).
            target_smoothing: ε added to the prior (and renormalised) for the
                training target (the paper: 1e-6).
            out_dir: folder for the class maps of test and predict (None: none
                are written).
            save_probabilities: also write the probabilities of q and r.

        Raises:
            ValueError: On invalid options.
        """
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        if loss not in get_args(LossName):
            raise ValueError(f'loss must be one of {get_args(LossName)}, got {loss!r}')
        if qr_form not in get_args(QRForm):
            raise ValueError(
                f'qr_form must be one of {get_args(QRForm)}, got {qr_form!r}'
            )
        if border < 0:
            raise ValueError(f'border must be >= 0, got {border}')
        if lr <= 0:
            raise ValueError(f'lr must be > 0, got {lr}')
        if target_smoothing < 0:
            raise ValueError(f'target_smoothing must be >= 0, got {target_smoothing}')
        self.out_dir = out_dir
        self.save_probabilities = save_probabilities
        super().__init__()

    # ----------------------------------------------------------------- set-up

    def configure_models(self) -> None:
        """Build the network."""
        hp = self.hparams
        self.model = PositionAwareCNN(
            in_channels=3, num_classes=hp['num_classes'], filters=hp['filters']
        )

    def configure_losses(self) -> None:
        """Build the loss on the prior."""
        hp = self.hparams
        self.criterion = build_loss(hp['loss'], qr_form=hp['qr_form'])

    def configure_metrics(self) -> None:
        """Set up the scores.

        Agreement, entropy and loss are computed per step (the whole image is one
        sample); accuracy and mIoU come from a confusion matrix per split and
        output (q, r, the prior's argmax) over labelled pixels. The last scores of
        each split are kept in :attr:`scores`, and the paths of written maps in
        :attr:`written`.
        """
        classes = int(self.hparams['num_classes'])
        self.confusion = nn.ModuleDict(
            {
                f'{split}_{output}': ConfusionMatrix(classes)
                for split in ('val', 'test')
                for output in _LABEL_SCORED
            }
        )
        self.scores: dict[str, float] = {}
        self.written: list[Path] = []

    def configure_optimizers(
        self,
    ) -> 'lightning.pytorch.utilities.types.OptimizerLRScheduler':
        """Adam with a constant learning rate (the paper's notebook).

        Returns:
            The optimiser.
        """
        return Adam(self.model.parameters(), lr=self.hparams['lr'])

    def setup(self, stage: str) -> None:
        """Check the data module's classes against ``num_classes``.

        Args:
            stage: the Lightning stage.

        Raises:
            ValueError: If the prior has a different number of classes.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        classes = getattr(datamodule, 'num_classes', None)
        if classes is not None:
            source = getattr(datamodule, 'prior', 'the data module')
            self._check_classes(int(classes), f'the prior {source}')

    def _check_classes(self, classes: int, source: str) -> None:
        """Reject a prior whose channel count is not ``num_classes``.

        Args:
            classes: channels of the prior.
            source: what has them, for the message.

        Raises:
            ValueError: If they differ.
        """
        expected = int(self.hparams['num_classes'])
        if classes != expected:
            raise ValueError(
                f'{source} has {classes} channels (classes) but the model has '
                f'num_classes={expected}: set --model.init_args.num_classes '
                f'{classes} or use a prior with {expected} channels'
            )

    # ------------------------------------------------------------- the network

    def forward(self, image: Tensor, position: Tensor) -> Tensor:
        """Log-probabilities ``log q`` of the network.

        Args:
            image: (B, 3, H, W) image in [0, 1].
            position: (B, 2, H, W) positions in [0, 1].

        Returns:
            (B, C, H, W) log-probabilities.
        """
        log_q: Tensor = self.model(image, position)
        return log_q

    def _log_q(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Check a batch and run the network on it.

        Args:
            batch: ``image``, ``position`` and ``prior``.

        Returns:
            ``log q`` and the prior (float), both (B, C, H, W).

        Raises:
            ValueError: If the shapes do not fit each other or the model.
        """
        image, position = batch['image'].float(), batch['position'].float()
        prior = batch['prior'].float()
        self._check_classes(prior.shape[1], 'the prior')
        if image.shape[1] != 3:
            raise ValueError(f'the image has {image.shape[1]} channels, not 3 (RGB)')
        shapes = {tuple(t.shape[-2:]) for t in (image, position, prior)}
        if len(shapes) != 1 or position.shape[1] != 2:
            raise ValueError(
                f'image {tuple(image.shape)}, position {tuple(position.shape)} and '
                f'prior {tuple(prior.shape)} do not fit together'
            )
        return self(image, position), prior

    def _crop(self, tensor: Tensor) -> Tensor:
        """Crop ``border`` pixels from each side.

        Args:
            tensor: (..., H, W) tensor.

        Returns:
            The inside.

        Raises:
            ValueError: If the sample is too small for the border.
        """
        b = int(self.hparams['border'])
        height, width = tensor.shape[-2:]
        if 2 * b >= min(height, width):
            raise ValueError(
                f'samples of {height}x{width} px are too small to crop a border of '
                f'{b} px'
            )
        return tensor[..., b : height - b, b : width - b]

    def target(self, prior: Tensor) -> Tensor:
        """The training target: the prior plus ``target_smoothing``, renormalised.

        Args:
            prior: (B, C, H, W) prior.

        Returns:
            The target.
        """
        eps = float(self.hparams['target_smoothing'])
        smoothed = prior / prior.sum(1, keepdim=True) + eps
        return smoothed / smoothed.sum(1, keepdim=True)

    def _loss(self, log_q: Tensor, prior: Tensor) -> Tensor:
        """The loss on the inside of the samples.

        Args:
            log_q: (B, C, H, W) log-probabilities.
            prior: (B, C, H, W) prior.

        Returns:
            The mean loss.
        """
        loss: Tensor = self.criterion(self._crop(log_q), self._crop(self.target(prior)))
        return loss

    @staticmethod
    def implied_posterior(log_q: Tensor, prior: Tensor) -> Tensor:
        """``log r`` of each image, with the class totals over that whole image.

        Args:
            log_q: (B, C, H, W) log-probabilities of whole images.
            prior: (B, C, H, W) prior.

        Returns:
            (B, C, H, W) log-probabilities of r.
        """
        with torch.no_grad():
            # One image at a time: each image is its own collection (eq. 3).
            return torch.cat(
                [
                    implied_posterior(log_q[i : i + 1].detach(), prior[i : i + 1])
                    for i in range(log_q.shape[0])
                ]
            )

    # ------------------------------------------------------------------ scores

    def _split_confusion(self, split: str, output: str) -> ConfusionMatrix:
        """The confusion matrix of an output (q, r or prior) in a split."""
        return cast(ConfusionMatrix, self.confusion[f'{split}_{output}'])

    @staticmethod
    def _prior_scores(log_q: Tensor, log_r: Tensor, prior: Tensor) -> dict[str, float]:
        """Agreement of argmax q and r with the prior, and their entropies.

        Args:
            log_q: (B, C, H, W) log q.
            log_r: (B, C, H, W) log r.
            prior: (B, C, H, W) prior.

        Returns:
            ``{q,r}_agreement`` and ``{q,r}_entropy``.
        """
        # The allowed classes are those of highest prior: after the +0.2 smoothing
        # every drawn class shares the maximum, every other one lies far below.
        allowed = prior >= prior.amax(1, keepdim=True) * (1 - 1e-4)
        scores: dict[str, float] = {}
        for name, log_p in (('q', log_q), ('r', log_r)):
            chosen = log_p.argmax(1, keepdim=True)
            scores[f'{name}_agreement'] = float(
                allowed.gather(1, chosen).float().mean()
            )
            entropy = -(log_p.exp() * log_p).sum(1)
            scores[f'{name}_entropy'] = float(entropy.mean())
        return scores

    def _count_labelled(
        self, split: str, outputs: dict[str, Tensor], labels: Tensor
    ) -> None:
        """Add the labelled pixels' predictions to the split's confusion matrices.

        Args:
            split: ``'val'`` or ``'test'``.
            outputs: (B, C, H, W) ``q``, ``r`` and ``prior`` (argmax is taken).
            labels: (B, H, W) labels (``num_classes`` = unlabelled).
        """
        labelled = labels < int(self.hparams['num_classes'])
        target = labels[labelled]
        for name in _LABEL_SCORED:
            predicted = outputs[name].argmax(1)[labelled]
            self._split_confusion(split, name).update(predicted, target)

    def _log_label_scores(self, split: str) -> None:
        """Log (and keep) the split's accuracy and mIoU, then reset the counts.

        Nothing is logged for outputs without labelled pixels (no label image).

        Args:
            split: ``'val'`` or ``'test'``.
        """
        named: dict[str, float] = {}
        for name in _LABEL_SCORED:
            metric = self._split_confusion(split, name)
            if not metric.update_called:
                continue  # no label image: nothing counted, nothing to score
            # On the CPU before the float64 scoring: Apple MPS has no float64.
            scores = segmentation_scores(metric.compute().cpu())
            metric.reset()
            if scores['pixels']:
                named[f'{split}_{name}_accuracy'] = scores['accuracy']
                named[f'{split}_{name}_miou'] = scores['miou']
        self.scores.update(named)
        # The counts are pooled over processes already: nothing left to reduce.
        self.log_dict(named, sync_dist=False)

    def _evaluate(self, batch: dict[str, Tensor], split: str) -> tuple[Tensor, Tensor]:
        """Loss and scores of whole images; log them.

        Args:
            batch: whole images with ``image``, ``position``, ``prior`` and
                optionally ``mask``.
            split: ``'val'`` or ``'test'``.

        Returns:
            ``log q`` and ``log r``.
        """
        log_q, prior = self._log_q(batch)
        loss = self._loss(log_q, prior)
        log_r = self.implied_posterior(log_q, prior)
        scores = {'loss': float(loss)}
        scores.update(self._prior_scores(log_q, log_r, prior))
        named = {f'{split}_{key}': value for key, value in scores.items()}
        self.scores.update(named)
        self.log_dict(named, batch_size=log_q.shape[0])
        labels = batch.get('mask')
        if labels is not None:
            outputs = {'q': log_q, 'r': log_r, 'prior': prior}
            self._count_labelled(split, outputs, labels)
        return log_q, log_r

    def on_validation_epoch_end(self) -> None:
        """Log the validation accuracy and mIoU."""
        self._log_label_scores('val')

    def on_test_epoch_end(self) -> None:
        """Log the test accuracy and mIoU."""
        self._log_label_scores('test')

    # ------------------------------------------------------------------- steps

    def training_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> Tensor:
        """Compute the loss of a batch of patches.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.

        Returns:
            The loss.
        """
        log_q, prior = self._log_q(batch)
        loss = self._loss(log_q, prior)
        self.log('train_loss', loss, batch_size=log_q.shape[0], prog_bar=True)
        return loss

    def validation_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Score the whole image.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.
        """
        self._evaluate(batch, 'val')

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Score the whole image and write its class maps.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.
        """
        log_q, log_r = self._evaluate(batch, 'test')
        self._write_maps('test', batch_idx, log_q, log_r)

    def predict_step(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """Probabilities and class maps of q and r for whole images.

        Args:
            batch: the batch.
            batch_idx: its index.
            dataloader_idx: index of the data loader.

        Returns:
            ``q`` and ``r`` (B, C, H, W) probabilities and their class maps
            ``q_classes`` and ``r_classes`` (B, H, W).
        """
        log_q, prior = self._log_q(batch)
        log_r = self.implied_posterior(log_q, prior)
        self._write_maps('predict', batch_idx, log_q, log_r)
        return {
            'q': log_q.exp(),
            'r': log_r.exp(),
            'q_classes': log_q.argmax(1),
            'r_classes': log_r.argmax(1),
        }

    # ---------------------------------------------------------------- outputs

    def _write_maps(
        self, stage: str, batch_idx: int, log_q: Tensor, log_r: Tensor
    ) -> None:
        """Write class maps (and probabilities) of q and r to ``out_dir``.

        Args:
            stage: ``'test'`` or ``'predict'`` (the files' prefix).
            batch_idx: index of the batch (named in the files after the first).
            log_q: (B, C, H, W) log q.
            log_r: (B, C, H, W) log r.
        """
        out_dir = self.out_dir
        if out_dir is None or (self._trainer and not self.trainer.is_global_zero):
            return
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        colours = class_colours(int(self.hparams['num_classes']))
        for i in range(log_q.shape[0]):
            # The data module has one image; any further ones get numbered names.
            stem = stage if batch_idx == 0 and i == 0 else f'{stage}_{batch_idx}_{i}'
            for name, log_p in (('q', log_q[i]), ('r', log_r[i])):
                path = folder / f'{stem}_{name}.png'
                with atomic_path(path) as temporary:
                    picture = Image.fromarray(colourise(log_p.argmax(0), colours))
                    picture.save(temporary, format='PNG')
                self.written.append(path)
            if self.save_probabilities:
                path = folder / f'{stem}_probabilities.npz'
                with atomic_path(path) as temporary:
                    np.savez_compressed(
                        temporary,
                        q=log_q[i].exp().float().cpu().numpy(),
                        r=log_r[i].exp().float().cpu().numpy(),
                    )
                self.written.append(path)
        rank_zero_info(f'Wrote the class maps of q and r ({stage}_*) to {folder}')

    @property
    def num_parameters(self) -> int:
        """Trainable parameters of the network."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

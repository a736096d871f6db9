"""Segmentation networks for LSR: built by TorchGeo, with the paper's output smoothing.

:func:`build_segmentation_model` builds any model TorchGeo's own segmentation task
builds (the paper's five-layer FCN, U-Net, DeepLabV3+, ... through
segmentation-models-pytorch and timm), by asking TorchGeo for it, so names,
backbones and weights mean exactly what they mean there.

:class:`SmoothedLogSoftmax` turns its logits into the smoothed log-probabilities the
losses take (REFERENCE §1.5): ``q = (softmax + ε) / (1 + C ε)``, at training and at
test time, which keeps ``log q`` finite and stops a class from collapsing to zero.
It can also standardise the imagery bands with statistics it keeps as buffers.
"""

import math
from types import SimpleNamespace
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn
from torchgeo.tasks import SemanticSegmentation

from .pixel_mlp import PixelMLP
from .prior_net import PRIOR_NET_RECEPTIVE_FIELD, PriorNet

__all__ = (
    'ModelName',
    'SmoothedLogSoftmax',
    'build_segmentation_model',
    'receptive_field',
    'size_multiple',
)

#: Our per-pixel network, the prior network, and the models TorchGeo's segmentation
#: task builds.
ModelName = Literal[
    'pixel_mlp', 'fcn', 'prior_net', 'unet', 'deeplabv3+', 'upernet', 'segformer', 'dpt'
]


def build_segmentation_model(
    model: ModelName,
    in_channels: int,
    num_classes: int,
    *,
    backbone: str = 'resnet18',
    weights: str | bool | None = None,
    num_filters: int = 128,
) -> nn.Module:
    """Build a segmentation network that outputs logits, as TorchGeo builds it.

    Args:
        model: ``'pixel_mlp'`` (the default recipe's per-pixel network,
            :class:`~torchgeo_lsr.models.PixelMLP`), ``'fcn'`` (the paper's network: five 3x3 convolutions with
            ``num_filters`` filters and leaky ReLUs, then a 1x1 convolution),
            ``'prior_net'`` (the learned prior network,
            :class:`~torchgeo_lsr.models.PriorNet`) or any other model name of
            :class:`torchgeo.tasks.SemanticSegmentation`.
        in_channels: input channels.
        num_classes: output classes.
        backbone: encoder of the segmentation-models-pytorch models.
        weights: encoder weights as TorchGeo takes them (True: ImageNet; a weight
            name or a checkpoint path); not for ``'fcn'``.
        num_filters: filters per layer of ``'fcn'`` (units of ``'pixel_mlp'``).

    Returns:
        The network (logits of shape (B, num_classes, H, W)).

    Raises:
        ValueError: If ``weights`` are given for the FCN or the per-pixel network.
    """
    if model == 'pixel_mlp':
        if weights:
            raise ValueError(
                'the per-pixel network has no pretrained weights: start from a '
                'checkpoint instead (init_checkpoint)'
            )
        return PixelMLP(in_channels, num_classes, num_filters)
    if model == 'prior_net':
        if weights:
            raise ValueError('the prior network has no pretrained weights')
        return PriorNet(in_channels, num_classes, num_filters)
    if model == 'fcn' and weights:
        raise ValueError(
            'the FCN has no pretrained weights: start from a checkpoint instead '
            '(init_checkpoint)'
        )
    # TorchGeo's own model construction, run on a stand-in for the task: creating a
    # SemanticSegmentation inside another task's __init__ would confuse Lightning's
    # save_hyperparameters, which reads the calling frames.
    stand_in = SimpleNamespace(
        weights=weights,
        hparams={
            'model': model,
            'backbone': backbone,
            'in_channels': in_channels,
            'num_classes': num_classes,
            'num_labels': None,
            'num_filters': num_filters,
            'freeze_backbone': False,
            'freeze_decoder': False,
        },
    )
    SemanticSegmentation.configure_models(cast(Any, stand_in))
    network: nn.Module = stand_in.model
    return network


def size_multiple(model: str) -> int:
    """Input sides a network needs to be divisible by.

    Args:
        model: a model name of :func:`build_segmentation_model`.

    Returns:
        1 for the FCNs, 32 for the encoder-decoder models (five halvings).
    """
    return 1 if model in ('pixel_mlp', 'fcn', 'prior_net') else 32


def receptive_field(model: str) -> int | None:
    """Side of a network's receptive field in pixels, where it is small and known.

    Args:
        model: a model name of :func:`build_segmentation_model`.

    Returns:
        1 for the per-pixel network, 11 for the paper's FCN (five 3x3
        convolutions), 21 for the prior network,
        None for the encoder-decoder models (their receptive field spans most of a
        patch).
    """
    if model == 'prior_net':
        return PRIOR_NET_RECEPTIVE_FIELD
    if model == 'pixel_mlp':
        return 1
    return 11 if model == 'fcn' else None


class SmoothedLogSoftmax(nn.Module):
    """Imagery -> standardised bands -> network -> ``log((softmax + ε) / (1 + C ε))``.

    The per-band statistics are buffers (saved with the weights, so a checkpoint
    normalises new imagery exactly as its training imagery); while they are empty,
    bands pass unchanged. Channels beyond them (e.g. a prior given as extra input)
    are never normalised. Pixels whose bands are all zero (nodata, outside the
    raster) stay zero.
    """

    input_mean: Tensor
    input_std: Tensor

    def __init__(
        self, network: nn.Module, eps: float = 1e-4, multiple: int = 1
    ) -> None:
        """Wrap a network.

        Args:
            network: outputs logits (B, C, H, W).
            eps: output smoothing ε >= 0 (the paper: 1e-4 for QR/RQ, 1e-8 for
                models trained on hard labels).
            multiple: the network needs sides divisible by this (32 for the
                encoder-decoder models); other inputs are zero-padded at the
                bottom and right and the output cropped back.

        Raises:
            ValueError: If ``eps`` is negative.
        """
        super().__init__()
        if eps < 0:
            raise ValueError(f'output smoothing must be >= 0, got {eps}')
        self.network = network
        self.eps = eps
        self.multiple = multiple
        self.register_buffer('input_mean', torch.empty(0))
        self.register_buffer('input_std', torch.empty(0))

    def set_input_statistics(self, mean: Tensor, std: Tensor) -> None:
        """Standardise the first ``len(mean)`` input channels from now on.

        Args:
            mean: per-band mean.
            std: per-band standard deviation (> 0).

        Raises:
            ValueError: If the shapes differ or a deviation is not positive.
        """
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean.shape != std.shape:
            raise ValueError(f'{mean.numel()} means but {std.numel()} deviations')
        if not (torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError(f'band deviations must be positive, got {std.tolist()}')
        device = self.input_mean.device
        self.input_mean = mean.to(device)
        self.input_std = std.to(device)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        """Let empty statistics take the saved shape."""
        for name in ('input_mean', 'input_std'):
            key = prefix + name
            if key in state_dict and getattr(self, name).numel() == 0:
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """Smoothed log-probabilities.

        Args:
            x: input (B, in_channels, H, W).

        Returns:
            (B, C, H, W) log-probabilities that sum to one over classes.
        """
        bands = self.input_mean.numel()
        if bands:
            view = (1, bands, 1, 1)
            raw = x[:, :bands]
            standard = (raw - self.input_mean.view(view)) / self.input_std.view(view)
            # Nodata and the outside of a raster read as all-zero bands; they stay
            # zero, as the convolutions' own padding, so a window's edge and a
            # raster's edge look the same to the network.
            standard = standard.masked_fill((raw == 0).all(1, keepdim=True), 0.0)
            x = (
                torch.cat([standard, x[:, bands:]], 1)
                if x.shape[1] > bands
                else standard
            )
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h))
        logits = self.network(x)[..., :height, :width]
        log_p = torch.log_softmax(logits, dim=1)
        if self.eps == 0:
            return log_p
        num_classes = log_p.shape[1]
        smoothed = torch.logaddexp(log_p, torch.full_like(log_p, math.log(self.eps)))
        return smoothed - math.log1p(num_classes * self.eps)

    def extra_repr(self) -> str:
        """Options shown by ``repr``."""
        return f'eps={self.eps}, standardised bands={self.input_mean.numel()}'

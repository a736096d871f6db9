"""The segmentation task's network: built from its options, started from saved weights.

:func:`build_network` makes the network of
:class:`~torchgeo_lsr.tasks.LSRSegmentation`'s hyper-parameters: the segmentation
model wrapped in :class:`~torchgeo_lsr.models.SmoothedLogSoftmax` (input
standardisation and the paper's output smoothing), started from
``init_checkpoint``. Three kinds of file hold a network's weights: a checkpoint of
the task (the network and its input statistics, under ``model.``), a checkpoint of
TorchGeo's segmentation task (the network under ``model.``) and a plain state dict
of the network.
"""

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..models import SmoothedLogSoftmax, build_segmentation_model, size_multiple
from .methods import default_output_smoothing, network_in_channels

__all__ = ('adopt_input_statistics', 'build_network', 'load_network_weights')


def build_network(
    hparams: Mapping[str, Any], weights: str | bool | None = None
) -> SmoothedLogSoftmax | None:
    """The network of the task's hyper-parameters.

    Args:
        hparams: the task's hyper-parameters (``method``, ``model``, ``backbone``,
            ``in_channels``, ``num_classes``, ``num_filters``,
            ``output_smoothing``, ``init_checkpoint``).
        weights: encoder weights as TorchGeo takes them (non-FCN models).

    Returns:
        The network, or None for ``'prior_argmax'`` (no network).

    Raises:
        FileNotFoundError: If ``init_checkpoint`` does not exist.
        ValueError: If ``init_checkpoint`` does not fit the network.
    """
    method = hparams['method']
    if method == 'prior_argmax':
        return None
    smoothing = hparams['output_smoothing']
    if smoothing is None:
        smoothing = default_output_smoothing(method)
    network = build_segmentation_model(
        hparams['model'],
        network_in_channels(method, hparams['in_channels'], hparams['num_classes']),
        hparams['num_classes'],
        backbone=hparams['backbone'],
        weights=weights,
        num_filters=hparams['num_filters'],
    )
    model = SmoothedLogSoftmax(
        network, smoothing, multiple=size_multiple(hparams['model'])
    )
    if hparams['init_checkpoint']:
        load_network_weights(model, hparams['init_checkpoint'], hparams['model'])
    return model


def _strip(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of a state dict under a prefix, without it."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_network_weights(model: SmoothedLogSoftmax, path: str, model_name: str) -> None:
    """Load the network weights of a checkpoint or state dict into a model.

    Args:
        model: the task's network (with its input statistics).
        path: a Lightning checkpoint of this package's segmentation task or of
            TorchGeo's, or a saved state dict of the network.
        model_name: the task's ``model`` option, for the message.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the weights do not fit the network.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'init_checkpoint {path} does not exist')
    saved = torch.load(path, map_location='cpu', weights_only=True)
    state = saved.get('state_dict', saved)
    try:
        if any(key.startswith('model.network.') for key in state):
            # Ours: the network and its input statistics.
            model.load_state_dict(_strip(state, 'model.'))
        elif any(key.startswith('model.') for key in state):
            # TorchGeo's segmentation task.
            model.network.load_state_dict(_strip(state, 'model.'))
        else:
            model.network.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f'init_checkpoint {path} does not fit this network '
            f'({model_name}, {model.network.__class__.__name__}): '
            f'{str(error).splitlines()[0]} (check model, num_filters, '
            'in_channels and num_classes)'
        ) from None


def adopt_input_statistics(model: SmoothedLogSoftmax, datamodule: Any) -> None:
    """Standardise the bands with the data module's statistics, unless known.

    A network from a checkpoint keeps the statistics of its training imagery.

    Args:
        model: the network.
        datamodule: the data module (its ``image_statistics()``).

    Raises:
        ValueError: If the statistics are needed and the data module cannot give
            them.
    """
    if model.input_mean.numel():
        return
    statistics = getattr(datamodule, 'image_statistics', None)
    if statistics is None:
        raise ValueError(
            'normalize_input needs a data module with image_statistics() '
            '(e.g. LSRDataModule), or set normalize_input to false'
        )
    mean, std = statistics()
    model.set_input_statistics(mean, std)

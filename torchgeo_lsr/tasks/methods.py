"""How :class:`~torchgeo_lsr.tasks.LSRSegmentation` supervises its network: LSR and the baselines.

The paper's baselines run through the task's code path; what differs between them
is here, one function per difference:

=================  ===========================================================
``'lsr'``          the network learns from the prior with a loss on priors
``'prior_argmax'`` no network: ``q`` is the prior (nothing to train)
``'hard_naive'``   cross-entropy on the prior's argmax as hard labels
``'hr'``           supervised on the high-res labels (of other tiles or regions)
``'hr_aux'``       as ``'hr'``, with the prior concatenated to the input
=================  ===========================================================
"""

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = (
    'METHODS',
    'SUPERVISED',
    'Method',
    'check_method',
    'default_output_smoothing',
    'hard_label_loss',
    'hard_target',
    'network_in_channels',
    'network_input',
)

#: How the network is supervised (see the module documentation).
Method = Literal['lsr', 'prior_argmax', 'hard_naive', 'hr', 'hr_aux']

#: Every method.
METHODS: tuple[Method, ...] = ('lsr', 'prior_argmax', 'hard_naive', 'hr', 'hr_aux')

#: Methods trained with cross-entropy on hard labels.
SUPERVISED: tuple[Method, ...] = ('hard_naive', 'hr', 'hr_aux')


def check_method(method: str) -> None:
    """Refuse an unknown method.

    Args:
        method: the method name.

    Raises:
        ValueError: If it is not one of :data:`METHODS`.
    """
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}: choose from {METHODS}')


def default_output_smoothing(method: Method) -> float:
    """The default output smoothing ε of a method.

    Args:
        method: the method.

    Returns:
        1e-8 for models trained on hard labels (the paper's), else 0.01 (learning
        from priors: the default recipe's floor on q, so that r = p q / S cannot
        erase a class the prior holds; the paper's configs set its 1e-4).
    """
    return 1e-8 if method in SUPERVISED else 0.01


def network_in_channels(method: Method, in_channels: int, num_classes: int) -> int:
    """Input channels of the network: the imagery's, plus the prior's for ``'hr_aux'``.

    Args:
        method: the method.
        in_channels: imagery bands.
        num_classes: classes of the prior.

    Returns:
        The network's input channels.
    """
    return in_channels + (num_classes if method == 'hr_aux' else 0)


def network_input(method: Method, image: Tensor, prior: Tensor) -> Tensor:
    """The network's input: the imagery, with the raw prior for ``'hr_aux'``.

    Args:
        method: the method.
        image: (B, bands, H, W) imagery.
        prior: (B, C, H, W) prior as read (before smoothing).

    Returns:
        (B, channels, H, W) input.
    """
    if method == 'hr_aux':
        return torch.cat([image, prior], 1)
    return image


def hard_target(
    method: Method, outputs: Mapping[str, Tensor], ignore_index: int
) -> Tensor:
    """The hard labels a supervised method trains on.

    Args:
        method: ``'hard_naive'`` (the prior's argmax), ``'hr'`` or ``'hr_aux'``
            (the high-res labels).
        outputs: cropped ``prior``, ``valid`` and (with labels) ``target``.
        ignore_index: label value that is not scored.

    Returns:
        (B, H, W) class indices, ``ignore_index`` where not valid.

    Raises:
        ValueError: If a method trained on labels gets a batch without them.
    """
    if method == 'hard_naive':
        return torch.where(outputs['valid'], outputs['prior'].argmax(1), ignore_index)
    if 'target' not in outputs:
        raise ValueError(
            f'method {method!r} trains on high-res labels: give the data '
            'module label_paths and train_labels=True'
        )
    return outputs['target']


def hard_label_loss(log_q: Tensor, target: Tensor, ignore_index: int) -> Tensor:
    """Cross-entropy of ``log q`` on hard labels.

    Args:
        log_q: (B, C, H, W) log-probabilities.
        target: (B, H, W) class indices.
        ignore_index: label value left out.

    Returns:
        The mean negative log-likelihood (0, with a gradient, without labels).
    """
    if not (target != ignore_index).any():
        # NLL over no pixel is NaN; a batch without labels contributes nothing.
        return (log_q * 0).sum()
    loss: Tensor = F.nll_loss(log_q, target, ignore_index=ignore_index)
    return loss

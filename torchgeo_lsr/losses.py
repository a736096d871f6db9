"""Losses for learning from prior beliefs: QR, RQ, soft cross-entropy and NLL-union.

A network outputs log-probabilities ``log_q`` and every instance (an image, or a pixel
of a segmentation batch) comes with a prior belief ``prior`` over the same classes.
The implicit posterior model of Rolf, Malkin et al. (UAI 2022) fits ``q`` through the
implied posterior (eq. 3)::

    r_i(l) ∝ p_i(l) q_i(l) / S_l,    S_l = Σ_j q_j(l)

where the per-class total ``S_l`` runs over all valid instances of the batch (every
pixel of every patch), or over all processes under DDP, or comes from a running
estimate (:class:`QRLoss` / :class:`RQLoss` with ``denominator='ema'``).

Inputs have shape (N, C) or (B, C, H, W) (any trailing dims), classes on dim 1.
``log_q`` must hold finite, normalised log-probabilities (a log-softmax output).
Priors are renormalised over classes, so stored ``uint8`` priors can be passed as
they are; negative, NaN or infinite values, and all-zero rows at valid instances,
raise :class:`ValueError`. Pixels without data are excluded with ``mask``: they count
neither in the mean nor in ``S_l``, and never produce NaN values or gradients.

Half-precision ``log_q`` (float16, bfloat16) is computed and accumulated in float32:
class totals, counts and sums of a batch soon pass float16's range (65504) and lose
bfloat16's few digits. As with PyTorch's losses under autocast, the losses and
:func:`class_mass` then return float32; :func:`implied_posterior` returns ``log r`` in
the dtype of ``log_q``, and gradients reach ``log_q`` in its own dtype.

Which form matches TorchGeo: ``torchgeo.losses.QRLoss`` is the ``'free_energy'`` form
of :func:`qr_loss` (the form behind all published land-cover numbers) and
``torchgeo.losses.RQLoss`` is :func:`rq_loss`; both up to their ``eps`` handling
(TorchGeo adds ``eps`` inside the logs; we floor the normalised prior at ``eps`` before
its log, except in RQ, whose terms with a zero prior vanish exactly).
"""

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor, nn

from ._fused import (
    ImpliedPosteriorLoss,
    Kind,
    compute_dtype,
    prior_checks,
    prior_checks_enabled,
    prior_problems,
)

__all__ = (
    'CELoss',
    'Denominator',
    'LossName',
    'NLLUnionLoss',
    'QRForm',
    'QRLoss',
    'RQLoss',
    'build_loss',
    'ce_loss',
    'class_mass',
    'implied_posterior',
    'nll_union_loss',
    'prior_checks',
    'prior_checks_enabled',
    'qr_loss',
    'rq_loss',
)

#: Forms of the QR loss: per-instance ``KL(q || r)`` (UAI Fig. 2), or the free energy
#: ``Σ_l q̄_l log q̄_l - mean_i Σ_l q_i(l) log p_i(l)`` used for the land-cover results.
QRForm = Literal['kl', 'free_energy']

#: Where the per-class totals ``S_l`` of eq. 2 come from.
Denominator = Literal['batch', 'ema']

DEFAULT_EPS = 1e-9

#: Losses on priors: :class:`QRLoss`, :class:`RQLoss`, :class:`CELoss`,
#: :class:`NLLUnionLoss`.
LossName = Literal['qr', 'rq', 'ce', 'nll_union']


@dataclass(frozen=True)
class _Predictions:
    """Predictions with their validity mask and reduction scope."""

    log_q: Tensor
    valid: Tensor | None
    distributed: bool


@dataclass(frozen=True)
class _Inputs(_Predictions):
    """Predictions (masked instances replaced by uniform ones) and normalised prior."""

    prior: Tensor
    log_prior: Tensor


def _use_distributed(distributed: bool | None) -> bool:
    """Decide whether class totals and means are reduced across processes.

    Args:
        distributed: True, False, or None to follow ``torch.distributed``.

    Returns:
        Whether to reduce class totals and instance counts over all processes.

    Raises:
        RuntimeError: If ``distributed=True`` without an initialised process group.
    """
    initialised = dist.is_available() and dist.is_initialized()
    if distributed is None:
        return initialised and dist.get_world_size() > 1
    if distributed and not initialised:
        raise RuntimeError(
            'distributed=True needs an initialised torch.distributed process group'
        )
    return distributed


def _check_eps(eps: float) -> None:
    """Reject a prior floor outside (0, 1).

    Args:
        eps: the floor.

    Raises:
        ValueError: If ``eps`` is not in (0, 1).
    """
    if not 0 < eps < 1:
        raise ValueError(f'eps must be in (0, 1), got {eps}')


def _predictions(
    log_q: Tensor, mask: Tensor | None, distributed: bool | None
) -> _Predictions:
    """Check ``log_q`` and turn a user mask into a (B, 1, ...) boolean tensor.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        mask: None, or validity of shape (N,) / (B, H, W), optionally with a
            singleton class dim.
        distributed: see :func:`_use_distributed`.

    Returns:
        The predictions with their mask.

    Raises:
        ValueError: If the shapes are wrong.
    """
    if log_q.ndim < 2:
        raise ValueError(
            f'log_q must have shape (N, C) or (B, C, H, W), got {tuple(log_q.shape)}'
        )
    valid = None
    if mask is not None:
        instance_shape = (log_q.shape[0], *log_q.shape[2:])
        if tuple(mask.shape) == instance_shape:
            mask = mask.unsqueeze(1)
        elif tuple(mask.shape) != (log_q.shape[0], 1, *log_q.shape[2:]):
            raise ValueError(
                f'mask shape {tuple(mask.shape)} does not fit log_q shape '
                f'{tuple(log_q.shape)}: expected {instance_shape} (one per instance)'
            )
        valid = mask.to(device=log_q.device, dtype=torch.bool)
    return _Predictions(log_q, valid, _use_distributed(distributed))


def _check_prior(prior: Tensor, predictions: _Predictions) -> None:
    """Check the prior's shape and values against the predictions.

    Args:
        prior: prior beliefs.
        predictions: checked predictions.

    Raises:
        ValueError: On a shape mismatch, or a valid instance whose prior has negative,
            NaN or infinite values or sums to zero.
    """
    log_q = predictions.log_q
    if prior.shape != log_q.shape:
        raise ValueError(
            f'prior shape {tuple(prior.shape)} does not match log_q shape '
            f'{tuple(log_q.shape)} (classes on dim 1 in both)'
        )
    if not prior_checks_enabled():
        return
    dtype = compute_dtype(log_q.dtype)
    with torch.no_grad():
        bad = prior_problems(prior.to(dtype), predictions.valid)
        if bool(bad.any()):
            raise ValueError(_describe_bad_prior(prior.to(dtype), bad))


def _describe_bad_prior(prior: Tensor, bad: Tensor) -> str:
    """Explain why some prior rows were rejected (error path only).

    Args:
        prior: the prior, classes on dim 1.
        bad: boolean (B, 1, ...) marking rejected valid instances.

    Returns:
        A message naming the problems and how many instances have them.
    """
    problems = {
        'NaN values': prior.isnan().any(1, keepdim=True),
        'infinite values': prior.isinf().any(1, keepdim=True),
        'negative values': (prior < 0).any(1, keepdim=True),
        'all-zero rows': prior.sum(1, keepdim=True) == 0,
    }
    found = [
        f'{int((hit & bad).sum())} with {name}'
        for name, hit in problems.items()
        if bool((hit & bad).any())
    ]
    return (
        f'invalid prior at {int(bad.sum())} valid instance(s) ({", ".join(found)}); '
        'priors must be finite, non-negative and not all zero; '
        'exclude nodata pixels with `mask`'
    )


def _prepare(
    log_q: Tensor,
    prior: Tensor,
    mask: Tensor | None,
    eps: float,
    distributed: bool | None,
) -> _Inputs:
    """Validate inputs and normalise the prior, for losses written as autograd ops.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs of the same shape (any non-negative scale).
        mask: optional instance validity.
        eps: floor applied to the normalised prior before its log.
        distributed: see :func:`_use_distributed`.

    Returns:
        The prepared inputs, in :func:`~torchgeo_lsr._fused.compute_dtype` (float32
        for half inputs).
    """
    _check_eps(eps)
    predictions = _predictions(log_q, mask, distributed)
    _check_prior(prior, predictions)
    valid = predictions.valid
    log_q = log_q.to(compute_dtype(log_q.dtype))
    prior = prior.to(device=log_q.device, dtype=log_q.dtype)
    if valid is not None:
        # Masked instances may hold anything (even NaN); uniform placeholders keep
        # values and gradients finite.
        prior = torch.where(valid, prior, 1.0)
        log_q = torch.where(valid, log_q, -math.log(log_q.shape[1]))
    prior = prior / prior.sum(1, keepdim=True)
    return _Inputs(
        log_q=log_q,
        valid=valid,
        distributed=predictions.distributed,
        prior=prior,
        log_prior=prior.clamp_min(eps).log(),
    )


def _count(predictions: _Predictions) -> Tensor:
    """Number of valid instances (of all processes under DDP), as a float scalar.

    Args:
        predictions: checked predictions.

    Returns:
        The count, in :func:`~torchgeo_lsr._fused.compute_dtype` (float16 would
        overflow past 65504 instances).
    """
    log_q = predictions.log_q
    dtype = compute_dtype(log_q.dtype)
    if predictions.valid is None:
        count = log_q.new_tensor(log_q.numel() // log_q.shape[1], dtype=dtype)
    else:
        count = predictions.valid.sum().to(dtype)
    if predictions.distributed:
        dist.all_reduce(count)
    return count


def _class_mass(predictions: _Predictions) -> tuple[Tensor, Tensor]:
    """Per-class mean of q over valid instances, in log space, and their count.

    Args:
        predictions: checked predictions.

    Returns:
        ``log q̄`` of shape (C,) (differentiable) and the number of valid instances
        (scalar), both in :func:`~torchgeo_lsr._fused.compute_dtype` (float32 for
        half inputs). Both cover all processes under DDP.
    """
    log_q = predictions.log_q.to(compute_dtype(predictions.log_q.dtype))
    valid = predictions.valid
    dims = (0, *range(2, log_q.ndim))
    count = _count(_Predictions(log_q, valid, distributed=False))
    if valid is None:
        log_total = torch.logsumexp(log_q, dim=dims)
    else:
        log_total = torch.logsumexp(log_q.masked_fill(~valid, -math.inf), dim=dims)
    if predictions.distributed:
        # One differentiable collective brings every rank's totals and counts to all.
        local = torch.cat([log_total, count.reshape(1)])
        gathered = torch.stack(dist_fn.all_gather(local))  # type: ignore[no-untyped-call]
        log_total = torch.logsumexp(gathered[:, :-1], dim=0)
        count = gathered[:, -1].sum().detach()
    log_mass = log_total - count.clamp_min(1).log()
    # With no valid instance at all the mass is undefined; keep it finite.
    return torch.where(count > 0, log_mass, 0.0), count


def _reduce(total: Tensor, count: Tensor, distributed: bool) -> Tensor:
    """Turn a sum over valid instances into their mean (over all processes).

    Under DDP the value is the mean over the concatenated batch of all processes,
    and the gradient is scaled by the world size so that DDP's gradient averaging
    yields that loss's gradient.

    Args:
        total: sum of the per-instance loss over this process's valid instances.
        count: number of valid instances (global under DDP).
        distributed: whether to reduce across processes.

    Returns:
        A scalar.
    """
    count = count.clamp_min(1)
    if not distributed:
        return total / count
    local = total * (dist.get_world_size() / count)
    global_total = total.detach().clone()
    dist.all_reduce(global_total)
    return local + (global_total / count - local).detach()


def _mean(per_instance: Tensor, inputs: _Inputs) -> Tensor:
    """Mean of a per-instance loss over valid instances (of all processes).

    Args:
        per_instance: loss per instance, shape (B, 1, ...).
        inputs: prepared inputs.

    Returns:
        A scalar.
    """
    if inputs.valid is not None:
        per_instance = torch.where(inputs.valid, per_instance, 0.0)
    return _reduce(per_instance.sum(), _count(inputs), inputs.distributed)


def _checked_class_mass(
    log_q: Tensor, log_class_mass: Tensor | None, per_instance: bool = False
) -> Tensor | None:
    """Check a user-supplied log denominator.

    Args:
        log_q: log-probabilities, classes on dim 1.
        log_class_mass: None, or log denominator per class, shape (C,).
        per_instance: also accept the shape of ``log_q`` (a denominator per
            instance, e.g. the totals of the tile each pixel belongs to).

    Returns:
        None, or ``log_class_mass`` on the device of ``log_q``, in its
        :func:`~torchgeo_lsr._fused.compute_dtype`.

    Raises:
        ValueError: If ``log_class_mass`` has the wrong shape.
    """
    if log_class_mass is None:
        return None
    num_classes = log_q.shape[1]
    shapes = [(num_classes,)] + ([tuple(log_q.shape)] if per_instance else [])
    if tuple(log_class_mass.shape) not in shapes:
        raise ValueError(
            f'log_class_mass must have shape {" or ".join(map(str, shapes))}, '
            f'got {tuple(log_class_mass.shape)}'
        )
    return log_class_mass.to(device=log_q.device, dtype=compute_dtype(log_q.dtype))


def _implied_loss(
    kind: Kind,
    predictions: _Predictions,
    prior: Tensor,
    eps: float,
    log_mass: Tensor | None = None,
    count: Tensor | None = None,
) -> Tensor:
    """Mean QR or RQ loss through the fused kernel.

    Args:
        kind: which loss.
        predictions: checked predictions.
        prior: prior beliefs (validated by the kernel).
        eps: floor for the normalised prior before its log.
        log_mass: ``log q̄`` to use; None computes it from this batch (and from all
            processes under DDP).
        count: the valid count belonging to ``log_mass``, if known.

    Returns:
        The mean loss over valid instances.

    Raises:
        ValueError: If the prior's shape does not match ``log_q``.
    """
    log_q = predictions.log_q
    if prior.shape != log_q.shape:
        raise ValueError(
            f'prior shape {tuple(prior.shape)} does not match log_q shape '
            f'{tuple(log_q.shape)} (classes on dim 1 in both)'
        )
    _check_eps(eps)
    prior = prior.to(log_q.device)
    if log_mass is None and predictions.distributed:
        log_mass, count = _class_mass(predictions)
    if count is None:
        count = _count(predictions)
    batch, num_classes = log_q.shape[:2]
    valid = predictions.valid
    # Outside DDP the kernel takes the mean itself, so that the usual backward
    # starts from a gradient of exactly 1 and skips a pass.
    divisor: float | Tensor = 1.0
    if not predictions.distributed:
        # A float divides exactly, but reading the count off the device costs a
        # synchronisation: only on the steps that check their inputs anyway.
        checked = prior_checks_enabled()
        divisor = max(float(count), 1.0) if checked else count.clamp_min(1.0)
    loss: Tensor = ImpliedPosteriorLoss.apply(
        log_q.reshape(batch, num_classes, -1),
        log_mass,
        prior.reshape(batch, num_classes, -1),
        None if valid is None else valid.reshape(batch, 1, -1),
        kind,
        eps,
        divisor,
    )
    if predictions.distributed:
        return _reduce(loss, count, distributed=True)
    return loss


def _check_form(form: str) -> None:
    """Reject unknown QR forms.

    Args:
        form: the requested form.

    Raises:
        ValueError: If ``form`` is not a :data:`QRForm`.
    """
    if form not in get_args(QRForm):
        raise ValueError(f"form must be one of {get_args(QRForm)}, got '{form}'")


def _qr_kind(form: QRForm) -> Kind:
    """Kernel kind of a QR form."""
    return 'qr_kl' if form == 'kl' else 'qr_free_energy'


def class_mass(
    log_q: Tensor, mask: Tensor | None = None, *, distributed: bool | None = None
) -> tuple[Tensor, Tensor]:
    """Log of the per-class mean prediction ``q̄_l = S_l / N`` over valid instances.

    This is the (log) denominator of eq. 2 up to the constant ``log N``, which the
    implied posterior does not depend on.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        mask: optional instance validity, (N,) or (B, ...).
        distributed: reduce over all processes (None: when torch.distributed runs
            with more than one process).

    Returns:
        ``log q̄`` of shape (C,), differentiable, and the number of valid instances;
        float32 for half-precision ``log_q``.
    """
    return _class_mass(_predictions(log_q, mask, distributed))


def implied_posterior(
    log_q: Tensor,
    prior: Tensor,
    *,
    mask: Tensor | None = None,
    eps: float = DEFAULT_EPS,
    log_class_mass: Tensor | None = None,
    distributed: bool | None = None,
) -> Tensor:
    """Log of the implied posterior ``r`` of eq. 3.

    ``log r_i = log_softmax_l(log q_i(l) - log S_l + log p_i(l))``.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs of the same shape; renormalised over classes.
        mask: optional instance validity; masked instances are left out of ``S_l``
            and receive the uniform distribution.
        eps: floor for the normalised prior before its log.
        log_class_mass: optional log denominator used instead of the batch's own
            ``log q̄``: per class, shape (C,) (e.g. a running estimate), or per
            instance, the shape of ``log_q`` (e.g. the whole-tile totals of each
            pixel's tile, as the paper evaluated).
        distributed: reduce ``S_l`` over all processes (None: automatic).

    Returns:
        ``log r`` with the shape and dtype of ``log_q`` (computed in float32 for
        half-precision ``log_q``).
    """
    inputs = _prepare(log_q, prior, mask, eps, distributed)
    log_mass = _checked_class_mass(log_q, log_class_mass, per_instance=True)
    if log_mass is None:
        log_mass, _ = _class_mass(inputs)
    if log_mass.ndim == 1:
        log_mass = log_mass.view((1, -1) + (1,) * (log_q.ndim - 2))
    log_r = torch.log_softmax(inputs.log_q + inputs.log_prior - log_mass, 1)
    if inputs.valid is not None:
        log_r = torch.where(inputs.valid, log_r, -math.log(log_r.shape[1]))
    return log_r.to(log_q.dtype)


def qr_loss(
    log_q: Tensor,
    prior: Tensor,
    form: QRForm = 'kl',
    *,
    mask: Tensor | None = None,
    eps: float = DEFAULT_EPS,
    log_class_mass: Tensor | None = None,
    distributed: bool | None = None,
) -> Tensor:
    """QR loss: ``KL(q || r)``, in the per-instance or the free-energy form.

    With ``a_i(l) = log p_i(l) - log q̄_l`` and ``log Z_i = logsumexp_l(log q_i + a_i)``,
    ``KL(q_i || r_i) = log Z_i - Σ_l q_i(l) a_i(l)``; the free-energy form drops
    ``log Z_i``, giving ``Σ_l q̄_l log q̄_l - mean_i Σ_l q_i(l) log p_i(l)`` (the form
    of ``torchgeo.losses.QRLoss`` and of the published land-cover runs).

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs of the same shape; renormalised over classes.
        form: ``'kl'`` (UAI Fig. 2) or ``'free_energy'``.
        mask: optional instance validity.
        eps: floor for the normalised prior before its log.
        log_class_mass: optional log denominator per class, shape (C,).
        distributed: reduce over all processes (None: automatic).

    Returns:
        The mean loss over valid instances.
    """
    _check_form(form)
    return _implied_loss(
        _qr_kind(form),
        _predictions(log_q, mask, distributed),
        prior,
        eps,
        _checked_class_mass(log_q, log_class_mass),
    )


def rq_loss(
    log_q: Tensor,
    prior: Tensor,
    *,
    mask: Tensor | None = None,
    eps: float = DEFAULT_EPS,
    log_class_mass: Tensor | None = None,
    distributed: bool | None = None,
) -> Tensor:
    """RQ loss: mean ``KL(r || q)``; cross-entropy when the prior is one-hot.

    Computed as ``Σ_l r_i(l) a_i(l) - log Z_i`` (notation of :func:`qr_loss`), which
    equals ``Σ_l r_i(l) (log r_i(l) - log q_i(l))``. Gradients flow into ``r``
    through ``q`` (no stop-gradient), as in the paper.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs of the same shape; renormalised over classes.
        mask: optional instance validity.
        eps: accepted for a uniform signature: RQ uses the prior unfloored, since
            classes with ``p = 0`` get ``r = 0`` and their terms vanish.
        log_class_mass: optional log denominator per class, shape (C,).
        distributed: reduce over all processes (None: automatic).

    Returns:
        The mean loss over valid instances.
    """
    return _implied_loss(
        'rq',
        _predictions(log_q, mask, distributed),
        prior,
        eps,
        _checked_class_mass(log_q, log_class_mass),
    )


def ce_loss(
    log_q: Tensor,
    prior: Tensor,
    *,
    mask: Tensor | None = None,
    eps: float = DEFAULT_EPS,
    distributed: bool | None = None,
) -> Tensor:
    """Soft-target cross-entropy ``-Σ_l p_i(l) log q_i(l)``.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs (soft targets) of the same shape; renormalised.
        mask: optional instance validity.
        eps: accepted for a uniform signature; CE does not take the prior's log.
        distributed: average over all processes (None: automatic).

    Returns:
        The mean loss over valid instances.
    """
    inputs = _prepare(log_q, prior, mask, eps, distributed)
    per_instance = -(inputs.prior * inputs.log_q).sum(1, keepdim=True)
    return _mean(per_instance, inputs)


def nll_union_loss(
    log_q: Tensor,
    prior: Tensor,
    *,
    mask: Tensor | None = None,
    eps: float = DEFAULT_EPS,
    distributed: bool | None = None,
) -> Tensor:
    """Negative log-likelihood of the prior-weighted union ``-log Σ_l p_i(l) q_i(l)``.

    Args:
        log_q: log-probabilities, (N, C) or (B, C, ...).
        prior: prior beliefs of the same shape; renormalised.
        mask: optional instance validity.
        eps: floor for the normalised prior before its log.
        distributed: average over all processes (None: automatic).

    Returns:
        The mean loss over valid instances.
    """
    inputs = _prepare(log_q, prior, mask, eps, distributed)
    per_instance = -torch.logsumexp(inputs.log_q + inputs.log_prior, 1, keepdim=True)
    return _mean(per_instance, inputs)


class _PriorLoss(nn.Module):
    """Common options and call signature of the loss modules."""

    def __init__(
        self, *, eps: float = DEFAULT_EPS, distributed: bool | None = None
    ) -> None:
        """Initialise the options.

        Args:
            eps: floor for the normalised prior before its log.
            distributed: reduce over all processes (None: automatic).
        """
        super().__init__()
        _check_eps(eps)
        self.eps = eps
        self.distributed = distributed

    def extra_repr(self) -> str:
        """Options shown by ``repr``."""
        return f'eps={self.eps}'

    def forward(
        self, log_q: Tensor, prior: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Compute the loss.

        Args:
            log_q: log-probabilities, (N, C) or (B, C, ...).
            prior: prior beliefs of the same shape.
            mask: optional instance validity, (N,) or (B, ...).

        Returns:
            The mean loss over valid instances.
        """
        return self._compute(log_q, prior, mask)

    def _compute(self, log_q: Tensor, prior: Tensor, mask: Tensor | None) -> Tensor:
        raise NotImplementedError


class CELoss(_PriorLoss):
    """Module form of :func:`ce_loss`."""

    def _compute(self, log_q: Tensor, prior: Tensor, mask: Tensor | None) -> Tensor:
        return ce_loss(
            log_q, prior, mask=mask, eps=self.eps, distributed=self.distributed
        )


class NLLUnionLoss(_PriorLoss):
    """Module form of :func:`nll_union_loss`."""

    def _compute(self, log_q: Tensor, prior: Tensor, mask: Tensor | None) -> Tensor:
        return nll_union_loss(
            log_q, prior, mask=mask, eps=self.eps, distributed=self.distributed
        )


class _ImpliedPosteriorLoss(_PriorLoss):
    """A loss through the implied posterior, with a choice of denominator.

    With ``denominator='ema'`` the module keeps ``running_class_mass``, a detached
    running estimate of ``q̄``. Each call uses
    ``log(m * running + (1 - m) * q̄_batch)`` as the denominator, so gradients still
    flow through the current batch's share, and in training mode then stores that
    value (detached) as the new running estimate. In eval mode the estimate is used
    but not updated. ``momentum=0`` gives exactly the ``'batch'`` denominator.
    """

    running_class_mass: Tensor

    def __init__(
        self,
        *,
        denominator: Denominator = 'batch',
        momentum: float = 0.9,
        eps: float = DEFAULT_EPS,
        distributed: bool | None = None,
    ) -> None:
        """Initialise the loss.

        Args:
            denominator: ``'batch'`` (paper default) or ``'ema'``.
            momentum: weight of the running estimate for ``'ema'``, in [0, 1).
            eps: floor for the normalised prior before its log.
            distributed: reduce over all processes (None: automatic).

        Raises:
            ValueError: For an unknown denominator or momentum outside [0, 1).
        """
        super().__init__(eps=eps, distributed=distributed)
        if denominator not in get_args(Denominator):
            raise ValueError(
                f'denominator must be one of {get_args(Denominator)}, '
                f"got '{denominator}'"
            )
        if not 0 <= momentum < 1:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.denominator = denominator
        self.momentum = momentum
        # Empty until the first batch tells the number of classes.
        self.register_buffer('running_class_mass', torch.empty(0))

    def extra_repr(self) -> str:
        """Options shown by ``repr``."""
        text = f'{super().extra_repr()}, denominator={self.denominator!r}'
        if self.denominator == 'ema':
            text += f', momentum={self.momentum}'
        return text

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        """Let a fresh (empty) running estimate take the saved shape."""
        key = prefix + 'running_class_mass'
        if key in state_dict and self.running_class_mass.numel() == 0:
            self.running_class_mass = torch.empty_like(
                state_dict[key], device=self.running_class_mass.device
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _loss(
        self, kind: Kind, log_q: Tensor, prior: Tensor, mask: Tensor | None
    ) -> Tensor:
        """Compute the loss with this module's denominator.

        For ``'ema'`` the prior is checked first, so a rejected batch leaves the
        running estimate unchanged.

        Args:
            kind: which loss.
            log_q: log-probabilities, (N, C) or (B, C, ...).
            prior: prior beliefs of the same shape.
            mask: optional instance validity.

        Returns:
            The mean loss over valid instances.

        Raises:
            ValueError: If the number of classes differs from the running estimate.
        """
        predictions = _predictions(log_q, mask, self.distributed)
        if self.denominator == 'batch':
            return _implied_loss(kind, predictions, prior, self.eps)
        _check_prior(prior, predictions)
        log_mass, count = _class_mass(predictions)
        running = self.running_class_mass
        if running.numel() == 0 or self.momentum == 0:
            mixed = log_mass
        elif running.shape != log_mass.shape:
            raise ValueError(
                f'the running class mass has {running.numel()} classes, '
                f'log_q has {log_mass.numel()}'
            )
        else:
            mixed = torch.logaddexp(
                log_mass + math.log1p(-self.momentum),
                running.to(log_mass).log() + math.log(self.momentum),
            )
        if self.training:
            with torch.no_grad():
                new = mixed.detach().exp()
                if running.numel() != 0:
                    # A batch without valid instances leaves the estimate unchanged.
                    new = torch.where(count > 0, new, running.to(new))
                self.running_class_mass = new
        return _implied_loss(kind, predictions, prior, self.eps, mixed, count)


class QRLoss(_ImpliedPosteriorLoss):
    """Module form of :func:`qr_loss`, with a batch or running (EMA) denominator."""

    def __init__(
        self,
        form: QRForm = 'kl',
        *,
        denominator: Denominator = 'batch',
        momentum: float = 0.9,
        eps: float = DEFAULT_EPS,
        distributed: bool | None = None,
    ) -> None:
        """Initialise the loss.

        Args:
            form: ``'kl'`` or ``'free_energy'`` (see :func:`qr_loss`).
            denominator: ``'batch'`` (paper default) or ``'ema'``.
            momentum: weight of the running estimate for ``'ema'``, in [0, 1).
            eps: floor for the normalised prior before its log.
            distributed: reduce over all processes (None: automatic).
        """
        super().__init__(
            denominator=denominator, momentum=momentum, eps=eps, distributed=distributed
        )
        _check_form(form)
        self.form: QRForm = form

    def extra_repr(self) -> str:
        """Options shown by ``repr``."""
        return f'form={self.form!r}, {super().extra_repr()}'

    def _compute(self, log_q: Tensor, prior: Tensor, mask: Tensor | None) -> Tensor:
        return self._loss(_qr_kind(self.form), log_q, prior, mask)


class RQLoss(_ImpliedPosteriorLoss):
    """Module form of :func:`rq_loss`, with a batch or running (EMA) denominator."""

    def _compute(self, log_q: Tensor, prior: Tensor, mask: Tensor | None) -> Tensor:
        return self._loss('rq', log_q, prior, mask)


def build_loss(
    name: LossName,
    *,
    qr_form: QRForm = 'kl',
    denominator: Denominator = 'batch',
    momentum: float = 0.9,
    eps: float = DEFAULT_EPS,
    distributed: bool | None = None,
) -> nn.Module:
    """The loss module of a loss name: the one loss factory of every task.

    Args:
        name: ``'qr'``, ``'rq'``, ``'ce'`` or ``'nll_union'``.
        qr_form: ``'kl'`` or ``'free_energy'`` (QR only).
        denominator: ``'batch'`` or ``'ema'`` class totals (QR and RQ only).
        momentum: weight of the running totals for ``'ema'``.
        eps: floor for the normalised prior before its log.
        distributed: reduce over all processes (None: automatic).

    Returns:
        The loss module, called as ``loss(log_q, prior, mask=None)``.

    Raises:
        ValueError: For an unknown name.
    """
    common: dict[str, Any] = {'eps': eps, 'distributed': distributed}
    implied: dict[str, Any] = {'denominator': denominator, 'momentum': momentum}
    match name:
        case 'qr':
            return QRLoss(qr_form, **implied, **common)
        case 'rq':
            return RQLoss(**implied, **common)
        case 'ce':
            return CELoss(**common)
        case 'nll_union':
            return NLLUnionLoss(**common)
    raise ValueError(
        f"unknown loss {name!r}: choose from 'qr', 'rq', 'ce', 'nll_union'"
    )

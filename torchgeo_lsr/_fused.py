"""Fused, chunked forward and backward of the QR and RQ losses.

Written as autograd ops, these losses make about fifteen passes over the whole
(B, C, H, W) batch forward, and as many again backward; on a CPU each pass is bound by
memory bandwidth. Here the work runs block by block over chunks small enough to stay in
cache, and the backward is written out by hand, so QR and RQ cost about as much as
cross-entropy. On other devices the whole batch is one chunk.

Notation (per instance i, class l; ``q̄`` the per-class mean of q, ``ψ_i`` the sum of
the raw prior row, ``p̂ = max(p, eps ψ) / ψ`` the floored, normalised prior):

* ``lv = log max(p, eps ψ) - log q̄ = log p̂ + log ψ - log q̄``;
* ``Z = Σ_l exp(u + lv)`` with ``u = log q``, and ``r = exp(u + lv) / Z`` (eq. 3);
* RQ: ``f = Σ_l r lv - log Z``; ``∂f/∂u = g - r``, ``∂f/∂lv = g``, ``g = r (lv - Σ r lv)``;
* QR, KL form: ``f = log Z - Σ_l q lv``; ``∂f/∂u = r - q lv``, ``∂f/∂lv = r - q``;
* QR, free-energy form: ``f = log ψ - Σ_l q lv``; ``∂f/∂u = -q lv``, ``∂f/∂lv = -q``;
* the denominator: ``∂f/∂log q̄_l = -Σ_i ∂f/∂lv_il``, and ``∂log q̄_l/∂u_il = q_il/S_l``.

These use ``Σ_l q_il = 1``; gradients with respect to ``u`` may differ from autograd of
the textbook formulas by multiples of ``q_i``, which vanish for any parametrisation that
keeps q normalised (log-softmax, output smoothing).

Half-precision inputs (float16, bfloat16) are computed in float32 (see
:func:`compute_dtype`): the class sums of a batch easily pass float16's largest value
(65504), and bfloat16's 8-bit mantissa loses whole chunks when the loss is summed. As
with PyTorch's own losses under autocast, the loss is then float32; the gradient with
respect to ``log_q`` has the dtype of ``log_q``, and that with respect to ``log_mass``
the dtype of ``log_mass``. Rounded to half precision, q sums to 1 only up to about
1e-3, so the QR terms that cancel for normalised q are weighted by ``Σ_l q``, as in
the textbook formulas; this keeps the loss independent of the prior's scale.
"""

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

__all__ = (
    'ImpliedPosteriorLoss',
    'Kind',
    'compute_dtype',
    'prior_checks',
    'prior_checks_enabled',
    'prior_problems',
)

Kind = Literal['rq', 'qr_kl', 'qr_free_energy']

#: Margin above the smallest normal number below which values count as underflowed.
_UNDERFLOW = 2.0**20

#: Elements per chunk on the CPU: the few live temporaries of a chunk fit in L2 cache.
CPU_CHUNK_ELEMENTS = 1 << 19


#: Whether the losses check their priors and choose their numerical ranges on the
#: host (each such decision reads a value off the device).
_PRIOR_CHECKS: ContextVar[bool] = ContextVar('prior_checks', default=True)


@contextlib.contextmanager
def prior_checks(enabled: bool) -> Iterator[None]:
    """Turn the prior checks of the losses (and the task's) on or off in a block.

    Each check synchronises with the device (it decides on a value computed
    there). Without them the QR and RQ kernels also skip their range decisions and
    take the branches that are safe for any range (a little more arithmetic): QR's
    free energy then runs without reading anything off the device, RQ and QR's KL
    form read one flag (a normaliser that underflowed). A training loop checks a
    sample of its steps (the task: the first steps and every hundredth).

    Args:
        enabled: check priors inside the block.

    Yields:
        Nothing.
    """
    token = _PRIOR_CHECKS.set(enabled)
    try:
        yield
    finally:
        _PRIOR_CHECKS.reset(token)


def prior_checks_enabled() -> bool:
    """Whether priors are checked here (see :func:`prior_checks`)."""
    return _PRIOR_CHECKS.get()


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the losses compute and accumulate in, for inputs of ``dtype``.

    Args:
        dtype: dtype of the log-probabilities.

    Returns:
        float32 for half-precision inputs (float16, bfloat16), else ``dtype``.
    """
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def prior_problems(prior: Tensor, valid: Tensor | None) -> Tensor:
    """Flag valid instances whose prior row cannot be normalised.

    Args:
        prior: prior beliefs, classes on dim 1.
        valid: None, or instance validity broadcastable as (B, 1, ...).

    Returns:
        A boolean tensor (B, 1, ...), True where a valid row has a negative, NaN or
        infinite value, or sums to zero.
    """
    total = prior.sum(1, keepdim=True)
    # amin is NaN where a row holds NaN, and the total is inf where it holds inf.
    bad = ~((prior.amin(1, keepdim=True) >= 0) & (total > 0) & (total < math.inf))
    return bad if valid is None else bad & valid


def _prior_stats(prior: Tensor, prior_sum: Tensor, valid: Tensor | None) -> Tensor:
    """Smallest entry, smallest and largest row sum of a chunk, over valid instances.

    NaN values propagate into the statistics, so one look at them tells whether the
    chunk is valid (see :func:`prior_problems` for the per-row check).

    Args:
        prior: a chunk of the prior, (b, C, l).
        prior_sum: its sum over classes, (b, 1, l).
        valid: None or the chunk's validity, (b, 1, l).

    Returns:
        ``[smallest entry, smallest row sum, largest row sum]``.
    """
    if valid is None:
        return torch.stack([prior.amin(), prior_sum.amin(), prior_sum.amax()])
    return torch.stack(
        [
            torch.where(valid, prior.amin(1, keepdim=True), math.inf).amin(),
            torch.where(valid, prior_sum, math.inf).amin(),
            torch.where(valid, prior_sum, 0.0).amax(),
        ]
    )


def _unchecked_weights(
    log_mass: Tensor | None,
    class_sum: Tensor,
    valid: Tensor | None,
    instances: int,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The denominators' weights without reading anything off the device.

    Args:
        log_mass: the given ``log q̄``, or None for the batch's own.
        class_sum: per-class totals of q over valid instances.
        valid: None or the validity.
        instances: B * L.
        dtype: the compute dtype.

    Returns:
        ``log q̄``, ``log w = -log q̄``, the shift (``max log w``, a 0-dim tensor)
        and, for the batch's own denominator, whether a class collapsed (its
        totals underflow: RQ and QR's KL form then fall back to the log-space
        formulas; the free energy stays exact in the log-domain branch it takes).
    """
    collapsed = None
    if log_mass is None:
        tiny = torch.finfo(dtype).tiny
        count = (
            class_sum.new_tensor(float(instances))
            if valid is None
            else valid.sum().to(dtype)
        )
        collapsed = (class_sum < _UNDERFLOW * tiny).any() & (count > 0)
        log_mass = torch.where(
            count > 0, class_sum.clamp_min(tiny).log() - count.clamp_min(1).log(), 0.0
        )
    log_w = -log_mass.to(dtype)
    return log_mass, log_w, log_w.max(), collapsed


def _chunks(
    batch: int, length: int, num_classes: int, device: torch.device
) -> list[tuple[slice, slice]]:
    """Split a (B, C, L) tensor into blocks of about ``CPU_CHUNK_ELEMENTS``.

    Args:
        batch: B.
        length: L (all instance dims after the batch dim, flattened).
        num_classes: C.
        device: where the tensors live.

    Returns:
        (batch slice, length slice) pairs covering the tensor.
    """
    if device.type != 'cpu' or batch * length * num_classes <= CPU_CHUNK_ELEMENTS:
        return [(slice(None), slice(None))]
    per_item = num_classes * length
    if per_item <= CPU_CHUNK_ELEMENTS:
        step = max(1, CPU_CHUNK_ELEMENTS // per_item)
        return [(slice(b, b + step), slice(None)) for b in range(0, batch, step)]
    step = max(1, CPU_CHUNK_ELEMENTS // num_classes)
    return [
        (slice(b, b + 1), slice(i, i + step))
        for b in range(batch)
        for i in range(0, length, step)
    ]


def _log_space_total(
    kind: Kind,
    log_q: Tensor,
    log_mass: Tensor | None,
    prior: Tensor,
    valid: Tensor | None,
    eps: float,
    count: float,
) -> Tensor:
    """The summed loss from the textbook formulas in log space, as autograd ops.

    Slower than the fused path but exact over any range of values; used when the
    fused path would under- or overflow (for example a collapsed class).

    Args:
        kind: which loss.
        log_q: (B, C, L) log-probabilities.
        log_mass: (C,) ``log q̄``, or None for this batch's own.
        prior: (B, C, L) validated prior.
        valid: None or (B, 1, L) validity.
        eps: floor for the normalised prior (a negligible one for RQ).
        count: number of valid instances.

    Returns:
        The sum of the per-instance losses over valid instances.
    """
    dtype = log_q.dtype
    prior = prior.to(dtype)
    if valid is not None:
        prior = torch.where(valid, prior, 1.0)
        log_q = torch.where(valid, log_q, -math.log(log_q.shape[1]))
    floor = torch.finfo(dtype).tiny if kind == 'rq' else eps
    log_p = (prior / prior.sum(1, keepdim=True)).clamp_min(floor).log()
    if log_mass is None:
        masked = log_q if valid is None else log_q.masked_fill(~valid, -math.inf)
        log_mass = torch.logsumexp(masked, (0, 2)) - math.log(max(count, 1.0))
    a = log_p - log_mass.view(1, -1, 1)
    if kind == 'qr_free_energy':
        per_instance = -(log_q.exp() * a).sum(1, keepdim=True)
    else:
        log_r = torch.log_softmax(log_q + a, 1)
        if kind == 'rq':
            per_instance = (log_r.exp() * (log_r - log_q)).sum(1, keepdim=True)
        else:
            per_instance = (log_q.exp() * (log_q - log_r)).sum(1, keepdim=True)
    if valid is not None:
        per_instance = torch.where(valid, per_instance, 0.0)
    return per_instance.sum()


def _fall_back(
    ctx: Any,
    log_q: Tensor,
    log_mass: Tensor | None,
    prior: Tensor,
    valid: Tensor | None,
    kind: Kind,
    eps: float,
    count: float,
) -> Tensor:
    """Compute the loss with :func:`_log_space_total`, recording a graph for backward.

    Args:
        ctx: the autograd context.
        log_q: (B, C, L) log-probabilities.
        log_mass: (C,) ``log q̄``, or None for this batch's own.
        prior: (B, C, L) validated prior.
        valid: None or (B, 1, L) validity.
        kind: which loss.
        eps: floor for the normalised prior.
        count: number of valid instances.

    Returns:
        The loss divided by ``ctx.divisor``.
    """
    with torch.enable_grad():
        leaves = [log_q.detach().to(compute_dtype(log_q.dtype)).requires_grad_()]
        if log_mass is not None:
            leaves.append(log_mass.detach().to(leaves[0].dtype).requires_grad_())
        total = _log_space_total(
            kind,
            leaves[0],
            leaves[1] if log_mass is not None else None,
            prior,
            valid,
            eps,
            count,
        )
    ctx.fallback = (total, leaves)
    result: Tensor = total.detach() / ctx.divisor
    return result


def _fall_back_backward(ctx: Any, grad_total: Tensor) -> tuple[Tensor | None, ...]:
    """Backward of :func:`_fall_back` through its recorded graph.

    Args:
        ctx: the autograd context.
        grad_total: incoming gradient.

    Returns:
        Gradients for the inputs of :class:`ImpliedPosteriorLoss`.
    """
    total, leaves = ctx.fallback
    grads = torch.autograd.grad(total, leaves, grad_total / ctx.divisor)
    grad_log_mass = grads[1].to(ctx.mass_dtype) if len(grads) > 1 else None
    return grads[0].to(ctx.dtype), grad_log_mass, None, None, None, None, None


class ImpliedPosteriorLoss(torch.autograd.Function):
    """Sum over valid instances of the RQ or QR loss, with a hand-written backward.

    ``forward(log_q, log_mass, prior, valid, kind, eps, divisor)``:

    * ``log_q``: (B, C, L) log-probabilities;
    * ``log_mass``: (C,) log of the per-class denominator ``log q̄``, or None to
      compute it from this batch (the gradient through it is then included);
    * ``prior``: (B, C, L) non-negative prior of any scale (validated here);
    * ``valid``: None or (B, 1, L) bool;
    * ``kind``: a :data:`Kind`; ``eps``: floor for the normalised prior;
    * ``divisor``: the sum over valid instances is divided by this.

    Returns the sum of per-instance losses over valid instances, over ``divisor``, in
    :func:`compute_dtype` (float32 for half inputs). Dividing here, not in autograd,
    saves a pass in the backward, whose incoming gradient is then usually 1.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        log_q: Tensor,
        log_mass: Tensor | None,
        prior: Tensor,
        valid: Tensor | None,
        kind: Kind,
        eps: float,
        divisor: float,
    ) -> Tensor:
        """Compute the summed loss; see the class docstring."""
        batch, num_classes, length = log_q.shape
        # Half inputs are computed chunk by chunk in float32 (module docstring).
        dtype = compute_dtype(log_q.dtype)
        mass_dtype = None if log_mass is None else log_mass.dtype
        ctx.dtype = log_q.dtype  # type: ignore[attr-defined]
        ctx.mass_dtype = mass_dtype  # type: ignore[attr-defined]
        chunks = _chunks(batch, length, num_classes, log_q.device)
        internal = log_mass is None
        valids = [None if valid is None else valid[bs, :, ls] for bs, ls in chunks]

        # Pass 1: check the prior, exponentiate, and total q per class.
        checked = prior_checks_enabled()
        qs, prior_sums, stats = [], [], []
        class_sum = log_q.new_zeros(num_classes, dtype=dtype)
        for (bs, ls), v in zip(chunks, valids, strict=True):
            p = prior[bs, :, ls].to(dtype)
            prior_sum = p.sum(1, keepdim=True)
            if checked:
                stats.append(_prior_stats(p, prior_sum, v))
            q = log_q[bs, :, ls].to(dtype).exp()
            if v is not None:
                q = torch.where(v, q, 0.0)
            if internal or kind != 'rq':
                class_sum += q.sum((0, 2))
            qs.append(q)
            prior_sums.append(prior_sum)
        tiny = torch.finfo(dtype).tiny
        ctx.divisor = divisor  # type: ignore[attr-defined]
        ctx.fallback = None  # type: ignore[attr-defined]
        shift: float | Tensor
        count: float | Tensor
        if not checked:
            # No decision on the host: the branches safe for any range.
            log_mass, log_w, shift, collapsed = _unchecked_weights(
                log_mass, class_sum, valid, batch * length, dtype
            )
            floor, log_of_product, exact_log = True, False, False
            count = batch * length if valid is None else valid.sum()
        else:
            collapsed = None
            smallest, sum_min, sum_max = torch.stack(stats).T.tolist()
            smallest, sum_min, sum_max = min(smallest), min(sum_min), max(sum_max)
            if not (smallest >= 0 and sum_min > 0 and sum_max < math.inf):
                bad = prior_problems(prior.to(dtype), valid)
                raise ValueError(
                    f'invalid prior at {int(bad.sum())} valid instance(s): priors '
                    'must be finite, non-negative and not all zero; exclude nodata '
                    'pixels with `mask`'
                )
            count = float(batch * length if valid is None else int(valid.sum()))
            if internal:
                if count == 0:
                    log_mass = log_q.new_zeros(num_classes, dtype=dtype)
                elif bool((class_sum < _UNDERFLOW * tiny).any()):
                    # A class whose probabilities underflow everywhere (a collapsed
                    # class): beyond the range of the fast path.
                    return _fall_back(ctx, log_q, None, prior, valid, kind, eps, count)
                else:
                    log_mass = class_sum.log() - math.log(count)
            assert log_mass is not None
            log_w = -log_mass.to(dtype)
            shift = float(log_w.max())
            # Flooring is a no-op when every valid entry is at least eps times
            # every sum (smoothed priors); then the prior need not be copied.
            floor = not smallest >= eps * sum_max
            lowest = eps * sum_min if floor else smallest
            # log(prior * w) is finite when the product cannot underflow; else
            # add logs.
            w_min = float((log_w - shift).exp().min())
            log_of_product = lowest * w_min > 4 * tiny
            exact_log = smallest * w_min > 4 * tiny
        # Weights scaled so that the largest is 1: r, Z-ratios and the losses do not
        # change (the free energy adds the shift back) and nothing overflows.
        w = (log_w - shift).exp().view(1, -1, 1)
        # Half inputs sum to 1 over classes only up to their rounding, and QR's
        # ``log ψ``, ``shift`` and ``log Z`` cancel only through Σ_l q = 1: weight
        # them by Σ_l q, as the textbook formulas do (RQ normalises r itself).
        rounded = dtype != log_q.dtype

        # Pass 2: the loss, keeping what the backward needs (``lv`` is shifted:
        # lv - shift).
        total = log_q.new_zeros((), dtype=dtype)
        smallest_z_sums: list[Tensor] = []
        kept: list[tuple[Tensor, ...]] = []
        r_sum = log_q.new_zeros(num_classes, dtype=dtype)
        for (bs, ls), v, q, prior_sum in zip(
            chunks, valids, qs, prior_sums, strict=True
        ):
            p = prior[bs, :, ls].to(dtype)
            if kind == 'rq':
                # r is exact: where p = 0, r = 0 and 0 log 0 = 0, so RQ needs no
                # floor (and equals cross-entropy for one-hot priors). The log is
                # only kept finite there.
                weighted = p * w
                lv = weighted.log() if exact_log else weighted.clamp_min(tiny).log_()
            else:
                base = torch.maximum(p, prior_sum * eps) if floor else p
                weighted = None
                if log_of_product:
                    weighted = base.mul_(w) if floor else base * w
                    lv = weighted.log()
                else:
                    lv = base.log().add_(log_w.view(1, -1, 1) - shift)
            if kind == 'qr_free_energy':
                offset = prior_sum.log() - shift
                if rounded:
                    offset = offset * q.sum(1, keepdim=True)
                per_instance = offset - (q * lv).sum(1, keepdim=True)
                kept.append((q, lv))
            else:
                if weighted is None:
                    weighted = base.mul_(w) if floor else base * w
                z = weighted.mul_(q)
                z_sum = z.sum(1, keepdim=True)
                smallest_z_sums.append(
                    (z_sum if v is None else torch.where(v, z_sum, math.inf)).amin()
                )
                r = z.div_(z_sum)
                log_z = z_sum.log_()
                r_sum += (r if v is None else torch.where(v, r, 0.0)).sum((0, 2))
                if kind == 'rq':
                    r_lv = r * lv
                    r_lv_sum = r_lv.sum(1, keepdim=True)
                    per_instance = r_lv_sum - log_z
                    kept.append((q, r, r_lv, r_lv_sum))
                else:
                    if rounded:
                        log_z = log_z * q.sum(1, keepdim=True)
                    per_instance = log_z - (q * lv).sum(1, keepdim=True)
                    kept.append((q, r, lv))
            if v is not None:
                per_instance = torch.where(v, per_instance, 0.0)
            total += per_instance.sum()
        underflow = (
            torch.stack(smallest_z_sums).amin() <= _UNDERFLOW * tiny
            if smallest_z_sums
            else None
        )
        if collapsed is not None and underflow is not None:
            underflow = underflow | collapsed
        if underflow is not None and bool(underflow):
            # Some normaliser Z_i underflowed: the weights span too wide a range.
            return _fall_back(
                ctx,
                log_q,
                None if internal else log_mass,
                prior,
                valid,
                kind,
                eps,
                float(count),
            )

        ctx.chunks = chunks  # type: ignore[attr-defined]
        ctx.valid = valid  # type: ignore[attr-defined]
        ctx.valids = valids  # type: ignore[attr-defined]
        ctx.kind = kind  # type: ignore[attr-defined]
        ctx.internal = internal  # type: ignore[attr-defined]
        ctx.shape = log_q.shape  # type: ignore[attr-defined]
        ctx.class_sum = class_sum  # type: ignore[attr-defined]
        ctx.kept = kept  # type: ignore[attr-defined]
        ctx.r_sum = r_sum  # type: ignore[attr-defined]
        return total / divisor

    @staticmethod
    def backward(ctx: Any, grad_total: Tensor) -> tuple[Tensor | None, ...]:
        """Gradients for ``log_q`` and ``log_mass``; see the module docstring."""
        if ctx.fallback is not None:
            return _fall_back_backward(ctx, grad_total)
        kind: Kind = ctx.kind
        internal: bool = ctx.internal
        class_sum: Tensor = ctx.class_sum
        # In the compute dtype, cast to the input's dtype once scaled.
        grad_log_q = ctx.r_sum.new_empty(ctx.shape)
        outs = [grad_log_q[bs, :, ls] for bs, ls in ctx.chunks]

        def denominator_scale(neg_dlv_sum: Tensor) -> Tensor:
            # ∂log q̄_l / ∂u_il = q_il / S_l for the batch's own denominator.
            scale = torch.where(class_sum > 0, neg_dlv_sum / class_sum, 0.0)
            return scale.view(1, -1, 1)

        if kind == 'qr_free_energy':
            # ∂f/∂lv = -q, so -Σ_i ∂f/∂lv = S; with the batch's own denominator the
            # two terms add up to q (1 - lv).
            neg_dlv_sum = class_sum
            for out, (q, lv) in zip(outs, ctx.kept, strict=True):
                if internal:
                    torch.addcmul(q, q, lv, value=-1, out=out)
                else:
                    torch.mul(q, lv, out=out).neg_()
        elif kind == 'qr_kl':
            # ∂f/∂lv = r - q, whose class sums are known from the forward pass.
            neg_dlv_sum = class_sum - ctx.r_sum
            scale = denominator_scale(neg_dlv_sum) if internal else None
            for out, (q, r, lv) in zip(outs, ctx.kept, strict=True):
                factor = lv if scale is None else lv - scale
                torch.addcmul(r, q, factor, value=-1, out=out)
        else:
            # d_u = r (lv - Σ r lv) - r = ∂f/∂lv - r, kept until the class sums of
            # ∂f/∂lv are complete.
            d_us = []
            d_u_sum = ctx.r_sum.new_zeros(ctx.shape[1])
            for v, (_, r, r_lv, r_lv_sum) in zip(ctx.valids, ctx.kept, strict=True):
                d_u = torch.addcmul(r_lv, r, r_lv_sum + 1, value=-1)
                if v is not None:
                    d_u = torch.where(v, d_u, 0.0)
                d_u_sum += d_u.sum((0, 2))
                d_us.append(d_u)
            neg_dlv_sum = -(d_u_sum + ctx.r_sum)
            scale = denominator_scale(neg_dlv_sum) if internal else None
            for out, (q, *_), d_u in zip(outs, ctx.kept, d_us, strict=True):
                if scale is None:
                    out.copy_(d_u)
                else:
                    torch.addcmul(d_u, q, scale, out=out)
        if ctx.valid is not None:
            grad_log_q.masked_fill_(~ctx.valid, 0.0)
        scale = (grad_total / ctx.divisor).to(grad_log_q.dtype)
        if grad_log_q.device.type != 'cpu' or float(scale) != 1:
            grad_log_q.mul_(scale)
        grad_log_q = grad_log_q.to(ctx.dtype)
        if ctx.internal:
            return grad_log_q, None, None, None, None, None, None
        grad_log_mass = (neg_dlv_sum * scale).to(ctx.mass_dtype)
        return grad_log_q, grad_log_mass, None, None, None, None, None

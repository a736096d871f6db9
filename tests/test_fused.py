"""Half-precision inputs of the losses (issue 16, item 14).

The fused kernel once accumulated class sums, the loss total and its underflow
thresholds in the input dtype: float16 class sums passed 65504 (NaN losses) and
bfloat16 lost whole chunks of the sum. The references here are the textbook formulas
(:func:`tests.test_losses.naive_loss`) in float64 on the very same (half) values, so
the only difference left is the arithmetic of the code under test.
"""

import functools

import pytest
import torch
from torch import Tensor

import torchgeo_lsr._fused as fused
from tests.test_losses import LOSSES, naive_loss
from torchgeo_lsr.losses import QRLoss, class_mass, implied_posterior

HALF = [torch.float16, torch.bfloat16]

#: 2 x 192² = 73728 pixels, most with q ≈ 0.99 for class 0: the class sum S_0 and the
#: pixel count pass float16's largest value, 65504.
SHAPE = (2, 4, 192, 192)
PIXELS = SHAPE[0] * SHAPE[2] * SHAPE[3]


@functools.cache
def half_batch(dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Normalised ``log_q`` in ``dtype`` and a float32 prior with zeros."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(SHAPE, generator=generator)
    logits[:, 0] += 5  # class 0 dominates every pixel
    prior = torch.rand(SHAPE, generator=generator)
    prior[prior < 0.2] = 0  # partial-label-like zeros
    prior[:, 1] += 0.01  # no all-zero rows
    return logits.log_softmax(1).to(dtype), prior


def roundoff(dtype: torch.dtype) -> float:
    """Unit roundoff of ``dtype``: the relative error of storing one value in it."""
    return torch.finfo(dtype).eps / 2


def logit_gradient(grad_log_q: Tensor, log_q: Tensor) -> Tensor:
    """The gradient with respect to the logits behind a log-softmax ``log_q``.

    The kernel's gradients may differ from autograd of the textbook formulas by
    multiples of ``q_i`` (see ``torchgeo_lsr._fused``); through a log-softmax those
    vanish, so both are compared in this form.
    """
    grad = grad_log_q.double()
    return grad - log_q.double().exp() * grad.sum(1, keepdim=True)


class TestHalfPrecision:
    """Guards issue 16 item 14: half inputs are computed in float32.

    On the old code float16 gives NaN for every loss (and an infinite pixel count)
    and bfloat16 misses the float64 values by about 1e-2 to 5e-2.
    """

    @pytest.mark.parametrize('chunk', [fused.CPU_CHUNK_ELEMENTS, 1 << 14])
    @pytest.mark.parametrize('name', list(LOSSES))
    @pytest.mark.parametrize('dtype', HALF)
    def test_value_and_gradient(
        self, dtype: torch.dtype, name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Value: float32 arithmetic on the half inputs, so within 1e-4 of float64.
        # Gradient (of loss x N, as a gradient scaler would take it, so that values
        # are of order 1 and representable): stored once in the input dtype, then
        # combined over C classes for the logits, so within (C + 1) roundoffs of the
        # largest entry.
        monkeypatch.setattr(fused, 'CPU_CHUNK_ELEMENTS', chunk)
        log_q, prior = half_batch(dtype)
        x = log_q.clone().requires_grad_()
        ours = LOSSES[name](x, prior)
        (ours * PIXELS).backward()
        y = log_q.double().requires_grad_()
        naive = naive_loss(name, y, prior.double())
        (naive * PIXELS).backward()
        assert ours.item() == pytest.approx(naive.item(), abs=1e-4, rel=1e-4)
        assert x.grad is not None
        assert y.grad is not None
        expected = logit_gradient(y.grad, log_q)
        tolerance = (SHAPE[1] + 1) * roundoff(dtype) * float(expected.abs().max())
        torch.testing.assert_close(
            logit_gradient(x.grad, log_q), expected, rtol=0, atol=tolerance
        )
        assert ours.dtype == torch.float32  # like PyTorch's losses under autocast
        assert x.grad.dtype == dtype

    @pytest.mark.parametrize('dtype', HALF)
    def test_implied_posterior(self, dtype: torch.dtype) -> None:
        # r in the input dtype, within two roundoffs of the float64 posterior.
        log_q, prior = half_batch(dtype)
        log_r = implied_posterior(log_q, prior)
        exact = log_q.double()
        log_p = (prior / prior.sum(1, keepdim=True)).double().clamp_min(1e-9).log()
        dims = (0, 2, 3)
        expected = (exact - exact.logsumexp(dims, keepdim=True) + log_p).softmax(1)
        torch.testing.assert_close(
            log_r.double().exp(), expected, rtol=0, atol=2 * roundoff(dtype)
        )
        assert log_r.dtype == dtype

    @pytest.mark.parametrize('dtype', HALF)
    def test_class_mass(self, dtype: torch.dtype) -> None:
        log_q, _ = half_batch(dtype)
        log_mass, count = class_mass(log_q)
        assert count.item() == PIXELS
        expected = log_q.double().exp().mean((0, 2, 3)).log()
        torch.testing.assert_close(log_mass.double(), expected, rtol=0, atol=1e-5)
        assert log_mass.dtype == count.dtype == torch.float32

    @pytest.mark.parametrize('dtype', HALF)
    def test_running_denominator(self, dtype: torch.dtype) -> None:
        # The EMA path passes its own float32 denominator into the kernel, whose
        # gradient must come back in that dtype.
        log_q, prior = half_batch(dtype)
        results = []
        for values in (log_q, log_q.double()):
            loss = QRLoss('kl', denominator='ema', momentum=0.5)
            loss(values.flip(0), prior.flip(0))  # set the running estimate
            x = values.clone().requires_grad_()
            value = loss(x, prior)
            value.backward()
            assert x.grad is not None
            assert x.grad.dtype == values.dtype
            results.append(value.item())
        assert results[0] == pytest.approx(results[1], abs=1e-4, rel=1e-4)

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    @pytest.mark.parametrize('dtype', HALF)
    def test_collapsed_class_falls_back_in_float32(
        self, dtype: torch.dtype, name: str
    ) -> None:
        # A class with q = 0 everywhere takes the log-space fallback; it too runs
        # in float32 and returns the gradient in the input dtype.
        generator = torch.Generator().manual_seed(1)
        logits = torch.randn(3, 4, 8, 8, generator=generator)
        logits[:, 3] = -200.0
        log_q = logits.log_softmax(1).to(dtype)
        prior = torch.rand(3, 4, 8, 8, generator=generator)
        x = log_q.clone().requires_grad_()
        ours = LOSSES[name](x, prior)
        ours.backward()
        naive = naive_loss(name, log_q.double(), prior.double())
        assert ours.item() == pytest.approx(naive.item(), abs=1e-4, rel=1e-4)
        assert x.grad is not None
        assert bool(x.grad.isfinite().all())
        assert ours.dtype == torch.float32
        assert x.grad.dtype == dtype

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_prior_scale_beyond_float16(self, name: str) -> None:
        # Priors of any scale are renormalised; the old code checked them in the
        # dtype of log_q, so a valid float32 prior above 65504 became inf in float16
        # and was rejected as 'invalid prior'.
        generator = torch.Generator().manual_seed(2)
        log_q = torch.randn(3, 4, 5, 5, generator=generator).log_softmax(1)
        prior = torch.rand(3, 4, 5, 5, generator=generator) + 0.1
        half = log_q.half()
        scaled = LOSSES[name](half, prior * 1e6)
        expected = LOSSES[name](half, prior)
        assert scaled.item() == pytest.approx(expected.item(), abs=1e-5, rel=1e-5)

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    @pytest.mark.parametrize('dtype', HALF)
    def test_uint8_prior_matches_textbook(self, dtype: torch.dtype, name: str) -> None:
        # Half q sums to 1 only up to rounding; QR's log ψ (5.5 for uint8 priors)
        # must not turn that into an error of about 1e-3 (within 1e-4 of float64).
        generator = torch.Generator().manual_seed(3)
        log_q = torch.randn(4, 4, 16, 16, generator=generator).log_softmax(1)
        log_q = log_q.to(dtype)
        prior = torch.rand(4, 4, 16, 16, generator=generator).softmax(1)
        stored = (prior * 254).round().to(torch.uint8) + 1
        ours = LOSSES[name](log_q, stored)
        naive = naive_loss(name, log_q.double(), stored.double())
        assert ours.item() == pytest.approx(naive.item(), abs=1e-4, rel=1e-4)


class TestWithoutHostDecisions:
    """With prior checks off, the kernel decides nothing on the host: same results."""

    @staticmethod
    def loss_and_gradient(
        name: str, log_q: Tensor, prior: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        leaf = log_q.detach().requires_grad_()
        loss = LOSSES[name](leaf, prior, mask=mask)
        loss.backward()
        assert leaf.grad is not None
        return loss.detach(), logit_gradient(leaf.grad, leaf.detach())

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    @pytest.mark.parametrize('collapsed', [False, True])
    def test_equal_to_the_checked_kernel(self, name: str, collapsed: bool) -> None:
        generator = torch.Generator().manual_seed(1)
        logits = torch.randn(3, 4, 20, 20, generator=generator, dtype=torch.float64)
        if collapsed:
            logits[:, 2] = -800  # class 2's probabilities underflow everywhere
        log_q = logits.log_softmax(1)
        prior = torch.rand(3, 4, 20, 20, generator=generator, dtype=torch.float64)
        prior[prior < 0.2] = 0
        prior[:, 1] += 0.01
        mask = torch.rand(3, 20, 20, generator=generator) > 0.1
        checked = self.loss_and_gradient(name, log_q, prior, mask)
        with fused.prior_checks(False):
            unchecked = self.loss_and_gradient(name, log_q, prior, mask)
        torch.testing.assert_close(unchecked[0], checked[0], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(unchecked[1], checked[1], rtol=1e-7, atol=1e-9)

import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor
from torchgeo.losses import QRLoss as TorchGeoQRLoss
from torchgeo.losses import RQLoss as TorchGeoRQLoss

import torchgeo_lsr._fused as fused
from torchgeo_lsr.losses import (
    CELoss,
    NLLUnionLoss,
    QRLoss,
    RQLoss,
    ce_loss,
    class_mass,
    implied_posterior,
    nll_union_loss,
    qr_loss,
    rq_loss,
)

LossFn = Callable[..., Tensor]

LOSSES: dict[str, LossFn] = {
    'ce': ce_loss,
    'nll_union': nll_union_loss,
    'qr_kl': lambda log_q, prior, **kw: qr_loss(log_q, prior, 'kl', **kw),
    'qr_free_energy': lambda log_q, prior, **kw: qr_loss(
        log_q, prior, 'free_energy', **kw
    ),
    'rq': rq_loss,
}

# REFERENCE §1.8 (computed from the formulas, independent of any implementation).
LOGITS = [[2, 0.5, -1], [0, 1, 0], [-0.5, 0.2, 1.5], [1, 1, 1]]
PRIOR = [[0.5, 0.5, 0], [0.2, 0.3, 0.5], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]]
EXPECTED_Q = [
    [0.785597, 0.175290, 0.039113],
    [0.211942, 0.576117, 0.211942],
    [0.096128, 0.193578, 0.710294],
    [1 / 3, 1 / 3, 1 / 3],
]
EXPECTED_R = [
    [0.800588, 0.199412, 0.0],
    [0.120378, 0.547920, 0.331702],
    [0.0, 0.0, 1.0],
    [0.310703, 0.346841, 0.342457],
]
EXPECTED_PER_INSTANCE = {
    'ce': [0.991311, 1.251445, 0.342076, 1.098612],
    'nll_union': [0.733045, 1.135709, 0.342076, 1.098612],
    'qr_kl': [0.741434, 0.053866, 5.668464, 0.001194],
    'rq': [0.040843, 0.052988, 0.342076, 0.001180],
}
EXPECTED_MEAN = {
    'ce': 0.920861,
    'nll_union': 0.827361,
    'qr_kl': 1.616239,
    'rq': 0.109272,
    'qr_free_energy': 1.342741,
}


def reference_vectors() -> tuple[Tensor, Tensor]:
    logits = torch.tensor(LOGITS, dtype=torch.float64)
    return logits.log_softmax(1), torch.tensor(PRIOR, dtype=torch.float64)


def naive_loss(name: str, log_q: Tensor, prior: Tensor, eps: float = 1e-9) -> Tensor:
    """Textbook formulas of REFERENCE §1.2-1.3, written independently of the package.

    The prior is floored at ``eps`` before its log, except for RQ, whose terms with
    a zero prior vanish (r = 0 there): a negligible floor keeps it exact.
    """
    if name == 'rq':
        eps = 1e-300
    classes = log_q.shape[1]
    log_q = log_q.movedim(1, -1).reshape(-1, classes)
    prior = prior.movedim(1, -1).reshape(-1, classes)
    prior = prior / prior.sum(1, keepdim=True)
    log_p = prior.clamp_min(eps).log()
    q = log_q.exp()
    log_r = (log_q - log_q.logsumexp(0) + log_p).log_softmax(1)
    if name == 'ce':
        per = -(prior * log_q).sum(1)
    elif name == 'nll_union':
        per = -(log_q + log_p).logsumexp(1)
    elif name == 'qr_kl':
        per = (q * (log_q - log_r)).sum(1)
    elif name == 'rq':
        per = (log_r.exp() * (log_r - log_q)).sum(1)
    else:
        q_bar = q.mean(0)
        return (q_bar * q_bar.log()).sum() - (q * log_p).sum(1).mean()
    return per.mean()


def random_batch(
    shape: tuple[int, ...] = (3, 4, 6, 5), dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=generator, dtype=dtype) * 2
    prior = torch.rand(shape, generator=generator, dtype=dtype)
    prior[prior < 0.2] = 0  # priors with zeros, as from partial labels
    prior[:, 0] += 0.01  # every row has some mass
    return logits, prior


class TestReferenceVectors:
    def test_q_and_r(self) -> None:
        log_q, prior = reference_vectors()
        torch.testing.assert_close(
            log_q.exp(),
            torch.tensor(EXPECTED_Q, dtype=torch.float64),
            atol=1e-6,
            rtol=0,
        )
        r = implied_posterior(log_q, prior).exp()
        torch.testing.assert_close(
            r, torch.tensor(EXPECTED_R, dtype=torch.float64), atol=1e-6, rtol=0
        )

    def test_argmax(self) -> None:
        log_q, prior = reference_vectors()
        assert log_q.argmax(1).tolist() == [0, 1, 2, 0]
        assert implied_posterior(log_q, prior).argmax(1).tolist() == [0, 1, 2, 1]

    @pytest.mark.parametrize('name', list(EXPECTED_MEAN))
    def test_mean(self, name: str) -> None:
        log_q, prior = reference_vectors()
        value = LOSSES[name](log_q, prior)
        assert value.item() == pytest.approx(EXPECTED_MEAN[name], abs=1e-6)

    @pytest.mark.parametrize('name', list(EXPECTED_PER_INSTANCE))
    def test_per_instance(self, name: str) -> None:
        # One instance at a time through the mask, with the whole batch's
        # denominator passed explicitly where the loss uses one.
        log_q, prior = reference_vectors()
        log_mass, _ = class_mass(log_q)
        for i, expected in enumerate(EXPECTED_PER_INSTANCE[name]):
            mask = torch.arange(4) == i
            kwargs = {'mask': mask}
            if name in ('qr_kl', 'rq'):
                kwargs['log_class_mass'] = log_mass
            value = LOSSES[name](log_q, prior, **kwargs)
            assert value.item() == pytest.approx(expected, abs=1e-6)


class TestAgainstNaive:
    @pytest.mark.parametrize('name', list(LOSSES))
    @pytest.mark.parametrize('shape', [(7, 4), (3, 4, 6, 5), (2, 3, 2, 3, 4)])
    def test_value_and_gradient(self, name: str, shape: tuple[int, ...]) -> None:
        logits, prior = random_batch(shape)
        logits.requires_grad_()
        ours = LOSSES[name](logits.log_softmax(1), prior)
        (grad_ours,) = torch.autograd.grad(ours, logits)
        naive = naive_loss(name, logits.log_softmax(1), prior)
        (grad_naive,) = torch.autograd.grad(naive, logits)
        torch.testing.assert_close(ours, naive)
        torch.testing.assert_close(grad_ours, grad_naive)

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    def test_gradcheck(self, name: str) -> None:
        logits, prior = random_batch((2, 3, 3, 2))
        logits.requires_grad_()
        assert torch.autograd.gradcheck(
            lambda x: LOSSES[name](x.log_softmax(1), prior), (logits,)
        )

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    def test_chunking_does_not_change_results(
        self, name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        logits, prior = random_batch((5, 4, 9, 7), dtype=torch.float32)
        mask = torch.rand(5, 9, 7, generator=torch.Generator().manual_seed(1)) > 0.2
        results = []
        for elements in (1 << 30, 64, 1000):
            monkeypatch.setattr(fused, 'CPU_CHUNK_ELEMENTS', elements)
            x = logits.clone().requires_grad_()
            value = LOSSES[name](x.log_softmax(1), prior, mask=mask)
            value.backward()
            results.append((value.detach(), x.grad))
        for value, grad in results[1:]:
            torch.testing.assert_close(value, results[0][0])
            torch.testing.assert_close(grad, results[0][1])


class TestTorchGeoAgreement:
    """TorchGeo's QRLoss is our free-energy QR and its RQLoss is our RQ."""

    @pytest.fixture
    def batch(self) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(3)
        logits = torch.randn(4, 5, 16, 16, generator=generator, dtype=torch.float64)
        prior = torch.randn(4, 5, 16, 16, generator=generator).softmax(1).double()
        return logits, prior

    def test_qr(self, batch: tuple[Tensor, Tensor]) -> None:
        logits, prior = batch
        x = logits.clone().requires_grad_()
        ours = qr_loss(x.log_softmax(1), prior, 'free_energy')
        ours.backward()
        y = logits.clone().requires_grad_()
        theirs = TorchGeoQRLoss()(y.softmax(1), prior)
        theirs.backward()
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-8)

    def test_rq(self, batch: tuple[Tensor, Tensor]) -> None:
        logits, prior = batch
        x = logits.clone().requires_grad_()
        ours = rq_loss(x.log_softmax(1), prior)
        ours.backward()
        y = logits.clone().requires_grad_()
        theirs = TorchGeoRQLoss()(y.softmax(1), prior)
        theirs.backward()
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-8)

    def test_kl_form_differs(self, batch: tuple[Tensor, Tensor]) -> None:
        # The KL form adds mean log Z_i (+ log N): it is not TorchGeo's QRLoss.
        logits, prior = batch
        kl = qr_loss(logits.log_softmax(1), prior, 'kl')
        theirs = TorchGeoQRLoss()(logits.softmax(1), prior)
        assert abs(kl.item() - theirs.item()) > 1e-3


class TestRelations:
    def test_rq_equals_ce_for_one_hot_priors(self) -> None:
        generator = torch.Generator().manual_seed(0)
        logits = torch.randn(3, 4, 5, 5, generator=generator, dtype=torch.float64)
        labels = torch.randint(0, 4, (3, 5, 5), generator=generator)
        prior = torch.nn.functional.one_hot(labels, 4).movedim(-1, 1).double()
        x = logits.clone().requires_grad_()
        rq = rq_loss(x.log_softmax(1), prior)
        rq.backward()
        y = logits.clone().requires_grad_()
        ce = torch.nn.functional.cross_entropy(y, labels)
        ce.backward()
        torch.testing.assert_close(rq, ce, rtol=0, atol=1e-7)
        torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=1e-7)

    @staticmethod
    def symmetric_partial_label_batch() -> tuple[Tensor, Tensor, Tensor]:
        # Every row appears with all cyclic class shifts, so the class totals are
        # exactly uniform; priors are uniform over a set of allowed labels.
        generator = torch.Generator().manual_seed(0)
        logits = torch.randn(6, 4, generator=generator, dtype=torch.float64)
        allowed = torch.rand(6, 4, generator=generator) > 0.5
        allowed[:, 0] = True
        shifted_logits = torch.cat([logits.roll(k, 1) for k in range(4)])
        shifted_allowed = torch.cat([allowed.roll(k, 1) for k in range(4)])
        prior = shifted_allowed.double()
        return shifted_logits, prior / prior.sum(1, keepdim=True), shifted_allowed

    def test_rq_and_nll_union_with_uniform_totals(self) -> None:
        logits, prior, allowed = self.symmetric_partial_label_batch()
        log_q = logits.log_softmax(1)
        log_mass, _ = class_mass(log_q)
        torch.testing.assert_close(log_mass, torch.full((4,), -math.log(4)).double())
        # RQ = NLL + Σ r log p = NLL - mean log |L_i| for partial-label priors.
        offset = allowed.sum(1).double().log().mean()
        rq = rq_loss(log_q, prior)
        nll = nll_union_loss(log_q, prior)
        torch.testing.assert_close(rq, nll - offset, rtol=0, atol=1e-7)

    def test_rq_and_nll_union_gradients_with_fixed_uniform_totals(self) -> None:
        logits, prior, _ = self.symmetric_partial_label_batch()
        uniform = torch.full((4,), -math.log(4), dtype=torch.float64)
        x = logits.clone().requires_grad_()
        rq_loss(x.log_softmax(1), prior, log_class_mass=uniform).backward()
        y = logits.clone().requires_grad_()
        nll_union_loss(y.log_softmax(1), prior).backward()
        torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=1e-7)

    def test_free_energy_identity(self) -> None:
        # mean KL(q||r) = free energy + log N + mean log Z_i (REFERENCE §1.2).
        log_q, prior = reference_vectors()
        log_p = prior.clamp_min(1e-9).log()
        log_z = (log_q - log_q.logsumexp(0) + log_p).logsumexp(1)
        kl = qr_loss(log_q, prior, 'kl')
        free_energy = qr_loss(log_q, prior, 'free_energy')
        torch.testing.assert_close(kl, free_energy + math.log(4) + log_z.mean())


class TestPriorHandling:
    @pytest.mark.parametrize('name', list(LOSSES))
    def test_unnormalised_priors_are_renormalised(self, name: str) -> None:
        logits, prior = random_batch()
        scale = torch.rand(3, 1, 6, 5, dtype=torch.float64) * 100 + 0.5
        normalised = LOSSES[name](logits.log_softmax(1), prior)
        scaled = LOSSES[name](logits.log_softmax(1), prior * scale)
        torch.testing.assert_close(normalised, scaled)

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_uint8_priors(self, name: str) -> None:
        logits, prior = random_batch(dtype=torch.float32)
        stored = (prior / prior.sum(1, keepdim=True) * 254).round().to(torch.uint8)
        stored[:, 0] += 1  # no all-zero rows after rounding
        expected = LOSSES[name](logits.log_softmax(1), stored.float())
        assert LOSSES[name](logits.log_softmax(1), stored).item() == pytest.approx(
            expected.item(), rel=1e-6
        )

    @pytest.mark.parametrize('name', list(LOSSES))
    @pytest.mark.parametrize(
        ('value', 'message'),
        [(-0.5, 'negative'), (math.nan, 'NaN'), (math.inf, 'infinite'), (0.0, 'zero')],
    )
    def test_invalid_priors_raise(self, name: str, value: float, message: str) -> None:
        logits, prior = random_batch()
        if value == 0.0:
            prior[1, :, 2, 3] = 0.0
        else:
            prior[1, 2, 2, 3] = value
        with pytest.raises(ValueError, match='invalid prior'):
            LOSSES[name](logits.log_softmax(1), prior)

    def test_error_names_the_problem(self) -> None:
        logits, prior = random_batch()
        prior[0, 1, 0, 0] = -1.0
        with pytest.raises(ValueError, match='1 with negative values'):
            ce_loss(logits.log_softmax(1), prior)

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_shape_mismatch(self, name: str) -> None:
        logits, prior = random_batch()
        with pytest.raises(ValueError, match='does not match'):
            LOSSES[name](logits.log_softmax(1), prior[:, :3])

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_bad_mask_shape(self, name: str) -> None:
        logits, prior = random_batch()
        with pytest.raises(ValueError, match='mask shape'):
            LOSSES[name](logits.log_softmax(1), prior, mask=torch.ones(3, 5, 6))

    @pytest.mark.parametrize('eps', [0.0, -1e-3, 1.0])
    def test_bad_eps(self, eps: float) -> None:
        logits, prior = random_batch()
        with pytest.raises(ValueError, match='eps'):
            rq_loss(logits.log_softmax(1), prior, eps=eps)
        with pytest.raises(ValueError, match='eps'):
            QRLoss(eps=eps)

    def test_bad_form_and_denominator(self) -> None:
        logits, prior = random_batch()
        with pytest.raises(ValueError, match='form'):
            qr_loss(logits.log_softmax(1), prior, 'forward')  # type: ignore[arg-type]
        with pytest.raises(ValueError, match='denominator'):
            RQLoss(denominator='running')  # type: ignore[arg-type]
        with pytest.raises(ValueError, match='momentum'):
            RQLoss(denominator='ema', momentum=1.0)

    def test_log_class_mass_shape(self) -> None:
        logits, prior = random_batch()
        with pytest.raises(ValueError, match='log_class_mass'):
            rq_loss(logits.log_softmax(1), prior, log_class_mass=torch.zeros(3))


class TestMaskAndFiniteness:
    @staticmethod
    def masked_batch() -> tuple[Tensor, Tensor, Tensor]:
        logits, prior = random_batch()
        mask = torch.rand(3, 6, 5, generator=torch.Generator().manual_seed(2)) > 0.3
        return logits, prior, mask

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_masked_pixels_change_nothing(self, name: str) -> None:
        logits, prior, mask = self.masked_batch()
        x = logits.clone().requires_grad_()
        value = LOSSES[name](x.log_softmax(1), prior, mask=mask)
        value.backward()
        # Garbage where masked: huge logits, NaN / negative / zero priors.
        garbage_logits = torch.where(mask[:, None], logits, 1e4)
        garbage_prior = prior.clone()
        garbage_prior[:, :2] = torch.where(mask[:, None], prior[:, :2], math.nan)
        garbage_prior[:, 2:] = torch.where(mask[:, None], prior[:, 2:], -3.0)
        y = garbage_logits.clone().requires_grad_()
        other = LOSSES[name](y.log_softmax(1), garbage_prior, mask=mask)
        other.backward()
        torch.testing.assert_close(value, other)
        assert y.grad is not None
        assert x.grad is not None
        torch.testing.assert_close(x.grad, y.grad)
        assert (y.grad.movedim(1, -1)[~mask] == 0).all()

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_mask_equals_dropping_instances(self, name: str) -> None:
        logits, prior, mask = self.masked_batch()
        flat_logits = logits.movedim(1, -1)[mask]
        flat_prior = prior.movedim(1, -1)[mask]
        masked = LOSSES[name](logits.log_softmax(1), prior, mask=mask)
        dropped = LOSSES[name](flat_logits.log_softmax(1), flat_prior)
        torch.testing.assert_close(masked, dropped)

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_mask_with_class_dim(self, name: str) -> None:
        logits, prior, mask = self.masked_batch()
        a = LOSSES[name](logits.log_softmax(1), prior, mask=mask)
        b = LOSSES[name](logits.log_softmax(1), prior, mask=mask[:, None])
        torch.testing.assert_close(a, b)

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_all_masked_gives_zero_and_finite_gradients(self, name: str) -> None:
        logits, prior = random_batch()
        prior[0] = 0  # all-zero rows, masked out
        x = logits.clone().requires_grad_()
        value = LOSSES[name](x.log_softmax(1), prior, mask=torch.zeros(3, 6, 5))
        value.backward()
        assert value.item() == 0
        assert x.grad is not None
        assert (x.grad == 0).all()

    @pytest.mark.parametrize('name', list(LOSSES))
    def test_zero_priors_give_finite_gradients(self, name: str) -> None:
        logits, _ = random_batch(dtype=torch.float32)
        labels = torch.randint(0, 4, (3, 6, 5))
        one_hot = torch.nn.functional.one_hot(labels, 4).movedim(-1, 1).float()
        x = (logits * 10).requires_grad_()  # confident, often wrong predictions
        value = LOSSES[name](x.log_softmax(1), one_hot)
        value.backward()
        assert torch.isfinite(value)
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    def test_collapsed_class_stays_finite(self, name: str) -> None:
        # A class whose probability underflows everywhere (float32 exp(-200) = 0).
        logits, prior = random_batch(dtype=torch.float32)
        logits[:, 3] = -200.0
        x = logits.clone().requires_grad_()
        value = LOSSES[name](x.log_softmax(1), prior)
        value.backward()
        assert torch.isfinite(value)
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()

    @pytest.mark.parametrize('name', ['qr_kl', 'qr_free_energy', 'rq'])
    @pytest.mark.parametrize('external', [False, True])
    def test_log_space_fallback_matches_fast_path(
        self, name: str, external: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        logits, prior, mask = self.masked_batch()
        kwargs: dict[str, object] = {'mask': mask}
        if external:
            kwargs['log_class_mass'] = torch.tensor([-1.0, -2.0, -1.5, -0.5]).double()
        results = []
        for underflow in (fused._UNDERFLOW, math.inf):  # inf forces the fallback
            monkeypatch.setattr(fused, '_UNDERFLOW', underflow)
            x = logits.clone().requires_grad_()
            value = LOSSES[name](x.log_softmax(1), prior, **kwargs)
            value.backward()
            results.append((value.detach(), x.grad))
        torch.testing.assert_close(results[0][0], results[1][0])
        torch.testing.assert_close(results[0][1], results[1][1])

    def test_implied_posterior_masked_is_uniform(self) -> None:
        logits, prior, mask = self.masked_batch()
        prior = torch.where(mask[:, None], prior, math.nan)
        log_r = implied_posterior(logits.log_softmax(1), prior, mask=mask)
        assert torch.isfinite(log_r).all()
        masked = log_r.movedim(1, -1)[~mask]
        torch.testing.assert_close(masked, torch.full_like(masked, -math.log(4)))


class TestModules:
    @pytest.mark.parametrize(
        ('module', 'name'),
        [
            (CELoss(), 'ce'),
            (NLLUnionLoss(), 'nll_union'),
            (QRLoss('kl'), 'qr_kl'),
            (QRLoss('free_energy'), 'qr_free_energy'),
            (RQLoss(), 'rq'),
        ],
    )
    def test_module_matches_function(self, module: torch.nn.Module, name: str) -> None:
        logits, prior = random_batch()
        mask = torch.rand(3, 6, 5) > 0.1
        log_q = logits.log_softmax(1)
        torch.testing.assert_close(
            module(log_q, prior, mask), LOSSES[name](log_q, prior, mask=mask)
        )

    def test_repr(self) -> None:
        assert "form='kl'" in repr(QRLoss())
        assert 'momentum=0.5' in repr(RQLoss(denominator='ema', momentum=0.5))


class TestEMA:
    @pytest.mark.parametrize('module', [QRLoss('kl'), QRLoss('free_energy'), RQLoss()])
    def test_momentum_zero_equals_batch(self, module: QRLoss | RQLoss) -> None:
        ema = type(module)(denominator='ema', momentum=0.0)
        if isinstance(module, QRLoss):
            ema = QRLoss(module.form, denominator='ema', momentum=0.0)
        for seed in range(2):  # the second call has a running estimate
            generator = torch.Generator().manual_seed(seed)
            logits = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64)
            prior = torch.rand(2, 3, 4, 4, generator=generator, dtype=torch.float64)
            x = logits.clone().requires_grad_()
            a = module(x.log_softmax(1), prior)
            a.backward()
            y = logits.clone().requires_grad_()
            b = ema(y.log_softmax(1), prior)
            b.backward()
            torch.testing.assert_close(a, b)
            torch.testing.assert_close(x.grad, y.grad)

    def test_running_estimate_follows_momentum(self) -> None:
        loss = RQLoss(denominator='ema', momentum=0.75)
        batches = [random_batch((2, 3, 4, 4))[0].log_softmax(1) for _ in range(1)]
        generator = torch.Generator().manual_seed(5)
        second = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64)
        batches.append(second.log_softmax(1))
        prior = torch.ones(2, 3, 4, 4, dtype=torch.float64)
        for log_q in batches:
            loss(log_q, prior)
        first_mass = batches[0].exp().mean((0, 2, 3))
        second_mass = batches[1].exp().mean((0, 2, 3))
        expected = 0.75 * first_mass + 0.25 * second_mass
        torch.testing.assert_close(loss.running_class_mass, expected)

    def test_running_estimate_is_used_detached(self) -> None:
        logits, prior = random_batch((2, 3, 4, 4))
        loss = QRLoss('kl', denominator='ema', momentum=0.9)
        loss(logits.log_softmax(1), prior)
        running = loss.running_class_mass.clone()
        x = logits.clone().requires_grad_()
        value = loss(x.log_softmax(1), prior)
        batch_mass = logits.softmax(1).mean((0, 2, 3))
        mixed = (0.9 * running + 0.1 * batch_mass).log()
        expected = qr_loss(logits.log_softmax(1), prior, 'kl', log_class_mass=mixed)
        torch.testing.assert_close(value, expected)
        value.backward()
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert not loss.running_class_mass.requires_grad

    def test_eval_mode_does_not_update(self) -> None:
        logits, prior = random_batch((2, 3, 4, 4))
        loss = RQLoss(denominator='ema')
        loss(logits.log_softmax(1), prior)
        before = loss.running_class_mass.clone()
        loss.eval()
        loss((logits * 3).log_softmax(1), prior)
        torch.testing.assert_close(loss.running_class_mass, before)

    def test_bad_prior_leaves_estimate_unchanged(self) -> None:
        logits, prior = random_batch((2, 3, 4, 4))
        loss = RQLoss(denominator='ema')
        loss(logits.log_softmax(1), prior)
        before = loss.running_class_mass.clone()
        prior[0, 0, 0, 0] = math.nan
        with pytest.raises(ValueError, match='invalid prior'):
            loss((logits * 3).log_softmax(1), prior)
        torch.testing.assert_close(loss.running_class_mass, before)

    def test_state_dict_round_trip(self, tmp_path: Path) -> None:
        logits, prior = random_batch((2, 3, 4, 4))
        loss = RQLoss(denominator='ema')
        loss(logits.log_softmax(1), prior)
        torch.save(loss.state_dict(), tmp_path / 'loss.pt')
        restored = RQLoss(denominator='ema')
        restored.load_state_dict(torch.load(tmp_path / 'loss.pt'))
        torch.testing.assert_close(restored.running_class_mass, loss.running_class_mass)
        torch.testing.assert_close(
            restored(logits.log_softmax(1), prior), loss(logits.log_softmax(1), prior)
        )

    def test_class_count_change_raises(self) -> None:
        logits, prior = random_batch((2, 3, 4, 4))
        loss = RQLoss(denominator='ema')
        loss(logits.log_softmax(1), prior)
        with pytest.raises(ValueError, match='classes'):
            loss(logits[:, :2].log_softmax(1), prior[:, :2])


# DDP: two CPU processes (gloo) must reproduce the single-process loss and gradients
# on the concatenated batch.


def _ddp_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv2d(2, 4, 3, padding=1).double()


def _ddp_batch() -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(4, 2, 6, 6, generator=generator, dtype=torch.float64)
    prior = torch.rand(4, 4, 6, 6, generator=generator, dtype=torch.float64)
    # Ranks see different class compositions; some pixels are nodata.
    prior[:2, 0] *= 5
    mask = torch.rand(4, 6, 6, generator=generator) > 0.15
    return images, prior, mask


DDP_LOSSES = ['qr_kl', 'qr_free_energy', 'rq', 'ce', 'nll_union', 'rq_ema']


def _ddp_loss(name: str) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    if name == 'rq_ema':
        module = RQLoss(denominator='ema', momentum=0.5)
        return lambda log_q, prior, mask: module(log_q, prior, mask)
    return lambda log_q, prior, mask: LOSSES[name](log_q, prior, mask=mask)


def _ddp_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size
    )
    try:
        images, prior, mask = _ddp_batch()
        part = slice(rank * 2, rank * 2 + 2)
        results = {}
        for name in DDP_LOSSES:
            model = torch.nn.parallel.DistributedDataParallel(_ddp_model())
            loss_fn = _ddp_loss(name)
            for _ in range(2):  # twice, so the EMA variant uses its running state
                model.zero_grad()
                log_q = model(images[part]).log_softmax(1)
                value = loss_fn(log_q, prior[part], mask[part])
                value.backward()
            results[name] = (
                value.detach(),
                [p.grad.clone() for p in model.parameters() if p.grad is not None],
            )
        torch.save(results, Path(out_dir) / f'rank{rank}.pt')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_equals_single_process(tmp_path: Path) -> None:
    world_size = 2
    mp.spawn(
        _ddp_worker,
        args=(world_size, str(tmp_path / 'init'), str(tmp_path)),
        nprocs=world_size,
        join=True,
    )
    images, prior, mask = _ddp_batch()
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(world_size)]
    for name in DDP_LOSSES:
        model = _ddp_model()
        loss_fn = _ddp_loss(name)
        for _ in range(2):
            model.zero_grad()
            value = loss_fn(model(images).log_softmax(1), prior, mask)
            value.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        for rank_value, rank_grads in (r[name] for r in ranks):
            torch.testing.assert_close(rank_value, value.detach(), msg=name)
            for rank_grad, grad in zip(rank_grads, grads, strict=True):
                torch.testing.assert_close(rank_grad, grad, msg=name)

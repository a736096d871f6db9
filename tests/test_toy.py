import json
from pathlib import Path

import pytest
import torch

from torchgeo_lsr.losses import ce_loss, qr_loss, rq_loss
from torchgeo_lsr.toy import (
    _TOY_LOSS_SPECS,
    TOY_LOSSES,
    ToyLoss,
    _build_toy_loss,
    make_toy_problem,
    run_toy_demo,
)


def test_problem_is_consistent() -> None:
    problem = make_toy_problem(num_classes=3, num_cells=10, points_per_cell=20)
    assert problem.features.shape == (200, 2)
    assert problem.prior.shape == (200, 3)
    torch.testing.assert_close(problem.prior.sum(1), torch.ones(200))
    torch.testing.assert_close(problem.cooccurrence.sum(0), torch.ones(3))
    # Every point's prior is the co-occurrence column of its cell's dominant class.
    for cell in range(10):
        members = problem.cells == cell
        dominant = problem.labels[members].bincount(minlength=3).argmax()
        torch.testing.assert_close(
            problem.prior[members], problem.cooccurrence[:, dominant].expand(20, 3)
        )


def test_problem_is_deterministic() -> None:
    a, b = make_toy_problem(seed=3), make_toy_problem(seed=3)
    torch.testing.assert_close(a.features, b.features)
    assert not torch.equal(a.features, make_toy_problem(seed=4).features)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match='two classes'):
        make_toy_problem(num_classes=1)


def test_demo_resolves_the_prior(tmp_path: Path) -> None:
    problem = make_toy_problem(num_cells=32, points_per_cell=32, seed=0)
    results = run_toy_demo(tmp_path, steps=200, problem=problem)
    prior = results['prior_argmax']
    qr, ce = results['qr'], results['ce']
    assert isinstance(prior, dict)
    assert isinstance(qr, dict)
    assert isinstance(ce, dict)
    # QR learns from the prior alone and beats the prior's argmax by far, and it
    # finds the minority class that cross-entropy on the soft prior misses.
    assert qr['q']['accuracy'] > prior['accuracy'] + 0.25
    assert qr['q']['rare_recall'] > ce['q']['rare_recall'] + 0.5
    saved = json.loads((tmp_path / 'toy_results.json').read_text())
    assert set(saved) == {'prior_argmax', *TOY_LOSSES}
    assert saved['qr']['q']['accuracy'] == pytest.approx(qr['q']['accuracy'])
    assert (tmp_path / 'toy.png').read_bytes().startswith(b'\x89PNG')


@pytest.mark.parametrize('name', TOY_LOSSES)
def test_each_demo_loss_is_the_factory_s(name: ToyLoss) -> None:
    # The demo's names map onto the one loss factory: qr_kl is QR in KL form.
    generator = torch.Generator().manual_seed(0)
    log_q = torch.randn(50, 4, generator=generator).log_softmax(1)
    prior = torch.rand(50, 4, generator=generator)
    expected = {
        'ce': ce_loss(log_q, prior),
        'qr': qr_loss(log_q, prior, 'free_energy'),
        'qr_kl': qr_loss(log_q, prior, 'kl'),
        'rq': rq_loss(log_q, prior),
    }
    torch.testing.assert_close(_build_toy_loss(name)(log_q, prior), expected[name])
    assert set(_TOY_LOSS_SPECS) == set(TOY_LOSSES)

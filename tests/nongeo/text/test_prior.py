"""The language-model prior: its arithmetic, prompts and the score cache."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.nongeo.text.common import TAXONOMY, FakeScorer
from torchgeo_lsr.nongeo.text.prior import (
    language_model_log_likelihoods,
    language_model_prior,
    prior_from_log_likelihoods,
)
from torchgeo_lsr.nongeo.text.taxonomy import load_taxonomy


def test_prior_arithmetic_with_fake_scorer() -> None:
    texts = ['alpha', 'beta', 'gamma']
    coarse = ['sports', 'sports', 'business']
    table = {
        ('alpha', 'tennis'): -3.0,
        ('alpha', 'golf'): -1.0,
        ('beta', 'tennis'): -6.0,
        ('beta', 'golf'): -1.0,
        ('gamma', 'stocks'): -2.0,
        ('gamma', 'energy'): -2.5,
        ('gamma', 'economy'): -4.0,
    }
    scorer = FakeScorer(table)
    ll = language_model_log_likelihoods(texts, coarse, TAXONOMY, scorer=scorer)
    # Only compatible pairs are scored, each prompt as "[text] Topic:" + " name".
    assert sorted(pair for call in scorer.calls for pair in call) == sorted(
        (f'{text} Topic:', f' {name}') for text, name in table
    )
    assert torch.isinf(ll[0, 2:]).all()
    assert torch.isinf(ll[2, :2]).all()
    assert ll[0, 0] == -3.0

    # The paper's recipe by hand: normalise, divide by class means, renormalise.
    scores = np.full((3, 5), -np.inf)
    for (text, name), value in table.items():
        scores[texts.index(text), load_taxonomy(TAXONOMY).fine.index(name)] = value
    p = np.exp(scores - scores.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    calibrated = p / p.mean(0)
    calibrated /= calibrated.sum(1, keepdims=True)

    prior = language_model_prior(texts, coarse, TAXONOMY, scorer=FakeScorer(table))
    assert prior.dtype == torch.float32
    np.testing.assert_allclose(prior.numpy(), calibrated, rtol=1e-6)
    assert torch.allclose(prior.sum(1), torch.ones(3))
    assert (prior[0, 2:] == 0).all()
    assert (prior[2, :2] == 0).all()
    raw = language_model_prior(
        texts, coarse, TAXONOMY, scorer=FakeScorer(table), calibrate=False
    )
    np.testing.assert_allclose(raw.numpy(), p, rtol=1e-6)
    # The model prefers the short name 'golf' everywhere; relative to its mean,
    # 'alpha' is a tennis document.
    assert raw[:2].argmax(1).tolist() == [1, 1]
    assert prior[:2].argmax(1).tolist() == [0, 1]


def test_prior_from_log_likelihoods_errors() -> None:
    with pytest.raises(ValueError, match='without any compatible class'):
        prior_from_log_likelihoods(torch.tensor([[0.0, -math.inf], [-math.inf] * 2]))
    with pytest.raises(ValueError, match='NaN'):
        prior_from_log_likelihoods(torch.tensor([[0.0, math.nan]]))
    with pytest.raises(ValueError, match=r'\(N, F\)'):
        prior_from_log_likelihoods(torch.zeros(3))


def test_prompt_truncation_and_whitespace() -> None:
    scorer = FakeScorer()
    language_model_log_likelihoods(
        ['  Stocks   fell\nsharply today  '],
        ['business'],
        TAXONOMY,
        scorer=scorer,
        max_chars=11,
    )
    assert {prompt for prompt, _ in scorer.calls[0]} == {'Stocks fell Topic:'}
    with pytest.raises(ValueError, match='must contain'):
        language_model_log_likelihoods(
            ['x'], ['business'], TAXONOMY, scorer=scorer, prompt='Topic:'
        )
    with pytest.raises(ValueError, match='2 documents but 1'):
        language_model_log_likelihoods(['a', 'b'], ['sports'], TAXONOMY, scorer=scorer)
    with pytest.raises(ValueError, match='not in the taxonomy'):
        language_model_prior(['a'], ['arts'], TAXONOMY, scorer=scorer)


def test_cache_scores_only_missing_pairs(tmp_path: Path) -> None:
    texts = ['alpha', 'beta', 'gamma']
    coarse = ['sports', 'sports', 'business']
    table = {('alpha', 'tennis'): -1.0, ('gamma', 'energy'): -0.5}
    first = FakeScorer(table)
    prior = language_model_prior(
        texts, coarse, TAXONOMY, 'fake-lm', cache_dir=tmp_path, scorer=first
    )
    assert sum(len(call) for call in first.calls) == 7
    assert len(list(tmp_path.glob('*.json'))) == 1

    again = FakeScorer(table)
    assert torch.equal(
        language_model_prior(
            texts, coarse, TAXONOMY, 'fake-lm', cache_dir=tmp_path, scorer=again
        ),
        prior,
    )
    assert again.calls == []

    # A new document costs only its own pairs; other names or prompts miss.
    more = FakeScorer(table)
    language_model_prior(
        [*texts, 'delta'],
        [*coarse, 'sports'],
        TAXONOMY,
        'fake-lm',
        cache_dir=tmp_path,
        scorer=more,
    )
    assert [sorted(call) for call in more.calls] == [
        [('delta Topic:', ' golf'), ('delta Topic:', ' tennis')]
    ]
    other = FakeScorer(table)
    language_model_prior(
        texts, coarse, TAXONOMY, 'other-lm', cache_dir=tmp_path, scorer=other
    )
    assert sum(len(call) for call in other.calls) == 7
    with pytest.raises(ValueError, match='model_path as its name'):
        language_model_prior(texts, coarse, TAXONOMY, cache_dir=tmp_path, scorer=more)


def test_unreadable_cache_is_recomputed(tmp_path: Path) -> None:
    language_model_prior(
        ['a'], ['sports'], TAXONOMY, 'fake-lm', cache_dir=tmp_path, scorer=FakeScorer()
    )
    (cache,) = tmp_path.glob('*.json')
    cache.write_text('{not json')
    scorer = FakeScorer()
    with pytest.warns(UserWarning, match='unreadable'):
        language_model_prior(
            ['a'], ['sports'], TAXONOMY, 'fake-lm', cache_dir=tmp_path, scorer=scorer
        )
    assert len(scorer.calls) == 1
    assert json.loads(cache.read_text())['model'] == 'fake-lm'

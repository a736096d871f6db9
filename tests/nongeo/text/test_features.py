"""Character-trigram features and their sparse dataset."""

import pytest
import torch

from torchgeo_lsr.nongeo.text.features import (
    TRIGRAM_FEATURES,
    SparseFeatureDataset,
    trigram_features,
)


def trigram(word: str) -> int:
    a, b, c = (ord(ch) - ord('a') for ch in word)
    return 676 * a + 26 * b + c


def test_trigram_counts_exact() -> None:
    features = trigram_features(['Abc abcd!', 'ab 12x', 'café', ''])
    assert features.layout == torch.sparse_csr
    assert features.shape == (4, TRIGRAM_FEATURES) == (4, 17_576)
    dense = features.to_dense()
    expected = torch.zeros(TRIGRAM_FEATURES)
    expected[trigram('abc')] = 2  # case-insensitive, once per word
    expected[trigram('bcd')] = 1
    assert torch.equal(dense[0], expected)
    # Spaces, digits and non-ASCII letters break trigrams.
    assert dense[1].sum() == 0
    assert dense[2].nonzero().flatten().tolist() == [trigram('caf')]
    assert dense[3].sum() == 0


def test_trigram_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match='document 1'):
        trigram_features(['fine', 3])  # type: ignore[list-item]


def test_sparse_dataset_densifies_rows() -> None:
    features = trigram_features(['the cat sat', 'dogs', 'zzz zzzz'])
    prior = torch.rand(3, 2)
    dataset = SparseFeatureDataset(features, torch.tensor([2, 0]), prior=prior)
    assert len(dataset) == 2
    sample = dataset[0]
    assert torch.equal(sample['image'], features.to_dense()[2])
    assert sample['image'][trigram('zzz')] == 3
    assert torch.equal(sample['prior'], prior[2])
    with pytest.raises(ValueError, match='rows'):
        SparseFeatureDataset(features, prior=torch.rand(2, 2))

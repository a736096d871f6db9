"""Coarse-to-fine text classification with a language-model prior (REFERENCE §4.3).

Documents carry only a coarse label (``sports``); each coarse class names its fine
classes (``tennis``, ``golf``, ...) in a *taxonomy*. The prior of document i over
the fine classes comes from a causal language model, as in the paper's New York
Times experiment:

1. score every fine name ``l`` compatible with the document's coarse label by the
   model's log-likelihood of the name after the prompt ``"[text] Topic: "`` (the
   sum of the name's token log-probabilities); incompatible names get
   probability 0;
2. normalise over ``l``: ``p_i(l)``;
3. divide ``p_i(l)`` by the mean of ``p_i(l)`` over all documents (this undoes the
   model's preference for short or frequent names), then renormalise.

A logistic regression (linear layer, softmax) on counts of alphabetic character
trigrams (26^3 = 17,576 features) is then trained against the prior with RQ (or
CE, QR, NLL of the union) and scored on fine labels where they are known.

* :mod:`.taxonomy`: :func:`load_taxonomy`, :class:`Taxonomy`: coarse -> fine
  names (YAML or JSON);
* :mod:`.features`: :func:`trigram_features`: sparse trigram counts, and
  :class:`SparseFeatureDataset`;
* :mod:`.language_model`: :class:`PairScorer`, and the default scorer
  :class:`CausalLMScorer` on a local Hugging Face causal LM (a folder, or a GGUF
  file; never the hub);
* :mod:`.prior`: :func:`language_model_prior`: the prior, with the language
  model's scores cached on disk per (prompt, name) pair, so that only missing
  pairs are computed; any scorer can be injected;
* :mod:`.documents`: :func:`read_documents`, :func:`load_coarse2fine_nyt`:
  documents tables;
* :mod:`.datamodule`, :mod:`.task`: :class:`CoarseToFineDataModule`,
  :class:`CoarseToFineClassification`: the data module and task of
  ``conf/nongeo/coarse_to_fine.yaml``.
"""

from .datamodule import CoarseToFineDataModule
from .documents import load_coarse2fine_nyt, read_documents
from .features import (
    TRIGRAM_FEATURES,
    FeatureScaling,
    SparseFeatureDataset,
    trigram_features,
)
from .language_model import SMOLLM2, CausalLMScorer, PairScorer, resolve_language_model
from .prior import (
    DEFAULT_PROMPT,
    language_model_log_likelihoods,
    language_model_prior,
    prior_from_log_likelihoods,
)
from .task import CoarseToFineClassification, f1_scores
from .taxonomy import NYT_TAXONOMY, Taxonomy, TaxonomySource, load_taxonomy

__all__ = (
    'DEFAULT_PROMPT',
    'NYT_TAXONOMY',
    'SMOLLM2',
    'TRIGRAM_FEATURES',
    'CausalLMScorer',
    'CoarseToFineClassification',
    'CoarseToFineDataModule',
    'FeatureScaling',
    'PairScorer',
    'SparseFeatureDataset',
    'Taxonomy',
    'TaxonomySource',
    'f1_scores',
    'language_model_log_likelihoods',
    'language_model_prior',
    'load_coarse2fine_nyt',
    'load_taxonomy',
    'prior_from_log_likelihoods',
    'read_documents',
    'resolve_language_model',
    'trigram_features',
)

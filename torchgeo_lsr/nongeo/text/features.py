"""Alphabetic character-trigram features as sparse CSR rows, and their dataset.

A document becomes its counts of the 26^3 = 17,576 trigrams of the letters a-z
(:func:`trigram_features`), a row of a sparse CSR matrix; :func:`_scale_rows`
optionally rescales the rows (:data:`FeatureScaling`), and
:class:`SparseFeatureDataset` densifies one row per sample.
"""

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = (
    'TRIGRAM_FEATURES',
    'FeatureScaling',
    'SparseFeatureDataset',
    'trigram_features',
)

#: Alphabetic character trigrams: the number of features.
TRIGRAM_FEATURES = 26**3

#: How trigram counts are scaled before the linear layer: raw counts (the
#: paper), ``log(1 + count)``, or rows of unit L1 or L2 norm.
FeatureScaling = Literal['counts', 'log1p', 'l1', 'l2']


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

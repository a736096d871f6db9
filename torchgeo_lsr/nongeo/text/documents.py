"""Documents tables: a text, a coarse label and an optional fine label per row.

:func:`read_documents` reads CSV, TSV, JSON lines, JSON records or pandas pickle
files, or Coarse2Fine's NYT folder (:func:`load_coarse2fine_nyt`), as pandas
DataFrames.
"""

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .taxonomy import TaxonomySource, _key, load_taxonomy

__all__ = ('load_coarse2fine_nyt', 'read_documents')


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

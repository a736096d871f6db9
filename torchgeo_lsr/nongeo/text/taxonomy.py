"""Taxonomies: the coarse classes of a corpus and the fine classes of each.

Labels are matched ignoring case, underscores and repeated spaces, so a
dataset's ``stocks_and_bonds`` is a taxonomy's ``stocks and bonds``.
Taxonomies are read from YAML or JSON files, mappings, or ``'nyt'``
(:data:`NYT_TAXONOMY`, the label map of Coarse2Fine's New York Times corpus).
"""

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import Tensor

__all__ = ('NYT_TAXONOMY', 'Taxonomy', 'TaxonomySource', 'load_taxonomy')

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

"""Class schemes: label codes, names, colours, nodata and ignored codes.

A :class:`ClassScheme` says what the integer codes of a label raster mean. Everything
that reads labels (co-occurrence, priors, metrics, plots) goes through a scheme, so
user-made coarse maps with their own codes work like NLCD. Built-in schemes:

* ``nlcd``: NLCD's 16 CONUS classes; 0 and 128 are nodata.
* ``chesapeake``: Chesapeake Conservancy land cover, 4 task classes; barren (4) and
  both impervious codes (5, 6) count as impervious; 0 and 15 are nodata.
* ``enviroatlas``: EPA EnviroAtlas MULC, 5 task classes; shrubs (52) count as trees
  (as in the paper's priors); unclassified (0), agriculture, orchards and wetlands
  are ignored.
* ``enviroatlas-eval``: the same 5 classes with shrubs ignored, as the paper scored
  EnviroAtlas (shrubs are trees only in priors and learned-prior targets).

Schemes can also be built from a list of codes (:func:`generic_scheme`) or loaded
from a YAML file (:func:`load_scheme`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ('SCHEMES', 'ClassScheme', 'generic_scheme', 'get_scheme', 'load_scheme')


@dataclass(frozen=True)
class ClassScheme:
    """What the codes of a label raster mean.

    Attributes:
        name: short identifier.
        codes: the code of each class, in class-index order.
        names: human-readable class names.
        colors: ``#rrggbb`` colour per class.
        nodata: codes meaning "no data" (excluded everywhere).
        ignore: valid codes outside the task (excluded from training and metrics).
        aliases: extra codes counted as a class, ``{code: class code}`` (e.g. barren
            counted as impervious).
    """

    name: str
    codes: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...] = ()
    nodata: tuple[int, ...] = ()
    ignore: tuple[int, ...] = ()
    aliases: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check that the scheme is consistent.

        Raises:
            ValueError: On duplicate codes, mismatched lengths or bad aliases.
        """
        if not self.codes:
            raise ValueError(f'scheme {self.name!r} has no classes')
        if len(self.names) != len(self.codes):
            raise ValueError(
                f'scheme {self.name!r}: {len(self.codes)} codes but '
                f'{len(self.names)} names'
            )
        if self.colors and len(self.colors) != len(self.codes):
            raise ValueError(
                f'scheme {self.name!r}: {len(self.codes)} codes but '
                f'{len(self.colors)} colours'
            )
        special = [*self.codes, *self.nodata, *self.ignore, *self.aliases]
        if len(set(special)) != len(special):
            raise ValueError(
                f'scheme {self.name!r}: a code appears twice among classes, nodata, '
                'ignored codes and aliases'
            )
        unknown = sorted(set(self.aliases.values()) - set(self.codes))
        if unknown:
            raise ValueError(
                f'scheme {self.name!r}: aliases point to unknown codes {unknown}'
            )
        if any(code < 0 for code in special):
            raise ValueError(f'scheme {self.name!r}: codes must be non-negative')

    @property
    def num_classes(self) -> int:
        """Number of task classes."""
        return len(self.codes)

    def class_index(self, code: int) -> int:
        """Class index of a class code or alias.

        Args:
            code: a class code or alias.

        Returns:
            The class index.

        Raises:
            KeyError: If ``code`` is not a class or alias of this scheme.
        """
        code = self.aliases.get(code, code)
        if code not in self.codes:
            raise KeyError(f'code {code} is not a class of scheme {self.name!r}')
        return self.codes.index(code)

    def resolve(self, label: int | str) -> int:
        """Class index from a class code or a (case-insensitive) class name.

        Args:
            label: a code, or a class name.

        Returns:
            The class index.

        Raises:
            KeyError: If no class has that code or name.
        """
        if isinstance(label, str) and not label.strip().lstrip('-').isdigit():
            lowered = [name.lower() for name in self.names]
            if label.lower() not in lowered:
                raise KeyError(
                    f'no class named {label!r} in scheme {self.name!r} '
                    f'(classes: {", ".join(self.names)})'
                )
            return lowered.index(label.lower())
        return self.class_index(int(label))

    def lookup_table(self, max_code: int) -> np.ndarray:
        """Table from code to class index; nodata, ignored and unknown codes give -1.

        Args:
            max_code: largest code the table must cover.

        Returns:
            An int16 array of length ``max(max_code, largest scheme code) + 1``.
        """
        size = max(max_code, *self.codes, *self.nodata, *self.ignore, *self.aliases)
        table = np.full(size + 1, -1, dtype=np.int16)
        for index, code in enumerate(self.codes):
            table[code] = index
        for alias, code in self.aliases.items():
            table[alias] = self.codes.index(code)
        return table

    def to_index(self, labels: np.ndarray) -> np.ndarray:
        """Map a raster of codes to class indices (-1 for anything else).

        Args:
            labels: integer array of codes.

        Returns:
            int16 array of the same shape: class index, or -1 for nodata, ignored,
            negative and unknown codes.
        """
        labels = np.asarray(labels)
        if labels.size == 0:
            return np.zeros(labels.shape, dtype=np.int16)
        if labels.dtype.kind == 'f':
            finite = np.isfinite(labels)
            labels = np.where(finite, labels, -1).astype(np.int64)
        table = self.lookup_table(int(labels.max(initial=0)))
        index: np.ndarray = table[np.clip(labels, 0, None)]
        index[labels < 0] = -1
        return index

    def unknown_codes(self, codes: Sequence[int] | np.ndarray) -> list[int | float]:
        """Codes that are neither classes, aliases, nodata nor ignored.

        Args:
            codes: codes seen in a raster (NaN, a float raster's nodata, is
                skipped; a non-integer value is unknown).

        Returns:
            The unknown ones, sorted.
        """
        values = np.unique(np.asarray(codes))
        if values.dtype.kind == 'f':
            values = values[~np.isnan(values)]
        known = {*self.codes, *self.aliases, *self.nodata, *self.ignore}
        return sorted(
            int(v) if float(v).is_integer() else float(v)
            for v in values.tolist()
            if not (float(v).is_integer() and int(v) in known)
        )

    def check_codes(
        self, codes: Sequence[int] | np.ndarray, source: str, option: str
    ) -> None:
        """Refuse codes the scheme does not know (a raster in another encoding).

        Args:
            codes: codes seen in a raster.
            source: what holds them, for the message (e.g. ``label raster x.tif``).
            option: the setting that names this scheme, for the fix.

        Raises:
            ValueError: Naming the source, the unknown codes (the first eight,
                sorted) and the fix.
        """
        unknown = self.unknown_codes(codes)
        if unknown:
            shown = ', '.join(str(code) for code in unknown[:8])
            more = f', ... ({len(unknown)} codes)' if len(unknown) > 8 else ''
            raise ValueError(
                f'{source}: codes [{shown}{more}] are unknown to the scheme '
                f'{self.name!r} (neither classes, aliases, nodata nor ignored): set '
                f'{option} to the scheme of these codes (a built-in name or a YAML '
                "file), or list them in the scheme's classes, nodata or ignore"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for YAML/JSON).

        Returns:
            A dictionary accepted by :func:`load_scheme`.
        """
        return {
            'name': self.name,
            'classes': [
                {'code': code, 'name': name, **({'color': color} if color else {})}
                for code, name, color in zip(
                    self.codes,
                    self.names,
                    self.colors or [''] * len(self.codes),
                    strict=True,
                )
            ],
            'nodata': list(self.nodata),
            'ignore': list(self.ignore),
            'aliases': dict(self.aliases),
        }


def generic_scheme(
    codes: Sequence[int],
    names: Sequence[str] | None = None,
    nodata: Sequence[int] = (),
    ignore: Sequence[int] = (),
    name: str = 'generic',
) -> ClassScheme:
    """A scheme for any integer codes (the user's own coarse or fine map).

    Args:
        codes: class codes.
        names: class names (default: ``class <code>``).
        nodata: nodata codes.
        ignore: codes to ignore.
        name: scheme name.

    Returns:
        The scheme (colours from matplotlib's tab20).
    """
    # Lazy: matplotlib is slow to import and only generic schemes need its palette.
    import matplotlib

    palette = matplotlib.colormaps['tab20']
    return ClassScheme(
        name=name,
        codes=tuple(int(code) for code in codes),
        names=tuple(names) if names is not None else tuple(f'class {c}' for c in codes),
        colors=tuple(
            matplotlib.colors.to_hex(palette(i % 20)) for i in range(len(codes))
        ),
        nodata=tuple(int(code) for code in nodata),
        ignore=tuple(int(code) for code in ignore),
    )


NLCD = ClassScheme(
    name='nlcd',
    codes=(11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95),
    names=(
        'Open Water',
        'Perennial Ice/Snow',
        'Developed, Open Space',
        'Developed, Low Intensity',
        'Developed, Medium Intensity',
        'Developed, High Intensity',
        'Barren Land',
        'Deciduous Forest',
        'Evergreen Forest',
        'Mixed Forest',
        'Shrub/Scrub',
        'Grassland/Herbaceous',
        'Pasture/Hay',
        'Cultivated Crops',
        'Woody Wetlands',
        'Emergent Herbaceous Wetlands',
    ),
    colors=(
        '#466b9f',
        '#d1def8',
        '#dec5c5',
        '#d99282',
        '#eb0000',
        '#ab0000',
        '#b3ac9f',
        '#68ab5f',
        '#1c5f2c',
        '#b5c58f',
        '#ccb879',
        '#dfdfc2',
        '#dcd939',
        '#ab6c28',
        '#b8d9eb',
        '#6c9fb8',
    ),
    nodata=(0, 128),
)

CHESAPEAKE = ClassScheme(
    name='chesapeake',
    codes=(1, 2, 3, 5),
    names=('Water', 'Tree Canopy', 'Low Vegetation', 'Impervious'),
    colors=('#00c5ff', '#267300', '#a3ff73', '#9c9c9c'),
    nodata=(0, 15),
    aliases={4: 5, 6: 5},
)

ENVIROATLAS = ClassScheme(
    name='enviroatlas',
    codes=(10, 20, 30, 40, 70),
    names=(
        'Water',
        'Impervious Surface',
        'Soil and Barren',
        'Trees and Forest',
        'Grass',
    ),
    colors=('#00c5ff', '#9c9c9c', '#ffaa00', '#267300', '#a3ff73'),
    nodata=(0,),
    ignore=(80, 82, 91, 92),
    aliases={52: 40},
)

#: EnviroAtlas as the paper evaluated it: shrubs (52) ignored, not trees.
ENVIROATLAS_EVAL = ClassScheme(
    name='enviroatlas-eval',
    codes=ENVIROATLAS.codes,
    names=ENVIROATLAS.names,
    colors=ENVIROATLAS.colors,
    nodata=ENVIROATLAS.nodata,
    ignore=(52, *ENVIROATLAS.ignore),
)

#: Built-in schemes by name.
SCHEMES: dict[str, ClassScheme] = {
    scheme.name: scheme for scheme in (NLCD, CHESAPEAKE, ENVIROATLAS, ENVIROATLAS_EVAL)
}


def load_scheme(source: str | Path | Mapping[str, Any]) -> ClassScheme:
    """Load a scheme from a YAML file or a mapping.

    The format::

        name: my-map
        classes:
          - {code: 1, name: water, color: '#0000ff'}
          - {code: 2, name: built}
        nodata: [0]
        ignore: []
        aliases: {3: 2}

    Args:
        source: path to a YAML file, or the parsed mapping.

    Returns:
        The scheme.

    Raises:
        ValueError: If the description is malformed.
    """
    if isinstance(source, Mapping):
        data: Any = source
    else:
        data = yaml.safe_load(Path(source).read_text())
    if not isinstance(data, Mapping) or 'classes' not in data:
        raise ValueError(f'{source}: a scheme needs a "classes" list')
    classes = data['classes']
    try:
        codes = [int(entry['code']) for entry in classes]
        names = [str(entry.get('name', f'class {entry["code"]}')) for entry in classes]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{source}: every class needs an integer "code"') from error
    colors = [entry.get('color') for entry in classes]
    default = generic_scheme(codes)
    return ClassScheme(
        name=str(data.get('name', 'custom')),
        codes=tuple(codes),
        names=tuple(names),
        colors=tuple(
            str(color) if color else default.colors[i] for i, color in enumerate(colors)
        ),
        nodata=tuple(int(code) for code in data.get('nodata', ())),
        ignore=tuple(int(code) for code in data.get('ignore', ())),
        aliases={int(k): int(v) for k, v in dict(data.get('aliases', {})).items()},
    )


def get_scheme(scheme: str | Path | ClassScheme) -> ClassScheme:
    """Resolve a scheme given by name, by YAML file or as an object.

    Args:
        scheme: a built-in name (see :data:`SCHEMES`), a path to a YAML file, or a
            scheme.

    Returns:
        The scheme.

    Raises:
        ValueError: If the name is unknown and no such file exists.
    """
    if isinstance(scheme, ClassScheme):
        return scheme
    if str(scheme) in SCHEMES:
        return SCHEMES[str(scheme)]
    if Path(scheme).is_file():
        return load_scheme(scheme)
    raise ValueError(
        f'unknown class scheme {str(scheme)!r}: use one of {sorted(SCHEMES)} '
        'or a YAML file'
    )

"""Co-occurrence matrices P(fine class | coarse code).

A :class:`Cooccurrence` has one row per class of a fine scheme and one column per
coarse code; each column is a probability distribution over the fine classes, or all
zero when the coarse code was never seen with a labelled fine pixel ("no information":
pixels of that code get their prior from their neighbours, or none).

Matrices come from pooled pixel counts of co-registered coarse and fine label rasters
(:func:`estimate_cooccurrence`, REFERENCE §2.2), from the EnviroAtlas matrices the paper
published (:func:`load_cooccurrence` with ``enviroatlas-pittsburgh`` ...), or from a
CSV file a person can read and edit (:meth:`Cooccurrence.to_csv`).
"""

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..grid import check_overlap, iter_blocks
from ..io import atomic_path, check_class_raster, open_raster
from ..schemes import SCHEMES, ClassScheme, generic_scheme, get_scheme
from .layers import labels_on_grid

__all__ = (
    'BUNDLED_COOCCURRENCES',
    'Cooccurrence',
    'count_cooccurrence',
    'estimate_cooccurrence',
    'load_cooccurrence',
)

#: Matrices shipped with the package: the paper's EnviroAtlas NLCD -> 5-class matrices
#: (shrubs merged into trees, columns renormalised), addressable by name.
BUNDLED_COOCCURRENCES: tuple[str, ...] = (
    'enviroatlas-austin',
    'enviroatlas-durham',
    'enviroatlas-phoenix',
    'enviroatlas-pittsburgh',
)


@dataclass(frozen=True)
class Cooccurrence:
    """P(fine class | coarse code).

    Attributes:
        matrix: (fine classes, coarse codes) array; columns sum to 1, or to 0 for
            codes without information.
        fine: the fine (target) class scheme; rows follow its classes.
        coarse_codes: the coarse code of each column.
    """

    matrix: np.ndarray
    fine: ClassScheme
    coarse_codes: tuple[int, ...]

    def __post_init__(self) -> None:
        """Check shapes and values.

        Raises:
            ValueError: If the matrix does not fit the scheme and codes, or has
                columns that are neither distributions nor empty.
        """
        matrix = np.asarray(self.matrix, dtype=np.float64)
        object.__setattr__(self, 'matrix', matrix)
        expected = (self.fine.num_classes, len(self.coarse_codes))
        if matrix.shape != expected:
            raise ValueError(
                f'co-occurrence matrix has shape {matrix.shape}, but the fine scheme '
                f'{self.fine.name!r} has {expected[0]} classes and there are '
                f'{expected[1]} coarse codes'
            )
        if len(set(self.coarse_codes)) != len(self.coarse_codes):
            raise ValueError('coarse codes of a co-occurrence matrix must be unique')
        if not np.isfinite(matrix).all() or (matrix < 0).any():
            raise ValueError(
                'co-occurrence values must be finite and non-negative (they are '
                'probabilities P(fine class | coarse code))'
            )
        sums = matrix.sum(0)
        bad = [
            code
            for code, total in zip(self.coarse_codes, sums, strict=True)
            if not (abs(total - 1) < 1e-6 or total < 1e-12)
        ]
        if bad:
            raise ValueError(
                f'co-occurrence columns for coarse codes {bad} sum to neither 1 nor 0 '
                '(each column is P(fine class | coarse code))'
            )

    @classmethod
    def from_counts(
        cls, counts: np.ndarray, fine: ClassScheme, coarse_codes: Sequence[int]
    ) -> 'Cooccurrence':
        """Normalise pooled joint counts column by column.

        Args:
            counts: (fine classes, coarse codes) joint pixel counts.
            fine: the fine scheme.
            coarse_codes: code of each column.

        Returns:
            The matrix; columns without counts are left empty.
        """
        counts = np.asarray(counts, dtype=np.float64)
        totals = counts.sum(0, keepdims=True)
        matrix = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        return cls(matrix, fine, tuple(int(c) for c in coarse_codes))

    @property
    def informative(self) -> np.ndarray:
        """Boolean per column: whether the coarse code carries information."""
        return np.asarray(self.matrix.sum(0) > 0.5)

    def column_table(self, max_code: int) -> tuple[np.ndarray, np.ndarray]:
        """Lookup from coarse code to column index, for remapping rasters.

        Args:
            max_code: largest code to cover.

        Returns:
            An int32 table mapping each code to a column of the extended matrix, and
            the extended matrix (fine classes, columns + 1) whose last column is zero
            (used for nodata and codes without a column).
        """
        size = max(max_code, *self.coarse_codes) + 1
        table = np.full(size, len(self.coarse_codes), dtype=np.int32)
        for column, code in enumerate(self.coarse_codes):
            table[code] = column
        extended = np.concatenate(
            [self.matrix, np.zeros((self.matrix.shape[0], 1))], axis=1
        )
        return table, extended

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write as CSV: a header of coarse codes, one row per fine class.

        The first two columns hold the fine class code and name. Written atomically.

        Args:
            path: output file.
        """
        with atomic_path(path) as temporary, temporary.open('w', newline='') as file:
            writer = csv.writer(file)
            writer.writerow(['fine_code', 'fine_name', *self.coarse_codes])
            for code, name, row in zip(
                self.fine.codes, self.fine.names, self.matrix, strict=True
            ):
                writer.writerow([code, name, *(repr(float(v)) for v in row)])

    @classmethod
    def from_csv(
        cls, path: str | os.PathLike[str], fine: ClassScheme | str | None = None
    ) -> 'Cooccurrence':
        """Read a CSV written by :meth:`to_csv` (or edited by hand).

        Args:
            path: the CSV file.
            fine: the fine scheme; default: built from the file's codes and names.

        Returns:
            The matrix.

        Raises:
            ValueError: If the file is malformed or does not fit ``fine``.
        """
        with Path(path).open(newline='') as file:
            rows = [
                row for row in csv.reader(file) if any(cell.strip() for cell in row)
            ]
        if len(rows) < 2 or rows[0][:2] != ['fine_code', 'fine_name']:
            raise ValueError(
                f'{path}: expected a header "fine_code,fine_name,<coarse codes>..." '
                'and one row per fine class'
            )
        width = len(rows[0])
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                raise ValueError(
                    f'{path}: row {number} has {len(row)} cells, the header '
                    f'{width} (fine_code, fine_name and one value per coarse code): '
                    'complete the row'
                )
        try:
            coarse_codes = tuple(int(cell) for cell in rows[0][2:])
            fine_codes = [int(row[0]) for row in rows[1:]]
            names = [row[1] for row in rows[1:]]
            matrix = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
        except ValueError as error:
            raise ValueError(f'{path}: non-numeric code or value ({error})') from error
        if matrix.ndim != 2 or matrix.shape[1] != len(coarse_codes):
            raise ValueError(f'{path}: every row needs one value per coarse code')
        if fine is None:
            # A file written for a registered scheme gets that scheme back (its
            # colours, nodata and aliases); any other file a generic one.
            scheme = next(
                (
                    known
                    for known in SCHEMES.values()
                    if list(known.codes) == fine_codes and list(known.names) == names
                ),
                None,
            ) or generic_scheme(fine_codes, names, name=Path(path).stem)
        else:
            scheme = get_scheme(fine)
            if list(scheme.codes) != fine_codes:
                raise ValueError(
                    f'{path}: rows are fine codes {fine_codes}, but scheme '
                    f'{scheme.name!r} has classes {list(scheme.codes)}'
                )
        try:
            return cls(matrix, scheme, coarse_codes)
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from None


def load_cooccurrence(
    source: str | os.PathLike[str] | Cooccurrence, fine: ClassScheme | str | None = None
) -> Cooccurrence:
    """Load a bundled matrix by name, or a CSV file.

    Args:
        source: a name from :data:`BUNDLED_COOCCURRENCES`, a CSV path, or a matrix.
        fine: the fine scheme for CSV files (bundled matrices use ``enviroatlas``).

    Returns:
        The matrix.

    Raises:
        ValueError: If ``source`` is neither a bundled name nor an existing file.
    """
    if isinstance(source, Cooccurrence):
        return source
    name = str(source)
    if name in BUNDLED_COOCCURRENCES:
        data = resources.files('torchgeo_lsr.priors') / 'data' / f'{name}.csv'
        with resources.as_file(data) as path:
            return Cooccurrence.from_csv(path, fine or 'enviroatlas')
    if not Path(name).is_file():
        raise ValueError(
            f'no co-occurrence matrix {name!r}: give a CSV file or one of '
            f'{", ".join(BUNDLED_COOCCURRENCES)}'
        )
    return Cooccurrence.from_csv(name, fine)


def count_cooccurrence(
    coarse: np.ndarray,
    fine: np.ndarray,
    coarse_scheme: ClassScheme,
    fine_scheme: ClassScheme,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Joint pixel counts of co-registered coarse and fine label arrays.

    Args:
        coarse: coarse codes on the fine grid.
        fine: fine codes, same shape.
        coarse_scheme: scheme of the coarse codes (columns: its classes).
        fine_scheme: scheme of the fine codes (rows: its classes).
        valid: optional mask of pixels to use (e.g. not the rasters' nodata value).

    Returns:
        int64 counts of shape (fine classes, coarse classes); pixels that are
        nodata, ignored or unknown in either scheme are left out.

    Raises:
        ValueError: If the shapes differ or either array holds unknown codes.
    """
    if coarse.shape != fine.shape:
        raise ValueError(f'coarse {coarse.shape} and fine {fine.shape} shapes differ')
    if valid is not None:
        coarse, fine = coarse[valid], fine[valid]
    for array, scheme, role in (
        (coarse, coarse_scheme, 'coarse'),
        (fine, fine_scheme, 'fine'),
    ):
        unknown = scheme.unknown_codes(array)
        if unknown:
            raise ValueError(
                f'{role} labels hold codes {unknown} that scheme {scheme.name!r} does '
                'not define (add them to the scheme as classes, nodata or ignore)'
            )
    coarse_index = coarse_scheme.to_index(coarse).ravel()
    fine_index = fine_scheme.to_index(fine).ravel()
    keep = (coarse_index >= 0) & (fine_index >= 0)
    num_coarse = coarse_scheme.num_classes
    joint = fine_index[keep].astype(np.int64) * num_coarse + coarse_index[keep]
    counts = np.bincount(joint, minlength=fine_scheme.num_classes * num_coarse)
    return counts.reshape(fine_scheme.num_classes, num_coarse)


def estimate_cooccurrence(
    pairs: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    coarse_scheme: ClassScheme | str = 'nlcd',
    fine_scheme: ClassScheme | str = 'enviroatlas',
    window_size: int = 2048,
) -> Cooccurrence:
    """Estimate P(fine | coarse) from (coarse raster, fine raster) pairs.

    Counts are pooled over all pairs (REFERENCE §2.2); the coarse raster is read on
    the fine raster's grid with nearest resampling, window by window, so rasters of
    any size fit in memory. Pixels outside the coarse raster count as nodata.

    Args:
        pairs: (coarse path, fine path); several fine tiles may share one coarse
            raster.
        coarse_scheme: scheme of the coarse codes.
        fine_scheme: scheme of the fine codes.
        window_size: side of the windows read at a time.

    Returns:
        The matrix; columns are the coarse scheme's class codes.

    Raises:
        ValueError: If a pair does not overlap, or holds codes its scheme lacks.
    """
    coarse_scheme = get_scheme(coarse_scheme)
    fine_scheme = get_scheme(fine_scheme)
    counts = np.zeros((fine_scheme.num_classes, coarse_scheme.num_classes), np.int64)
    for coarse_path, fine_path in pairs:
        with (
            open_raster(fine_path, 'fine label raster (--fine)') as fine_src,
            open_raster(coarse_path, 'coarse label raster (--coarse)') as src,
        ):
            check_class_raster(fine_src, 'fine label raster (--fine)')
            check_class_raster(src, 'coarse label raster (--coarse)', integer=False)
            check_overlap(
                fine_src.bounds,
                src.bounds,
                first_name=f'the fine labels {fine_path}',
                second_name=f'the coarse labels {coarse_path}',
                first_crs=fine_src.crs,
                second_crs=src.crs,
                plural=True,
            )
            with labels_on_grid(
                src, fine_src.crs, fine_src.transform, fine_src.width, fine_src.height
            ) as vrt:
                for block in iter_blocks(fine_src.height, fine_src.width, window_size):
                    fine = fine_src.read(1, window=block.window)
                    coarse = vrt.read(1, window=block.window)
                    valid = _not_nodata(fine, fine_src.nodata) & ~np.isnan(coarse)
                    counts += count_cooccurrence(
                        np.nan_to_num(coarse).astype(np.int64),
                        fine,
                        coarse_scheme,
                        fine_scheme,
                        valid,
                    )
    return Cooccurrence.from_counts(counts, fine_scheme, coarse_scheme.codes)


def _not_nodata(array: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels that differ from a raster's nodata value (all, if it has none).

    Args:
        array: raster values.
        nodata: the raster's nodata value.

    Returns:
        Boolean mask.
    """
    if nodata is None:
        return np.ones(array.shape, dtype=bool)
    if np.isnan(nodata):
        return ~np.isnan(array)
    return np.asarray(array != nodata)

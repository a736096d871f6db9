"""The prior builder: coarse labels (+ auxiliary layers) -> per-pixel prior beliefs.

One mechanism serves arrays, TorchGeo samples
(:class:`~torchgeo_lsr.priors.transforms.PriorTransform`) and whole rasters
(:mod:`torchgeo_lsr.priors.raster`):

1. coarse codes -> columns of the co-occurrence matrix (remap; nodata and codes
   without information give zero columns: their mass is the implicit no-data row);
2. Gaussian blur of the remapped channels (blur and remap are linear, so remapping
   first blurs C instead of K one-hot channels and equals the paper's order). The
   matrix with its no-data row has columns summing to 1, so the blurred rows are
   already L1-normalised over no-data + classes (REFERENCE §2.3 step 3);
3. optional auxiliary fusion rules (:mod:`torchgeo_lsr.priors.fusion`) add their
   evidence to this class mass, everywhere (also where the coarse labels have no
   information: a road there still gets a prior), as in §2.3 step 4;
4. the no-data row is dropped and the classes renormalised (§2.3 steps 5-6);
   pixels without class mass (no coarse information within the kernel and no
   evidence) are nodata.

Windows carry a halo of true neighbours; only the outer edges of the whole raster are
reflected, so the result does not depend on how a raster is cut into windows.
"""

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..schemes import ClassScheme
from .blur import correlate_valid, fast_length, gaussian_kernel1d
from .cooccurrence import Cooccurrence, load_cooccurrence
from .fusion import RuleSet, load_rules, rule_evidence

__all__ = ('PriorBuilder',)

#: Pixels whose blurred coarse information sums to less than this are nodata (far
#: below the smallest weight one informative pixel can carry, far above FFT noise).
MIN_INFORMATION = 1e-6


class PriorBuilder:
    """Build priors from coarse codes with one co-occurrence matrix and blur."""

    def __init__(
        self,
        cooccurrence: Cooccurrence | str | os.PathLike[str],
        sigma: float = 31.0,
        kernel_size: int = 101,
        rules: RuleSet | str | os.PathLike[str] | None = None,
        coarse_nodata: Sequence[float] = (),
    ) -> None:
        """Initialise the builder.

        Args:
            cooccurrence: matrix, bundled name or CSV path.
            sigma: Gaussian standard deviation in output pixels (paper: 31 at 1 m).
            kernel_size: odd kernel size in output pixels (paper: 101).
            rules: optional fusion rules (object, bundled name or YAML path).
            coarse_nodata: coarse codes meaning nodata (in addition to NaN).

        Raises:
            ValueError: If a nodata code is also a column of the matrix.
        """
        self.cooccurrence = load_cooccurrence(cooccurrence)
        self.sigma = sigma
        self.kernel_size = kernel_size
        self.kernel = gaussian_kernel1d(sigma, kernel_size)
        self.rules = (
            load_rules(rules) if isinstance(rules, str | os.PathLike) else rules
        )
        self.coarse_nodata = tuple(float(code) for code in coarse_nodata)
        clash = sorted(
            int(code)
            for code in self.coarse_nodata
            if code in self.cooccurrence.coarse_codes
        )
        if clash:
            raise ValueError(f'coarse codes {clash} are both nodata and matrix columns')
        self._table, self._extended = self.cooccurrence.column_table(0)
        self._extended = self._extended.astype(np.float32)
        # Known small whole codes, for a check without sorting (see check_codes).
        known = [*self.cooccurrence.coarse_codes, *self.coarse_nodata]
        whole = [int(c) for c in known if float(c).is_integer() and 0 <= c < 65536]
        self._known = np.zeros(max(whole, default=0) + 1, bool)
        self._known[whole] = True

    @property
    def scheme(self) -> ClassScheme:
        """Class scheme of the prior's channels."""
        return self.cooccurrence.fine

    @property
    def extended_matrix(self) -> np.ndarray:
        """(C, K + 1) float32 co-occurrence columns and the zero (nodata) column."""
        return self._extended

    @property
    def halo(self) -> int:
        """Neighbours a window needs on each side for exact results."""
        radius = self.kernel_size // 2
        if self.rules is None:
            return radius
        widen = max(
            (self.rules.options(name).widen // 2 for name in self.rules.layers),
            default=0,
        )
        return max(radius, self.rules.radius + widen)

    def unknown_codes(self, codes: np.ndarray) -> list[float]:
        """Codes that are neither matrix columns nor nodata.

        Args:
            codes: coarse codes.

        Returns:
            The offending codes, sorted.
        """
        codes = np.asarray(codes)
        if codes.dtype.kind in 'ub' or (
            codes.dtype.kind == 'i'
            and codes.size
            and codes.min() >= 0
            and codes.max() < 65536
        ):
            # Counting is much faster than sorting for small integer codes.
            values = np.flatnonzero(np.bincount(codes.ravel().astype(np.int64)))
        else:
            values = np.unique(codes)
            if values.dtype.kind == 'f':
                values = values[~np.isnan(values)]
        known = np.array([*self.cooccurrence.coarse_codes, *self.coarse_nodata], float)
        unknown = values[~np.isin(values.astype(np.float64), known)]
        return [int(v) if float(v).is_integer() else float(v) for v in unknown]

    def check_codes(self, codes: np.ndarray) -> None:
        """Raise if coarse codes are missing from the matrix.

        Args:
            codes: coarse codes.

        Raises:
            ValueError: Naming the codes that are neither columns nor nodata.
        """
        codes = np.asarray(codes)
        if codes.dtype.kind in 'ui' and codes.size:
            low, high = int(codes.min()), int(codes.max())
            if low >= 0 and high < len(self._known) and self._known[codes].all():
                return
        unknown = self.unknown_codes(codes)
        if unknown:
            raise ValueError(
                f'coarse codes {unknown} are not columns of the co-occurrence matrix '
                f'(columns: {list(self.cooccurrence.coarse_codes)}); declare them '
                'nodata (coarse_nodata in a config, --coarse_nodata for torchgeo-lsr '
                'prior) or add columns to the matrix'
            )

    def columns(self, codes: np.ndarray) -> np.ndarray:
        """Column of the extended matrix for each pixel (the last one is all zero).

        Args:
            codes: (H, W) coarse codes (validated with :meth:`check_codes`).

        Returns:
            (H, W) column indices; nodata, NaN and negative codes get the zero column.
        """
        codes = np.asarray(codes)
        zero = self._extended.shape[1] - 1
        if codes.dtype.kind == 'f':
            codes = np.where(np.isfinite(codes), codes, -1).astype(np.int64)
        if codes.dtype.kind == 'i' and codes.size and codes.min() < 0:
            codes = np.where(codes >= 0, codes, len(self._table))
        size = max(len(self._table), int(codes.max(initial=0)) + 1) + 1
        lookup = np.full(size, zero, dtype=np.uint16)
        lookup[: len(self._table)] = self._table
        result: np.ndarray = lookup[codes]
        return result

    def remap(self, codes: np.ndarray) -> np.ndarray:
        """Columns of the matrix per pixel: (C, H, W), zero for nodata.

        Args:
            codes: (H, W) coarse codes (validated with :meth:`check_codes`).

        Returns:
            float32 array.
        """
        result: np.ndarray = self._extended[:, self.columns(codes)]
        return result

    def build_window(
        self,
        codes: np.ndarray,
        missing: tuple[int, int, int, int],
        layers: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior of one window from its codes and layers with halo.

        Args:
            codes: coarse codes of the window plus :attr:`halo` pixels on each side,
                clipped to the raster.
            missing: (top, bottom, left, right) halo pixels cut off by the raster's
                edges; they are reflected for the blur and count as outside for the
                fusion rules.
            layers: auxiliary layers with the shape of ``codes`` (needed by the
                rules).

        Returns:
            The (C, h, w) float32 prior (0 where invalid) and the (h, w) validity,
            where h and w are the window's size.

        Raises:
            ValueError: On unknown codes or missing layers.
        """
        return self._build(codes, missing, layers, None)

    def _build(
        self,
        codes: np.ndarray,
        missing: tuple[int, int, int, int],
        layers: Mapping[str, np.ndarray] | None,
        record: dict[str, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`build_window`, optionally recording each step in ``record``."""
        self.check_codes(codes)
        halo = self.halo
        top, bottom, left, right = missing
        height = codes.shape[0] + top + bottom - 2 * halo
        width = codes.shape[1] + left + right - 2 * halo
        if height <= 0 or width <= 0:
            raise ValueError('codes are smaller than twice the halo')
        mass = self._class_mass(codes, missing, (height, width), record)
        if self.rules is None or not self.rules.rules:
            return _normalise(mass)
        full, inside = self._full_layers(codes.shape, missing, layers)
        if record is not None:
            # Each rule on top of the previous ones (renormalised, as at the end).
            for count, rule in enumerate(self.rules.rules, start=1):
                partial = RuleSet(self.rules.rules[:count], self.rules.rasterisation)
                evidence = rule_evidence(
                    partial, full, self.scheme, (height, width), inside, crop=halo
                )
                record[f'+ {rule.name or count}'] = _normalise(mass + evidence)[0]
        evidence = rule_evidence(
            self.rules, full, self.scheme, (height, width), inside, crop=halo
        )
        return _normalise(mass + evidence)

    def _class_mass(
        self,
        codes: np.ndarray,
        missing: tuple[int, int, int, int],
        shape: tuple[int, int],
        record: dict[str, np.ndarray] | None,
    ) -> np.ndarray:
        """Blurred, remapped class mass of a window (REFERENCE §2.3 steps 1-3).

        The paper remaps the blurred one-hot codes with the matrix *including* its
        no-data row (nodata codes and empty columns put their mass there) and
        L1-normalises over all rows. Every column of that matrix sums to 1 and the
        kernel sums to 1, so the all-row total is 1 everywhere: the class rows
        below are already L1-normalised, and 1 - their sum is the no-data mass.

        Args:
            codes: the window's codes with halo (checked).
            missing: halo pixels cut off by the raster's edges.
            shape: (h, w) of the window.
            record: optional record of the steps.

        Returns:
            (C, h, w) float32 class mass (0 where no coarse information at all).
        """
        height, width = shape
        top, bottom, left, right = missing
        # Reflect the missing halo on the codes (cheap), keep what the kernel needs,
        # and remap straight into a zero-padded buffer of fast FFT lengths (the
        # extra rows and columns only touch outputs that are cropped away).
        padded = np.pad(codes, ((top, bottom), (left, right)), mode='reflect')
        trim = self.halo - self.kernel_size // 2
        if trim:
            padded = padded[trim:-trim, trim:-trim]
        columns = self.columns(padded)
        rows, cols = padded.shape
        # One channel at a time keeps the FFT's double-precision work arrays small.
        buffer = np.zeros((fast_length(rows), fast_length(cols)), np.float64)
        mass = np.empty((self.scheme.num_classes, height, width), np.float32)
        for channel, values in enumerate(self._extended):
            buffer[:rows, :cols] = values[columns]
            result = correlate_valid(buffer, self.kernel)[:height, :width]
            np.clip(result, 0.0, None, out=mass[channel], casting='unsafe')
        # Below MIN_INFORMATION the mass is FFT noise: no information.
        mass[:, mass.sum(0) <= MIN_INFORMATION] = 0
        if record is not None:
            remapped = self._extended[:, columns]
            record['remapped'] = remapped[
                :, (rows - height) // 2 : (rows - height) // 2 + height
            ][..., (cols - width) // 2 : (cols - width) // 2 + width]
            record['blurred'] = _normalise(mass)[0]
        return mass

    def _full_layers(
        self,
        shape: tuple[int, int],
        missing: tuple[int, int, int, int],
        layers: Mapping[str, np.ndarray] | None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The rules' layers on the window plus its whole halo (0 outside).

        Args:
            shape: shape of the window's codes (halo clipped to the raster).
            missing: halo pixels cut off by the raster's edges.
            layers: the layers, of shape ``shape``.

        Returns:
            The padded layers by name, and the mask of pixels inside the raster.

        Raises:
            ValueError: If a layer the rules need is missing.
        """
        assert self.rules is not None
        layers = layers or {}
        top, bottom, left, right = missing
        full_shape = (shape[0] + top + bottom, shape[1] + left + right)
        inside = np.zeros(full_shape, dtype=bool)
        inside[top : full_shape[0] - bottom, left : full_shape[1] - right] = True
        full = {}
        for name in self.rules.layers:
            if name not in layers:
                raise ValueError(
                    f'the fusion rules need a layer named {name!r} '
                    f'(given: {sorted(layers)})'
                )
            layer = np.zeros(full_shape, dtype=np.float32)
            layer[inside] = np.asarray(layers[name], dtype=np.float32).ravel()
            full[name] = layer
        return full, inside

    def stages(
        self, codes: np.ndarray, layers: Mapping[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Each step of building the prior of a whole array, for inspection.

        Args:
            codes: (H, W) coarse codes on the output grid.
            layers: auxiliary layers of the same shape (needed by the rules).

        Returns:
            (C, H, W) arrays in order: ``'remapped'`` (the co-occurrence column of
            each pixel's code, before the blur), ``'blurred'`` (blurred and
            renormalised: the prior without auxiliary layers), one
            ``'+ <rule name>'`` per fusion rule (the prior with that rule and all
            earlier ones), and ``'prior'`` (what :meth:`__call__` returns).

        Raises:
            ValueError: On unknown codes or missing layers.
        """
        halo = self.halo
        record: dict[str, np.ndarray] = {}
        prior, _ = self._build(
            np.asarray(codes), (halo, halo, halo, halo), layers, record
        )
        record['prior'] = prior
        return record

    def __call__(
        self, codes: np.ndarray, layers: Mapping[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior of a whole raster given as an array (its edges are reflected).

        Args:
            codes: (H, W) coarse codes on the output grid.
            layers: auxiliary layers of the same shape.

        Returns:
            The (C, H, W) float32 prior (0 where invalid) and the (H, W) validity.
        """
        halo = self.halo
        return self.build_window(np.asarray(codes), (halo, halo, halo, halo), layers)


def _normalise(mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the no-data mass: renormalise the class rows (REFERENCE §2.3 step 5-6).

    Args:
        mass: (C, h, w) class mass (NLCD part plus fusion evidence).

    Returns:
        The float32 prior (0 where invalid) and the validity: pixels whose class
        mass exceeds :data:`MIN_INFORMATION`.
    """
    total = mass.sum(0)
    valid = total > MIN_INFORMATION
    prior = np.divide(mass, total, out=np.zeros_like(mass), where=valid)
    return prior.astype(np.float32, copy=False), valid

"""The prior source of a data module: precomputed rasters, or a builder per tile.

Priors are read from precomputed rasters (``torchgeo-lsr prior``) or built on the
fly from the coarse labels by a :class:`~torchgeo_lsr.priors.PriorBuilder`: a
co-occurrence matrix (bundled name or CSV), the blur (sigma, kernel size), the coarse
codes meaning nodata and optional fusion rules. :class:`PriorSource` makes that
choice once, holds the class scheme of the prior's channels, the lookup of coarse
raster values to codes, and the per-tile matrices of data sets whose regions each
have their own (Chesapeake's states).
"""

import os
from collections.abc import Collection, Sequence

from ..priors.builder import PriorBuilder
from ..priors.cooccurrence import load_cooccurrence
from ..priors.fusion import RuleSet, load_rules
from ..recipe import blur_for_cell
from ..schemes import ClassScheme, get_scheme
from .tile_priors import TilePriors

__all__ = ('PriorSource', 'fusion_rule_set')


def fusion_rule_set(
    fusion_rules: str | os.PathLike[str] | None, layers: Collection[str]
) -> RuleSet | None:
    """The fusion rules of on-the-fly priors.

    Args:
        fusion_rules: a rule set name or YAML; None: the paper's ``'enviroatlas'``
            rules restricted to the layers given (no rules without layers);
            ``'none'``: no rules (layers only feed the network's input).
        layers: names of the auxiliary layers the data module reads.

    Returns:
        The rules, or None.

    Raises:
        ValueError: If the rules need a layer that is not given.
    """
    if fusion_rules == 'none' or (fusion_rules is None and not layers):
        return None
    rules = load_rules(fusion_rules or 'enviroatlas')
    if fusion_rules is None:
        rules = rules.restricted_to(set(layers))
    missing = [name for name in rules.layers if name not in layers]
    if missing:
        raise ValueError(f'the fusion rules need layers {missing}')
    return rules


class PriorSource:
    """Where a data module's prior comes from, and the classes it has.

    Attributes:
        builder: builds priors from the coarse labels (None: precomputed priors
            are read).
        scheme: class scheme of the prior's channels and of the high-res labels
            (None: unknown, precomputed priors without a matrix).
        coarse_lookup: coarse raster value ``v`` means code ``coarse_lookup[v]``
            (None: the raster holds the codes).
        tile_cooccurrences: co-occurrence matrix (name or CSV) of particular
            imagery tiles, by file path; tiles not listed use the builder's. Set by
            data-set modules whose regions each have their own matrix.
    """

    def __init__(
        self,
        *,
        cooccurrence: str | None,
        precomputed: bool,
        coarse: bool,
        sigma: float | None = 31.0,
        kernel_size: int | None = 101,
        coarse_nodata: Sequence[float] = (0,),
        fusion_rules: str | None = None,
        layers: Collection[str] = (),
        label_scheme: str | None = None,
        coarse_lookup: Sequence[float] | None = None,
    ) -> None:
        """Choose the prior source.

        Args:
            cooccurrence: bundled matrix name or CSV (needed for on-the-fly priors;
                also names the classes).
            precomputed: precomputed prior rasters are given (then nothing is
                built).
            coarse: coarse label rasters are given.
            sigma: blur sigma in pixels of the imagery grid (None: one coarse
                cell, set by :meth:`resolve_blur` once the rasters are open).
            kernel_size: blur kernel size in pixels (None: from sigma, see
                :func:`~torchgeo_lsr.recipe.blur_for_cell`).
            coarse_nodata: coarse codes meaning nodata.
            fusion_rules: rule set name or YAML (see :func:`fusion_rule_set`).
            layers: names of the auxiliary layers given.
            label_scheme: scheme of the high-res labels (default: the matrix's
                fine scheme).
            coarse_lookup: coarse raster value -> code table.

        Raises:
            ValueError: Without precomputed priors, coarse labels and a matrix, or
                if the fusion rules need a layer that is not given.
        """
        if not precomputed and (not coarse or cooccurrence is None):
            raise ValueError(
                'give prior_paths, or coarse_paths and cooccurrence to build priors'
            )
        self.builder: PriorBuilder | None = None
        scheme: ClassScheme | None = None
        if cooccurrence is not None:
            matrix = load_cooccurrence(cooccurrence)
            scheme = matrix.fine
            if not precomputed:
                # Until resolve_blur knows the coarse cell, a deferred blur is the
                # paper's: nothing reads pixels before the rasters are open.
                self.builder = PriorBuilder(
                    matrix,
                    sigma=31.0 if sigma is None else sigma,
                    kernel_size=kernel_size or blur_for_cell(sigma or 31.0)[1],
                    coarse_nodata=coarse_nodata,
                )
                self.builder.rules = fusion_rule_set(fusion_rules, layers)
        self.scheme = get_scheme(label_scheme) if label_scheme is not None else scheme
        self.coarse_lookup = None if coarse_lookup is None else list(coarse_lookup)
        self.tile_cooccurrences: dict[str, str] = {}
        #: The blur is derived from the coarse cell at the first resolve_blur.
        self.blur_pending = self.builder is not None and (
            sigma is None or kernel_size is None
        )
        self._blur_request = (sigma, kernel_size)

    def resolve_blur(self, cell_px: float) -> tuple[float, int] | None:
        """Set a deferred blur from the coarse cell's side in imagery pixels.

        Args:
            cell_px: coarse cell side in pixels of the imagery grid.

        Returns:
            The ``(sigma, kernel_size)`` chosen, or None when nothing was deferred
            (or it was resolved before).
        """
        if not self.blur_pending or self.builder is None:
            return None
        sigma, kernel_size = self._blur_request
        auto_sigma, auto_kernel = blur_for_cell(cell_px if sigma is None else sigma)
        chosen = (auto_sigma, kernel_size or auto_kernel)
        builder = PriorBuilder(
            self.builder.cooccurrence,
            sigma=chosen[0],
            kernel_size=chosen[1],
            rules=self.builder.rules,
            coarse_nodata=self.builder.coarse_nodata,
        )
        self.builder = builder
        self.blur_pending = False
        return chosen

    @property
    def halo(self) -> int:
        """Pixels of coarse labels read around a window to build its prior exactly."""
        return self.builder.halo if self.builder is not None else 0

    @property
    def rules(self) -> RuleSet | None:
        """The fusion rules of on-the-fly priors (None: none, or stored priors)."""
        return None if self.builder is None else self.builder.rules

    @property
    def rule_layers(self) -> tuple[str, ...]:
        """Layers the fusion rules read."""
        return () if self.rules is None else tuple(self.rules.layers)

    def tile_priors(self, tile_paths: Sequence[str]) -> TilePriors | None:
        """What builds the priors of a stage's samples, tile by tile.

        Args:
            tile_paths: imagery file of each of the stage's tiles.

        Returns:
            The per-tile prior assembly (None: precomputed priors are read).

        Raises:
            ValueError: If a tile's matrix has other fine classes than the
                builder's.
        """
        if self.builder is None:
            return None
        builders = self.tile_builders(tile_paths)
        return TilePriors(
            builder=self.builder,
            tile_builders=None if builders is None else tuple(builders),
            coarse_lookup=(
                None if self.coarse_lookup is None else tuple(self.coarse_lookup)
            ),
        )

    def tile_builders(self, tile_paths: Sequence[str]) -> list[PriorBuilder] | None:
        """One prior builder per tile when :attr:`tile_cooccurrences` says so.

        Tiles sharing a matrix share a builder.

        Args:
            tile_paths: imagery file of each tile.

        Returns:
            The builders (None: :attr:`builder` serves every tile).

        Raises:
            ValueError: If a tile's matrix has other fine classes than the
                builder's.
        """
        if self.builder is None or not self.tile_cooccurrences:
            return None
        builders: dict[str, PriorBuilder] = {}
        out = []
        for path in tile_paths:
            matrix = self.tile_cooccurrences.get(str(path))
            if matrix is None:
                out.append(self.builder)
                continue
            if matrix not in builders:
                builders[matrix] = self._builder_like(matrix)
            out.append(builders[matrix])
        return out

    def _builder_like(self, matrix: str) -> PriorBuilder:
        """A builder with :attr:`builder`'s settings and another matrix.

        Args:
            matrix: the matrix (name or CSV).

        Returns:
            The builder.

        Raises:
            ValueError: If the matrix has other fine classes than the builder's.
        """
        assert self.builder is not None
        builder = PriorBuilder(
            matrix,
            sigma=self.builder.sigma,
            kernel_size=self.builder.kernel_size,
            rules=self.builder.rules,
            coarse_nodata=self.builder.coarse_nodata,
        )
        if builder.scheme.codes != self.builder.scheme.codes:
            raise ValueError(
                f'co-occurrence {matrix} has fine classes '
                f'{list(builder.scheme.codes)}, the data module '
                f'{list(self.builder.scheme.codes)}'
            )
        return builder

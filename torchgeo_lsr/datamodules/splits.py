"""Split planning: which imagery tiles and pixels each stage of a data module uses.

Three protocols (:data:`Split`):

* ``'transductive'`` (the paper's): train, validate and test on the same tiles
  (their high-res labels only ever feed metrics);
* ``'tiles'``: ``val_tiles`` / ``test_tiles`` name imagery files held out of
  training;
* ``'regions'``: ``val_region`` / ``test_region`` (boxes in the imagery CRS or vector
  files of polygons) are held out of training pixel by pixel; validation and testing
  see only pixels inside their region.

:class:`SplitPlan` checks the split arguments together, once, and answers "which
tiles does this stage read" and "which pixels may it use".
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import shapely

from ..datasets.regions import region_geometry
from ..grid import Region, check_overlap
from .inputs import select_tiles

__all__ = ('STAGES', 'Split', 'SplitPlan')

#: The protocols of :class:`SplitPlan`.
Split = Literal['transductive', 'tiles', 'regions']

#: The stages of a Lightning data module.
STAGES = ('fit', 'validate', 'test', 'predict')


@dataclass(frozen=True, kw_only=True)
class SplitPlan:
    """The split arguments of a data module, checked together.

    Attributes:
        split: ``'transductive'``, ``'tiles'`` or ``'regions'``.
        val_tiles: imagery file names (or stems) for validation (``'tiles'``;
            empty: validate on the training tiles).
        test_tiles: imagery file names (or stems) for testing (``'tiles'``).
        val_region: the validation region (``'regions'``; None: validate on the
            training region).
        test_region: the test region (``'regions'``).
    """

    split: Split = 'transductive'
    val_tiles: tuple[str, ...] = ()
    test_tiles: tuple[str, ...] = ()
    val_region: Region | None = None
    test_region: Region | None = None

    def __post_init__(self) -> None:
        """Check the arguments fit the split.

        Raises:
            ValueError: On an unknown split, a split without its test tiles or
                region, or tiles / regions given to another split.
        """
        # Configs give lists: keep tuples so the plan stays immutable.
        object.__setattr__(self, 'val_tiles', tuple(self.val_tiles))
        object.__setattr__(self, 'test_tiles', tuple(self.test_tiles))
        split = self.split
        if split not in ('transductive', 'tiles', 'regions'):
            raise ValueError(
                f"split must be 'transductive', 'tiles' or 'regions', got {split!r}"
            )
        if split == 'tiles' and not self.test_tiles:
            raise ValueError(
                "split='tiles' needs test_tiles (and optionally val_tiles)"
            )
        if split == 'regions' and self.test_region is None:
            raise ValueError(
                "split='regions' needs test_region (and optionally val_region)"
            )
        if split != 'tiles' and (self.val_tiles or self.test_tiles):
            raise ValueError(f"val_tiles/test_tiles need split='tiles', not {split!r}")
        if split != 'regions' and (
            self.val_region is not None or self.test_region is not None
        ):
            raise ValueError(
                f"val_region/test_region need split='regions', not {split!r}"
            )

    @property
    def held_out_tiles(self) -> tuple[str, ...]:
        """Tiles no training sample comes from (validation and test tiles)."""
        return (*self.val_tiles, *self.test_tiles)

    def tile_names(self, stage: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Which imagery tiles a stage reads, by name.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Returns:
            ``(names, exclude)`` for :func:`~torchgeo_lsr.datamodules.inputs.select_tiles`:
            the tiles to keep (empty: all) and those to drop.
        """
        if stage == 'validate' and self.val_tiles:
            return self.val_tiles, ()
        if stage == 'test' and self.split == 'tiles':
            return self.test_tiles, ()
        if stage in ('fit', 'validate', 'test'):
            return (), self.held_out_tiles
        return (), ()

    def stage_tiles(self, files: Sequence[str], stage: str) -> list[str]:
        """The imagery files a stage reads.

        Args:
            files: all imagery files.
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Returns:
            The stage's files, sorted.

        Raises:
            ValueError: If a named tile matches no file.
        """
        names, exclude = self.tile_names(stage)
        return select_tiles(files, names, exclude)

    def regions(self, extent: Any, crs: Any) -> dict[str, Any]:
        """Geometry of each stage's pixels for ``split='regions'`` (else empty).

        Args:
            extent: the imagery's extent, a shapely geometry in ``crs``.
            crs: the imagery CRS.

        Returns:
            ``{'fit': ..., 'validate': ..., 'test': ...}`` geometries in ``crs``:
            the held-out regions, and the rest of the imagery for training (and
            validation without a validation region).

        Raises:
            ValueError: If a region misses the imagery or the held-out regions
                cover all of it.
        """
        if self.split != 'regions':
            return {}
        regions = {}
        for stage, region in (
            ('validate', self.val_region),
            ('test', self.test_region),
        ):
            if region is None:
                continue
            geometry = region_geometry(region, crs)
            check_overlap(
                extent,
                geometry,
                first_name='the imagery',
                second_name=f'the {stage} region',
                first_crs=crs,
            )
            regions[stage] = geometry
        regions['fit'] = extent.difference(shapely.union_all(list(regions.values())))
        if regions['fit'].area == 0:
            raise ValueError(
                'the held-out regions cover all the imagery: nothing to train on'
            )
        regions.setdefault('validate', regions['fit'])
        return regions

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
tiles does this stage read" and "which pixels may it use". :func:`check_patch_fits`
refuses a training patch larger than every tile (TorchGeo's sampler would fail with
``cannot sample n_sample > prob_dist.size(-1) samples``) and warns about tiles too
small to train on. :class:`CentredGridSampler` is the paper's validation grid:
cells tiling the extent, each scored on its centre crop only.
"""

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import shapely
from torchgeo.datasets import GeoDataset
from torchgeo.samplers import GriddedPatchSampler

from ..datasets.regions import region_geometry
from ..grid import Bounds, Region, check_overlap
from .inputs import select_tiles

__all__ = (
    'STAGES',
    'CentredGridSampler',
    'Split',
    'SplitPlan',
    'check_eval_sizes',
    'check_patch_fits',
    'geometry_bounds',
)

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


def _pixels(geometry: Any, res: tuple[float, float]) -> tuple[int, int]:
    """Width and height of a geometry's bounds in pixels."""
    minx, miny, maxx, maxy = geometry.bounds
    return round((maxx - minx) / res[0]), round((maxy - miny) / res[1])


def geometry_bounds(geometry: Any) -> Bounds:
    """``(minx, miny, maxx, maxy)`` of a geometry, as floats.

    Args:
        geometry: a shapely geometry.

    Returns:
        Its bounds.
    """
    minx, miny, maxx, maxy = geometry.bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def check_eval_sizes(**sizes: int | None) -> None:
    """Refuse evaluation sizes below 1 (None: the default).

    Args:
        **sizes: the sizes by argument name.

    Raises:
        ValueError: If one is below 1.
    """
    for name, value in sizes.items():
        if value is not None and value < 1:
            raise ValueError(f'{name} must be >= 1 (or null), got {value}')


def check_patch_fits(dataset: GeoDataset, stage: Any, patch_size: int) -> None:
    """Refuse a training patch larger than every tile; warn about skipped tiles.

    TorchGeo's :class:`~torchgeo.samplers.RandomBatchGeoSampler` draws patches only
    from entries of the dataset's index (each imagery tile where it meets the
    other inputs) whose bounds are at least ``patch_size`` pixels wide and high
    (the margin and context are read around the patch, as nodata outside the
    data, so they do not count). With no such entry it fails with ``cannot
    sample n_sample > prob_dist.size(-1) samples without replacement``; smaller
    entries it skips silently. Evaluation grids have no such limit (their
    patches may overhang the data).

    Args:
        dataset: the training dataset (its index and resolution).
        stage: its sample transform (``tile_paths`` and ``tile_bounds`` of the
            imagery tiles, in the dataset's CRS, name the tiles).
        patch_size: the training patch side in pixels.

    Raises:
        ValueError: If no entry fits the patch (names the tiles, their sizes in
            pixels and the largest ``patch_size`` that fits).
    """
    res = dataset.res
    need_x, need_y = patch_size * res[0], patch_size * res[1]
    tiles = zip(stage.tile_paths, stage.tile_bounds, strict=True)
    boxes = [(Path(path).name, shapely.box(*bounds)) for path, bounds in tiles]
    entries = []
    for geometry in dataset.index.geometry:
        minx, miny, maxx, maxy = geometry.bounds
        name = max(boxes, key=lambda b: b[1].intersection(geometry).area)[0]
        fits = maxx - minx >= need_x and maxy - miny >= need_y
        entries.append((name, *_pixels(geometry, res), fits))
    if not any(fits for *_, fits in entries):
        sizes = ', '.join(
            f'{name} ({width} x {height} px)'
            for name, width, height, _ in sorted(entries)[:10]
        )
        more = f' and {len(entries) - 10} more' if len(entries) > 10 else ''
        largest = max((min(w, h) for _, w, h, _ in entries), default=0)
        raise ValueError(
            f'patch_size {patch_size} is larger than every training tile (where '
            f'the imagery meets the other inputs): {sizes}{more}; set patch_size '
            f'<= {largest} (a tile trains only if both its sides are >= '
            'patch_size px) or use larger tiles'
        )
    trained = {name for name, *_, fits in entries if fits}
    skipped = sorted({name for name, *_ in entries} - trained)
    if skipped:
        warnings.warn(
            f'{len(skipped)} training tile(s) smaller than patch_size {patch_size} '
            f'px on a side get no training patch: {", ".join(skipped[:10])}',
            stacklevel=3,
        )


class CentredGridSampler(GriddedPatchSampler):
    """A grid of ``cell`` px cells over the extent, yielding each cell's centre crop.

    The paper's validation (REFERENCE §2.7): a grid sampler with size = stride =
    the sampled box (Chesapeake 512, EnviroAtlas 384 px), each cell centre-cropped
    to the 128 px patch, so the validation loss sees only the centre crops. With
    ``cell == size`` it is TorchGeo's grid tiling the extent.
    """

    def __init__(
        self, dataset: GeoDataset, *, size: int, cell: int, roi: Any = None
    ) -> None:
        """Lay the grid.

        Args:
            dataset: the dataset to sample.
            size: side of the yielded patches in pixels.
            cell: side and step of the grid cells in pixels (>= ``size``).
            roi: region to cover (default: the dataset's extent).

        Raises:
            ValueError: If ``cell`` is smaller than ``size``.
        """
        if cell < size:
            raise ValueError(
                f'val_stride ({cell}) must be >= val_patch_size ({size}): the '
                'validation patches are centre crops of grid cells that large'
            )
        super().__init__(dataset, size=cell, stride=cell, roi=roi)
        self.crop = size
        # Whole pixels from the cell's corner to its centre crop.
        self.offset = (cell - size) // 2

    def __iter__(self) -> Iterator[tuple[slice, slice]]:
        """Centre crops of the grid cells that overlap the region.

        Yields:
            ``[xmin:xmax, ymin:ymax]`` of each crop.
        """
        xres, yres = self.res
        for x, y in super().__iter__():
            x0, y0 = x.start + self.offset * xres, y.start + self.offset * yres
            x1, y1 = x0 + self.crop * xres, y0 + self.crop * yres
            box = shapely.box(x0, y0, x1, y1)
            if self.geometry.intersects(box) and not self.geometry.touches(box):
                yield slice(x0, x1), slice(y0, y1)

"""Generic LSR data module: any imagery + coarse labels (or priors) -> (image, prior).

Batches carry ``image`` (float), ``prior`` (C x H x W, sums to 1), ``valid`` (bool:
imagery and prior both have data), ``tile`` (index of each pixel's imagery tile),
``mask`` (high-res class indices with the ignore index ``C``, only when labels are
given; used for metrics only), and ``bounds`` / ``transform`` of each sample, which
survive to the task's steps. Samples are ``patch_size + 2 * context`` pixels: the
context feeds the model's receptive field and the task crops it.

The prior is read from precomputed rasters (``prior_paths``, from ``torchgeo-lsr
prior``) or built on the fly from the coarse labels with the same
:class:`~torchgeo_lsr.priors.PriorBuilder`. On-the-fly priors need context beyond the
patch (the blur radius), so patches are read with a margin of ``builder.halo``
pixels, each tile's part of a sample gets its prior with that tile's edges reflected
exactly as the raster writer does, and the margin is cropped: on-the-fly and
precomputed priors agree.

Splits: ``'transductive'`` (default, the paper's protocol: train, validate and test
on the same target tiles; their high-res labels only ever feed metrics),
``'tiles'`` (``val_tiles`` / ``test_tiles`` name imagery files held out) or
``'regions'`` (``val_region`` / ``test_region``: boxes in the imagery CRS or vector
files of polygons, held out of training pixel by pixel; validation and testing see
only pixels inside their region).

Auxiliary layers (buildings, roads, waterways, water bodies) are vector files
(rasterised per sample with the fusion rules' options) or rasters on any grid
(read with the sample, values > 0 are 1). They feed the fusion rules of on-the-fly
priors and, through ``inputs``, the network's input: ``inputs`` lists the channels
of ``image`` in order, from ``'imagery'``, ``'prior'`` and layer names (the learned
prior network of REFERENCE §2.5 sees ``['prior', 'buildings', 'roads',
'waterbodies', 'waterways']``).

Data-set modules (EnviroAtlas, Chesapeake) reuse all of this and override
:meth:`LSRDataModule.stage_inputs` to say which files each stage reads.
"""

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from affine import Affine
from torch import Tensor
from torchgeo.datamodules import GeoDataModule
from torchgeo.datasets import DatasetNotFoundError, GeoDataset, IntersectionDataset
from torchgeo.datasets.utils import GeoSlice, Sample
from torchgeo.samplers import GriddedPatchSampler, RandomBatchGeoSampler

from ..datasets.rasters import (
    CoarseLabelRaster,
    ImageryRaster,
    LabelRaster,
    LayerRaster,
    PriorRaster,
)
from ..priors.builder import PriorBuilder
from ..priors.cooccurrence import load_cooccurrence
from ..priors.fusion import load_rules
from ..schemes import ClassScheme, get_scheme

__all__ = (
    'LAYER_NAMES',
    'LSRDataModule',
    'LSRSampleTransform',
    'MarginDataset',
    'Region',
    'StageInputs',
    'region_geometry',
)

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
Split = Literal['transductive', 'tiles', 'regions']
#: A region: ``(xmin, ymin, xmax, ymax)`` in the imagery CRS, or a vector file of
#: polygons (any CRS; reprojected).
Region = Sequence[float] | str | os.PathLike[str]

#: Auxiliary layers the data module reads.
LAYER_NAMES = ('buildings', 'roads', 'waterways', 'waterbodies')

_RASTER_SUFFIXES = ('.tif', '.tiff', '.vrt', '.img', '.jp2')


@dataclass
class StageInputs:
    """The files one stage (fit, validate, test, predict) reads.

    Attributes:
        image: imagery files (each one a tile of the stage).
        coarse: coarse label files or folders.
        label: high-res label files or folders.
        prior: precomputed prior files or folders.
        layers: auxiliary layer files (rasters or vectors) by layer name.
    """

    image: list[str]
    coarse: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    prior: list[str] = field(default_factory=list)
    layers: dict[str, list[str]] = field(default_factory=dict)


def _is_raster(path: str) -> bool:
    """Whether a layer path is a raster (or a folder of rasters), not vectors."""
    if os.path.isdir(path):
        return True
    if Path(path).suffix.lower() in _RASTER_SUFFIXES:
        return True
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path):
            return True
    except RasterioIOError:
        return False


def _as_list(paths: Paths | None) -> list[str]:
    """Normalise a file, a folder or a list of them to a list of strings."""
    if paths is None:
        return []
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def region_geometry(region: Region, crs: Any) -> Any:
    """A region argument as a shapely geometry in a CRS.

    Args:
        region: a box ``(xmin, ymin, xmax, ymax)`` in ``crs``, or a vector file of
            polygons (any CRS; reprojected).
        crs: the imagery CRS.

    Returns:
        The geometry.

    Raises:
        ValueError: For a box that is not four increasing numbers, or a file
            without polygons.
    """
    import shapely

    if isinstance(region, str | os.PathLike):
        from ..datasets.vectors import read_vector_layer

        frame = read_vector_layer(region, crs=crs, layer='region')
        geometry = frame.geometry.union_all()
        if geometry.is_empty or geometry.area == 0:
            raise ValueError(f'region file {region} holds no polygon')
        return geometry
    values = [float(v) for v in region]
    if len(values) != 4 or values[0] >= values[2] or values[1] >= values[3]:
        raise ValueError(
            f'a region box is (xmin, ymin, xmax, ymax) in the imagery CRS, '
            f'got {list(region)}'
        )
    return shapely.box(*values)


class MarginDataset(IntersectionDataset):
    """An intersection of datasets that reads every patch with a margin around it.

    Samplers choose patches as usual; each read extends the patch by ``margin``
    pixels on all sides (outside the data, rasters read as nodata), and
    :class:`LSRSampleTransform` crops the margin again.
    """

    def __init__(self, dataset1: GeoDataset, dataset2: GeoDataset, margin: int) -> None:
        """Intersect two datasets.

        Args:
            dataset1: the first dataset (its bounds describe the patch).
            dataset2: the second dataset.
            margin: pixels of context read around each patch.
        """
        super().__init__(dataset1, dataset2)
        self.margin = margin

    def __getitem__(self, index: GeoSlice) -> Sample:
        """Read the patch ``index`` plus the margin.

        Args:
            index: the patch's ``[x, y, t]`` slice.

        Returns:
            The sample (before the transform crops the margin).
        """
        x, y, t = self._disambiguate_slice(index)
        xres, yres = self.res
        dx, dy = self.margin * xres, self.margin * yres
        expanded = (
            slice(x.start - dx, x.stop + dx, x.step),
            slice(y.start - dy, y.stop + dy, y.step),
            t,
        )
        return super().__getitem__(expanded)


class LSRSampleTransform:
    """Turn a raw sample (with margin) into a training sample.

    The raw sample extends ``halo + context`` pixels beyond the sampled patch on
    every side. ``halo`` pixels feed the on-the-fly prior and are cropped; the
    ``context`` pixels stay in the sample (the model sees them; the task crops them
    before the loss and metrics). Picklable, so it runs in data-loader workers.
    """

    def __init__(
        self,
        halo: int,
        num_classes: int,
        builder: PriorBuilder | None,
        tile_bounds: Sequence[tuple[float, float, float, float]],
        label_scheme: ClassScheme | None,
        image_scale: float = 255.0,
        image_nodata: float | None = 0.0,
        layers: dict[str, Any] | None = None,
        crs: Any = None,
        region: Any = None,
        context: int = 0,
        tile_paths: Sequence[str] = (),
        inputs: Sequence[str] = ('imagery',),
        coarse_lookup: Sequence[float] | None = None,
        tile_builders: Sequence[PriorBuilder] | None = None,
    ) -> None:
        """Initialise the transform.

        Args:
            halo: pixels of prior context read around the sample and cropped.
            num_classes: number of prior classes (also the ignore index of ``mask``).
            builder: builds priors from ``coarse`` codes; None when ``prior`` is read.
            tile_bounds: (minx, miny, maxx, maxy) of every imagery tile; each tile's
                part of a sample gets the prior of that tile, with the tile's edges
                reflected (as the raster writer does per tile).
            label_scheme: scheme of the high-res labels (None: no labels).
            image_scale: imagery is divided by this.
            image_nodata: imagery value meaning nodata when all bands have it.
            layers: auxiliary vector layers (GeoDataFrames in ``crs``) by name, for
                the builder's fusion rules.
            crs: CRS of the imagery grid.
            region: shapely geometry (imagery CRS) of the pixels this split may
                use; pixels outside are invalid and their labels ignored (None:
                all pixels).
            context: pixels around the patch kept for the model's receptive field.
            tile_paths: the imagery file of each tile (in ``tile_bounds`` order),
                for exports on each file's grid.
            inputs: channels of the output ``image``, in order: ``'imagery'``,
                ``'prior'`` and layer names (raster layers arrive in the sample as
                ``layer_<name>``; vector layers are in ``layers``).
            coarse_lookup: value ``v`` of the coarse raster means code
                ``coarse_lookup[v]`` (e.g. EnviroAtlas stores NLCD as class
                indices); None: the raster holds the codes.
            tile_builders: a builder per tile (in ``tile_bounds`` order) when
                tiles take different co-occurrence matrices (e.g. one per state);
                None: ``builder`` for all.
        """
        self.halo = halo
        self.context = context
        self.tile_paths = list(tile_paths)
        self.region = region
        self.layers = dict(layers or {})
        self.crs = crs
        self.num_classes = num_classes
        self.builder = builder
        self.tile_bounds = list(tile_bounds)
        self.label_scheme = label_scheme
        self.image_scale = image_scale
        self.image_nodata = image_nodata
        self.inputs = list(inputs)
        self.tile_builders = list(tile_builders) if tile_builders else None
        self.coarse_lookup = (
            None
            if coarse_lookup is None
            else np.asarray([*coarse_lookup, np.nan], np.float32)
        )

    @property
    def margin(self) -> int:
        """Pixels read around each sampled patch."""
        return self.halo + self.context

    def _tile_windows(
        self, transform: Affine, shape: tuple[int, int]
    ) -> list[tuple[int, tuple[int, int, int, int]]]:
        """Each tile's part of the output grid, in pixels.

        Args:
            transform: affine transform of the output grid (halo cropped).
            shape: (height, width) of the output grid.

        Returns:
            ``(tile index, (row0, row1, col0, col1))`` for each tile overlapping it.
        """
        height, width = shape
        xres, yres = transform.a, -transform.e
        left, top = transform.c, transform.f
        windows = []
        for index, (minx, miny, maxx, maxy) in enumerate(self.tile_bounds):
            col0 = max(0, round((minx - left) / xres))
            col1 = min(width, round((maxx - left) / xres))
            row0 = max(0, round((top - maxy) / yres))
            row1 = min(height, round((top - miny) / yres))
            if col0 < col1 and row0 < row1:
                windows.append((index, (row0, row1, col0, col1)))
        return windows

    def _layers(
        self,
        transform: Affine,
        rows: tuple[int, int],
        cols: tuple[int, int],
        rasters: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The auxiliary layers on a window of the raw sample.

        Args:
            transform: affine transform of the raw sample.
            rows: (start, stop) rows of the window.
            cols: (start, stop) columns of the window.
            rasters: raster layers of the raw sample (0/1) by name.

        Returns:
            0/1 layers by name (vector layers rasterised on the window).
        """
        out = {
            name: layer[rows[0] : rows[1], cols[0] : cols[1]]
            for name, layer in rasters.items()
        }
        if not self.layers:
            return out
        from ..datasets.vectors import rasterize_layer

        grid = transform @ Affine.translation(cols[0], rows[0])
        with warnings.catch_warnings():
            # Most patches miss most features: "no overlap" is normal here.
            warnings.simplefilter('ignore', UserWarning)
            for name, frame in self.layers.items():
                out[name] = rasterize_layer(
                    frame, name, self.crs, grid, cols[1] - cols[0], rows[1] - rows[0]
                )
        return out

    def _build_prior(
        self,
        codes: np.ndarray,
        raw_transform: Affine,
        windows: list[tuple[int, tuple[int, int, int, int]]],
        shape: tuple[int, int],
        rasters: dict[str, np.ndarray],
    ) -> tuple[Tensor, Tensor]:
        """Build the prior of each tile's part of the output grid from coarse codes.

        Args:
            codes: (H + 2 halo, W + 2 halo) coarse codes of the raw sample.
            raw_transform: affine transform of the raw sample.
            windows: each tile's part of the output grid (see :meth:`_tile_windows`).
            shape: (H, W) of the output grid.
            rasters: raster layers of the raw sample by name.

        Returns:
            The (C, H, W) prior (0 where invalid) and its (H, W) validity.
        """
        assert self.builder is not None
        halo = self.halo
        prior = np.zeros((self.num_classes, *shape), np.float32)
        valid = np.zeros(shape, bool)
        for index, (row0, row1, col0, col1) in windows:
            # The tile's codes within reach of the window (raw sample pixels), and
            # how much of the halo the tile's edges cut off (reflected instead).
            reach = self._tile_reach(raw_transform, codes.shape, index)
            top = max(0, reach[0] - row0)
            left = max(0, reach[2] - col0)
            bottom = max(0, row1 + 2 * halo - reach[1])
            right = max(0, col1 + 2 * halo - reach[3])
            rows = (row0 + top, row1 + 2 * halo - bottom)
            cols = (col0 + left, col1 + 2 * halo - right)
            builder = self.tile_builders[index] if self.tile_builders else self.builder
            piece, piece_valid = builder.build_window(
                codes[rows[0] : rows[1], cols[0] : cols[1]],
                (top, bottom, left, right),
                self._layers(raw_transform, rows, cols, rasters),
            )
            prior[:, row0:row1, col0:col1] = piece
            valid[row0:row1, col0:col1] = piece_valid
        return torch.from_numpy(prior), torch.from_numpy(valid)

    def _tile_reach(
        self, raw_transform: Affine, shape: tuple[int, ...], tile: int
    ) -> tuple[int, int, int, int]:
        """Raw-sample pixels (row0, row1, col0, col1) inside a tile.

        Args:
            raw_transform: affine transform of the raw sample.
            shape: shape of the raw sample.
            tile: index of the tile in :attr:`tile_bounds`.

        Returns:
            The tile's extent in raw-sample pixels, clipped to the sample.
        """
        minx, miny, maxx, maxy = self.tile_bounds[tile]
        xres, yres = raw_transform.a, -raw_transform.e
        left, top = raw_transform.c, raw_transform.f
        return (
            max(0, round((top - maxy) / yres)),
            min(shape[0], round((top - miny) / yres)),
            max(0, round((minx - left) / xres)),
            min(shape[1], round((maxx - left) / xres)),
        )

    def _lookup(self, values: np.ndarray) -> np.ndarray:
        """Coarse raster values -> codes through :attr:`coarse_lookup`.

        Args:
            values: raw coarse values (NaN or out-of-table values are nodata).

        Returns:
            float32 codes, NaN where a value is not in the table.
        """
        assert self.coarse_lookup is not None
        table = self.coarse_lookup
        index = np.nan_to_num(values, nan=-1).astype(np.int64)
        index[(index < 0) | (index >= len(table) - 1)] = len(table) - 1
        result: np.ndarray = table[index]
        return result

    def _compose_inputs(
        self,
        imagery: Tensor,
        prior: Tensor,
        raw_transform: Affine,
        rasters: dict[str, np.ndarray],
    ) -> Tensor:
        """Stack the channels :attr:`inputs` names into the network's input.

        Args:
            imagery: (bands, H, W) scaled imagery (halo cropped).
            prior: (C, H, W) prior.
            raw_transform: affine transform of the raw sample.
            rasters: raster layers of the raw sample by name.

        Returns:
            The (channels, H, W) input.

        Raises:
            ValueError: If an input names a layer the data module does not read.
        """
        h = self.halo
        height, width = imagery.shape[-2:]
        layers: dict[str, np.ndarray] = {}
        if any(name not in ('imagery', 'prior') for name in self.inputs):
            layers = self._layers(
                raw_transform, (h, h + height), (h, h + width), rasters
            )
        parts = []
        for name in self.inputs:
            if name == 'imagery':
                parts.append(imagery)
            elif name == 'prior':
                parts.append(prior)
            elif name in layers:
                parts.append(
                    torch.from_numpy(np.asarray(layers[name], np.float32))[None]
                )
            else:
                raise ValueError(
                    f'input {name!r} is not a layer the data module reads '
                    f'(layers: {sorted(layers)})'
                )
        return torch.cat(parts)

    def _inside_region(self, transform: Affine, shape: tuple[int, int]) -> Tensor:
        """Pixels of the output grid whose centres lie in :attr:`region`.

        Args:
            transform: affine transform of the output grid.
            shape: its (height, width).

        Returns:
            Boolean (H, W) tensor.
        """
        from rasterio.features import geometry_mask

        if self.region.is_empty:
            return torch.zeros(shape, dtype=torch.bool)
        inside = geometry_mask(
            [self.region], out_shape=shape, transform=transform, invert=True
        )
        return torch.from_numpy(inside)

    def __call__(self, sample: Sample) -> Sample:
        """Build or normalise the prior, validity, labels and tile ids; crop the halo.

        Args:
            sample: raw sample with ``image`` and ``coarse`` or ``prior`` (and
                optionally ``mask``), including the margin.

        Returns:
            The sample: ``image``, ``prior``, ``valid``, ``tile`` (index of the
            imagery tile of each pixel, -1 outside all), ``mask`` when labels are
            read, ``bounds`` and ``transform``.
        """
        h = self.halo
        raw_height, raw_width = sample['image'].shape[-2:]
        shape = (raw_height - 2 * h, raw_width - 2 * h)
        raw_transform = Affine(*(float(v) for v in sample['transform'][:6]))
        transform = raw_transform @ Affine.translation(h, h)
        image = sample['image'][:, h : raw_height - h, h : raw_width - h].float()
        windows = self._tile_windows(transform, shape)
        tile = torch.full(shape, -1, dtype=torch.int64)
        for index, (row0, row1, col0, col1) in windows:
            tile[row0:row1, col0:col1] = index
        rasters = {
            key[len('layer_') :]: (sample.pop(key).numpy() > 0).astype(np.float32)
            for key in [k for k in sample if k.startswith('layer_')]
        }
        if self.builder is not None:
            codes = sample.pop('coarse').numpy()
            if self.coarse_lookup is not None:
                codes = self._lookup(codes)
            prior, valid = self._build_prior(
                codes, raw_transform, windows, shape, rasters
            )
        else:
            raw = sample.pop('prior')[:, h : raw_height - h, h : raw_width - h].float()
            total = raw.nan_to_num(0.0).clamp_min(0).sum(0)
            valid = torch.isfinite(raw).all(0) & (total > 0)
            prior = torch.where(valid, raw.nan_to_num(0.0) / total.clamp_min(1e-12), 0)
        valid &= tile >= 0
        if self.image_nodata is not None:
            nodata = (image == self.image_nodata).all(0)
            valid &= ~nodata
            # Nodata reads as 0 whatever its value, like the area outside the
            # rasters: models see one convention (zero padding) for both.
            image = image.masked_fill(nodata, 0.0)
        in_region = None
        if self.region is not None:
            in_region = self._inside_region(transform, shape)
            valid &= in_region
        # Invalid pixels get a uniform prior: losses must still see a distribution.
        prior = torch.where(valid, prior, 1.0 / self.num_classes)
        image = image / self.image_scale
        if self.inputs != ['imagery']:
            image = self._compose_inputs(image, prior, raw_transform, rasters)
        out: Sample = {'image': image, 'prior': prior, 'valid': valid, 'tile': tile}
        if 'mask' in sample and self.label_scheme is not None:
            codes = sample['mask'][h : raw_height - h, h : raw_width - h].numpy()
            labels = self.label_scheme.to_index(codes).astype(np.int64)
            labels[labels < 0] = self.num_classes
            if in_region is not None:
                labels[~in_region.numpy()] = self.num_classes
            out['mask'] = torch.from_numpy(labels)
        # Intersections concatenate each dataset's bounds and transform: the first
        # one (the imagery's) describes the sample.
        xmin, xmax, xres, ymin, ymax, yres, *rest = sample['bounds'][:9].tolist()
        out['bounds'] = torch.tensor(
            [
                xmin + h * xres,
                xmax - h * xres,
                xres,
                ymin + h * yres,
                ymax - h * yres,
                yres,
                *rest,
            ]
        )
        out['transform'] = torch.tensor(
            [*transform[:6], *sample['transform'][6:9].tolist()],
            dtype=sample['transform'].dtype,
        )
        return out


class LSRDataModule(GeoDataModule):
    """Imagery + coarse labels (or priors) + optional high-res labels -> LSR batches.

    Training batches come from :class:`~torchgeo.samplers.RandomBatchGeoSampler`
    (all patches of a batch from one tile, as the paper's per-batch normalisation
    assumes); validation and test from :class:`~torchgeo.samplers.GridGeoSampler`;
    prediction covers the whole extent.
    """

    def __init__(
        self,
        image_paths: Paths,
        coarse_paths: Paths | None = None,
        label_paths: Paths | None = None,
        prior_paths: Paths | None = None,
        train_labels: bool = False,
        cooccurrence: str | None = None,
        prior_sigma: float = 31.0,
        prior_kernel_size: int = 101,
        coarse_nodata: Sequence[float] = (0,),
        buildings_paths: Paths | None = None,
        roads_paths: Paths | None = None,
        waterways_paths: Paths | None = None,
        waterbodies_paths: Paths | None = None,
        fusion_rules: str | None = None,
        label_scheme: str | None = None,
        batch_size: int = 16,
        patch_size: int = 128,
        eval_patch_size: int | None = None,
        context: int = 5,
        length: int | None = None,
        num_workers: int = 0,
        split: Split = 'transductive',
        val_tiles: Sequence[str] = (),
        test_tiles: Sequence[str] = (),
        val_region: Region | None = None,
        test_region: Region | None = None,
        image_glob: str = '*.tif',
        coarse_glob: str = '*.tif',
        label_glob: str = '*.tif',
        prior_glob: str = '*.tif',
        image_scale: float = 255.0,
        image_nodata: float | None = 0.0,
        coarse_lookup: Sequence[float] | None = None,
        inputs: Sequence[str] = ('imagery',),
    ) -> None:
        """Initialise the data module.

        Args:
            image_paths: imagery files or folders.
            coarse_paths: coarse label rasters (needed unless ``prior_paths``).
            label_paths: high-res label rasters, for metrics only.
            prior_paths: precomputed prior rasters (else built on the fly).
            train_labels: also read the high-res labels into training batches,
                for the supervised baselines (``'hr'``, ``'hr_aux'``) on tiles or
                regions held out of testing. Off by default: learning from priors
                never reads a label in training (and reads a third less).
            cooccurrence: bundled matrix name or CSV (needed for on-the-fly priors;
                also names the classes).
            prior_sigma: blur sigma in pixels of the imagery grid.
            prior_kernel_size: blur kernel size in pixels.
            coarse_nodata: coarse codes meaning nodata.
            buildings_paths: building footprints: vector file(s), or rasters
                (values > 0 are buildings), for on-the-fly fusion or ``inputs``.
            roads_paths: roads (vectors or rasters).
            waterways_paths: waterways (vectors or rasters).
            waterbodies_paths: water bodies (vectors or rasters).
            fusion_rules: rule set name or YAML (default with layers: enviroatlas,
                restricted to the layers given; ``'none'``: layers only feed
                ``inputs``).
            label_scheme: scheme of the high-res labels (default: the matrix's fine
                scheme).
            batch_size: patches per batch.
            patch_size: side in pixels of the patches the task scores; validation,
                test and prediction grids step by it, so patches tile the extent.
            eval_patch_size: patch side of the validation, test and prediction
                grids (default: ``patch_size``); larger patches read and build
                priors with less overhead.
            context: pixels of imagery around each patch for the model's receptive
                field (samples are ``patch_size + 2 * context`` pixels; the task
                crops the context before the loss and metrics). The default, 5,
                is half the receptive field of the paper's FCN.
            length: training patches per epoch (default: sampler's choice).
            num_workers: data-loader workers.
            split: ``'transductive'`` (train, validate and test on all tiles),
                ``'tiles'`` or ``'regions'``.
            val_tiles: imagery file names (or stems) for validation (``'tiles'``;
                default: validate on the training tiles).
            test_tiles: imagery file names (or stems) for testing (``'tiles'``).
            val_region: ``(xmin, ymin, xmax, ymax)`` in the imagery CRS, or a vector
                file of polygons, for validation (``'regions'``; default: validate
                on the training region).
            test_region: the same, for testing (``'regions'``).
            image_glob: pattern of imagery files.
            coarse_glob: pattern of coarse label files.
            label_glob: pattern of label files.
            prior_glob: pattern of prior files.
            image_scale: imagery values are divided by this.
            image_nodata: imagery value meaning nodata (in all bands).
            coarse_lookup: coarse raster value ``v`` means coarse code
                ``coarse_lookup[v]`` (for rasters that store class indices, e.g.
                EnviroAtlas's NLCD layer); values outside the table are nodata.
            inputs: channels of the network's input, in order: ``'imagery'``,
                ``'prior'`` (the prior's C channels) and names of layers given above
                (one 0/1 channel each).

        Raises:
            ValueError: On inconsistent arguments.
        """
        if context < 0:
            raise ValueError(f'context must be >= 0, got {context}')
        unknown = [n for n in inputs if n not in ('imagery', 'prior', *LAYER_NAMES)]
        if unknown or not inputs:
            raise ValueError(
                f'inputs must name channels from imagery, prior, {", ".join(LAYER_NAMES)}; '
                f'got {list(inputs)}'
            )
        if prior_paths is None and (coarse_paths is None or cooccurrence is None):
            raise ValueError(
                'give prior_paths, or coarse_paths and cooccurrence to build priors'
            )
        if split not in ('transductive', 'tiles', 'regions'):
            raise ValueError(
                f"split must be 'transductive', 'tiles' or 'regions', got {split!r}"
            )
        if split == 'tiles' and not test_tiles:
            raise ValueError(
                "split='tiles' needs test_tiles (and optionally val_tiles)"
            )
        if split == 'regions' and test_region is None:
            raise ValueError(
                "split='regions' needs test_region (and optionally val_region)"
            )
        if split != 'tiles' and (val_tiles or test_tiles):
            raise ValueError(f"val_tiles/test_tiles need split='tiles', not {split!r}")
        if split != 'regions' and (val_region is not None or test_region is not None):
            raise ValueError(
                f"val_region/test_region need split='regions', not {split!r}"
            )
        super().__init__(
            ImageryRaster,  # unused: setup assembles intersections of datasets
            batch_size=batch_size,
            patch_size=patch_size,
            length=length,
            num_workers=num_workers,
        )
        self.image_paths = _as_list(image_paths)
        self.coarse_paths = _as_list(coarse_paths)
        self.label_paths = _as_list(label_paths)
        self.prior_paths = _as_list(prior_paths)
        self.train_labels = train_labels
        self.split = split
        self.val_tiles = list(val_tiles)
        self.test_tiles = list(test_tiles)
        self.val_region = val_region
        self.test_region = test_region
        self.globs = {
            'image': image_glob,
            'coarse': coarse_glob,
            'label': label_glob,
            'prior': prior_glob,
        }
        self.image_scale = image_scale
        self.image_nodata = image_nodata
        self.builder: PriorBuilder | None = None
        scheme: ClassScheme | None = None
        if cooccurrence is not None:
            matrix = load_cooccurrence(cooccurrence)
            scheme = matrix.fine
            if not self.prior_paths:
                self.builder = PriorBuilder(
                    matrix,
                    sigma=prior_sigma,
                    kernel_size=prior_kernel_size,
                    coarse_nodata=coarse_nodata,
                )
        self.layer_paths = {
            name: _as_list(paths)
            for name, paths in (
                ('buildings', buildings_paths),
                ('roads', roads_paths),
                ('waterways', waterways_paths),
                ('waterbodies', waterbodies_paths),
            )
            if paths is not None
        }
        missing_inputs = [
            n for n in inputs if n in LAYER_NAMES and n not in self.layer_paths
        ]
        if missing_inputs:
            raise ValueError(
                f'inputs {missing_inputs} need their layer paths '
                f'({", ".join(n + "_paths" for n in missing_inputs)})'
            )
        self.inputs = list(inputs)
        self.coarse_lookup = None if coarse_lookup is None else list(coarse_lookup)
        if fusion_rules == 'none':
            fusion_rules = None
        elif self.builder is not None and (self.layer_paths or fusion_rules):
            rules = load_rules(fusion_rules or 'enviroatlas')
            if fusion_rules is None:
                rules = rules.restricted_to(set(self.layer_paths))
            missing = [n for n in rules.layers if n not in self.layer_paths]
            if missing:
                raise ValueError(f'the fusion rules need layers {missing}')
            self.builder.rules = rules
        if label_scheme is not None:
            scheme = get_scheme(label_scheme)
        self.scheme = scheme
        self.halo = self.builder.halo if self.builder is not None else 0
        #: Co-occurrence matrix (name or CSV) of particular imagery tiles, by file
        #: path; tiles not listed use ``cooccurrence``. Set by data-set modules
        #: whose regions each have their own matrix (Chesapeake states).
        self.tile_cooccurrences: dict[str, str] = {}
        self.context = context
        self.eval_patch_size = eval_patch_size or patch_size

    @property
    def margin(self) -> int:
        """Pixels read around each sampled patch: prior halo plus model context."""
        return self.halo + self.context

    @property
    def num_classes(self) -> int:
        """Number of prior classes."""
        if self.scheme is not None:
            return self.scheme.num_classes
        with_prior = PriorRaster(self.prior_paths, filename_glob=self.globs['prior'])
        return (
            len(with_prior.all_bands)
            if with_prior.all_bands
            else _band_count(with_prior)
        )

    def _tile_files(self, names: Sequence[str], exclude: Sequence[str]) -> list[str]:
        """Imagery files selected by name (or all but ``exclude``).

        Args:
            names: file names or stems to keep (empty: keep all).
            exclude: file names or stems to drop.

        Returns:
            Matching files.

        Raises:
            ValueError: If a requested tile matches no imagery file.
        """
        files = sorted(self._open('image', ImageryRaster, self.image_paths).files)

        def matches(path: str, wanted: str) -> bool:
            return Path(path).name == wanted or Path(path).stem == wanted

        for wanted in [*names, *exclude]:
            if not any(matches(f, wanted) for f in files):
                raise ValueError(f'no imagery file named {wanted!r} for the split')
        keep = [f for f in files if not names or any(matches(f, n) for n in names)]
        return [f for f in keep if not any(matches(f, n) for n in exclude)]

    def stage_inputs(self, stage: str) -> StageInputs:
        """The files a stage reads (data-set modules override this).

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Returns:
            The stage's imagery tiles and the other inputs' files.
        """
        held_out = [*self.val_tiles, *self.test_tiles]
        if stage == 'fit':
            image = self._tile_files([], held_out)
        elif stage == 'validate':
            image = (
                self._tile_files(self.val_tiles, [])
                if self.val_tiles
                else self._tile_files([], held_out)
            )
        elif stage == 'test' and self.split == 'tiles':
            image = self._tile_files(self.test_tiles, [])
        elif stage == 'test':
            image = self._tile_files([], held_out)
        else:
            image = self._tile_files([], [])
        return StageInputs(
            image=image,
            coarse=self.coarse_paths,
            label=self.label_paths,
            prior=self.prior_paths,
            layers=self.layer_paths,
        )

    def image_statistics(self, max_pixels: int = 2_000_000) -> tuple[Tensor, Tensor]:
        """Per-band mean and standard deviation of the training imagery.

        Read from a regular grid of small windows spread over every training file
        (about ``max_pixels`` pixels in all; only the blocks under the windows are
        decoded, so large rasters cost little time and memory), in the units the
        samples have (divided by ``image_scale``), nodata excluded. For tasks that
        standardise their input.

        Args:
            max_pixels: pixels to read in all.

        Returns:
            ``(mean, std)``, each of shape (bands,).

        Raises:
            ValueError: If the files have different band counts or no valid pixel.
        """
        import rasterio

        files = self.stage_inputs('fit').image
        total = squares = None
        count = 0
        for path in files:
            with rasterio.open(path) as src:
                windows = _sample_windows(
                    src.height, src.width, max_pixels / len(files)
                )
                data = np.concatenate(
                    [src.read(window=w).reshape(src.count, -1) for w in windows], 1
                )
                masks = np.concatenate(
                    [src.read_masks(window=w).reshape(src.count, -1) for w in windows],
                    1,
                )
            values = data.astype(np.float64) / self.image_scale
            keep = (masks > 0).all(0)
            if self.image_nodata is not None:
                nodata = self.image_nodata / self.image_scale
                keep &= ~(values == nodata).all(0)
            values = values[:, keep]
            if total is not None and values.shape[0] != total.shape[0]:
                raise ValueError(
                    f'{path} has {values.shape[0]} bands, other imagery files '
                    f'{total.shape[0]}'
                )
            total = values.sum(1) + (0 if total is None else total)
            squares = (values**2).sum(1) + (0 if squares is None else squares)
            count += values.shape[1]
        if total is None or squares is None or count == 0:
            raise ValueError('the imagery has no valid pixel to compute statistics')
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0))
        # A constant band would divide by zero: leave it unscaled.
        std[std < 1e-6] = 1.0
        if self.inputs != ['imagery']:
            # Priors and 0/1 layers are already in [0, 1]: left as they are.
            means, stds = [], []
            for name in self.inputs:
                width = (
                    len(mean)
                    if name == 'imagery'
                    else self.num_classes
                    if name == 'prior'
                    else 1
                )
                means.append(mean if name == 'imagery' else np.zeros(width))
                stds.append(std if name == 'imagery' else np.ones(width))
            mean, std = np.concatenate(means), np.concatenate(stds)
        return torch.from_numpy(mean).float(), torch.from_numpy(std).float()

    def _open(
        self,
        role: str,
        cls: type[ImageryRaster | CoarseLabelRaster | LabelRaster | PriorRaster],
        paths: list[str],
        **kwargs: Any,
    ) -> Any:
        """Open one input as a raster dataset, naming the input when it is missing.

        Args:
            role: ``'image'``, ``'coarse'``, ``'label'`` or ``'prior'``.
            cls: the raster dataset class.
            paths: its files or folders.
            **kwargs: passed to the class (``crs``, ``res``).

        Returns:
            The dataset.

        Raises:
            FileNotFoundError: If no file matches.
        """
        try:
            return cls(paths, filename_glob=self.globs[role], **kwargs)
        except DatasetNotFoundError:
            raise FileNotFoundError(
                f'no {_ROLES[role]} files matching {self.globs[role]!r} in {paths} '
                f'(set {role}_paths / {role}_glob)'
            ) from None

    def _regions(self, crs: Any) -> dict[str, Any]:
        """Geometry of each split's pixels for ``split='regions'`` (else empty).

        Args:
            crs: the imagery CRS.

        Returns:
            ``{'fit': ..., 'validate': ..., 'test': ...}`` geometries.

        Raises:
            ValueError: If a region misses the imagery.
        """
        if self.split != 'regions':
            return {}
        import shapely

        files = self._tile_files([], [])
        extent = shapely.union_all(
            [
                shapely.box(*g.bounds)
                for g in self._open(
                    'image', ImageryRaster, files, crs=crs
                ).index.geometry
            ]
        )
        regions = {}
        for stage, region in (
            ('validate', self.val_region),
            ('test', self.test_region),
        ):
            if region is None:
                continue
            geometry = region_geometry(region, crs)
            if not geometry.intersects(extent) or geometry.touches(extent):
                raise ValueError(
                    f'the {stage} region {tuple(round(v, 3) for v in geometry.bounds)} '
                    f'does not overlap the imagery {tuple(round(v, 3) for v in extent.bounds)} '
                    f'(CRS {_crs_name(crs)})'
                )
            regions[stage] = geometry
        held_out = shapely.union_all(list(regions.values()))
        regions['fit'] = extent.difference(held_out)
        if regions['fit'].area == 0:
            raise ValueError(
                'the held-out regions cover all the imagery: nothing to train on'
            )
        regions.setdefault('validate', regions['fit'])
        return regions

    def _check_overlap(self, imagery: GeoDataset, other: GeoDataset, role: str) -> None:
        """Refuse an input that does not overlap the imagery, naming both extents.

        Args:
            imagery: the imagery dataset.
            other: another input, on the imagery's CRS.
            role: its role, for the message.

        Raises:
            ValueError: If the two do not overlap.
        """
        a = imagery.index.geometry.union_all()
        b = other.index.geometry.union_all()
        if not a.intersects(b) or a.touches(b):
            raise ValueError(
                f'the {_ROLES[role]} do not overlap the imagery: imagery bounds '
                f'{tuple(round(v, 3) for v in a.bounds)}, {_ROLES[role]} bounds '
                f'{tuple(round(v, 3) for v in b.bounds)} (both in {_crs_name(imagery.crs)}); '
                'check the files and their CRS'
            )

    def _dataset(
        self, inputs: StageInputs, region: Any = None, labels: bool = True
    ) -> tuple[GeoDataset, LSRSampleTransform]:
        """Intersect imagery, prior source, labels and raster layers for a stage.

        Args:
            inputs: the stage's files.
            region: geometry of the pixels the split may use (None: all).
            labels: read the high-res labels (when there are any).

        Returns:
            The dataset and the transform its samples need.

        Raises:
            ValueError: If a layer mixes raster and vector files.
        """
        imagery = self._open('image', ImageryRaster, list(inputs.image))
        grid = {'crs': imagery.crs, 'res': imagery.res}
        others: list[tuple[str, GeoDataset]] = []
        if self.builder is not None:
            others.append(
                (
                    'coarse',
                    self._open('coarse', CoarseLabelRaster, inputs.coarse, **grid),
                )
            )
        else:
            others.append(
                ('prior', self._open('prior', PriorRaster, inputs.prior, **grid))
            )
        with_labels = bool(inputs.label) and labels
        if with_labels:
            others.append(
                ('label', self._open('label', LabelRaster, inputs.label, **grid))
            )
        wanted = set(self.inputs) & set(LAYER_NAMES)
        if self.builder is not None and self.builder.rules is not None:
            wanted |= set(self.builder.rules.layers)
        vector_layers: dict[str, list[str]] = {}
        for name in sorted(wanted):
            paths = inputs.layers.get(name, [])
            kinds = {_is_raster(str(path)) for path in paths}
            if len(kinds) > 1:
                raise ValueError(f'the {name} layer mixes raster and vector files')
            if kinds == {True}:
                try:
                    layer = LayerRaster(name, paths, **grid)
                except DatasetNotFoundError:
                    raise FileNotFoundError(
                        f'no {name} raster files in {paths} (set {name}_paths)'
                    ) from None
                others.append((name, layer))
            else:
                vector_layers[name] = paths
        for role, other in others:
            self._check_overlap(imagery, other, role)
        inner: GeoDataset = imagery
        for _, other in others[:-1]:
            inner = inner & other
        dataset = MarginDataset(inner, others[-1][1], self.margin)
        tile_bounds = [tuple(g.bounds) for g in imagery.index.geometry]
        tile_paths = [str(path) for path in imagery.index['filepath']]
        layers = {}
        if vector_layers:
            import pandas

            from ..datasets.vectors import read_vector_layer

            for name, paths in vector_layers.items():
                frames = [
                    read_vector_layer(path, crs=imagery.crs, layer=name)
                    for path in paths
                ]
                layers[name] = pandas.concat(frames) if len(frames) > 1 else frames[0]
        transform = LSRSampleTransform(
            self.halo,
            self.num_classes,
            self.builder,
            tile_bounds,
            self.scheme if with_labels else None,
            self.image_scale,
            self.image_nodata,
            layers,
            imagery.crs,
            region,
            self.context,
            tile_paths,
            self.inputs,
            self.coarse_lookup,
            self._tile_builders(tile_paths),
        )
        dataset.transforms = transform
        return dataset, transform

    def _tile_builders(self, tile_paths: Sequence[str]) -> list[PriorBuilder] | None:
        """One prior builder per tile when :attr:`tile_cooccurrences` says so.

        Args:
            tile_paths: imagery file of each tile.

        Returns:
            The builders (None: the data module's builder serves every tile).
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
                builders[matrix] = PriorBuilder(
                    matrix,
                    sigma=self.builder.sigma,
                    kernel_size=self.builder.kernel_size,
                    rules=self.builder.rules,
                    coarse_nodata=self.builder.coarse_nodata,
                )
                if builders[matrix].scheme.codes != self.builder.scheme.codes:
                    raise ValueError(
                        f'co-occurrence {matrix} has fine classes '
                        f'{list(builders[matrix].scheme.codes)}, the data module '
                        f'{list(self.builder.scheme.codes)}'
                    )
            out.append(builders[matrix])
        return out

    def setup(self, stage: str) -> None:
        """Build datasets and samplers for a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.
        """
        size = (
            self.patch_size if isinstance(self.patch_size, int) else self.patch_size[0]
        )
        eval_size = self.eval_patch_size
        regions: dict[str, Any] = {}
        if self.split == 'regions':
            train_files = self.stage_inputs('fit').image
            regions = self._regions(self._open('image', ImageryRaster, train_files).crs)
        if stage == 'fit':
            self.train_dataset, _ = self._dataset(
                self.stage_inputs('fit'), regions.get('fit'), labels=self.train_labels
            )
            with warnings.catch_warnings():
                # Deprecated for RandomPatchSampler, which mixes tiles in a batch; the
                # paper's per-batch normalisation needs one tile per batch.
                warnings.simplefilter('ignore', DeprecationWarning)
                self.train_batch_sampler = RandomBatchGeoSampler(
                    self.train_dataset, size, self.batch_size, self.length
                )
        if stage in ('fit', 'validate'):
            self.val_dataset, _ = self._dataset(
                self.stage_inputs('validate'), regions.get('validate')
            )
            self.val_sampler = GriddedPatchSampler(
                self.val_dataset, size=eval_size, roi=regions.get('validate')
            )
        if stage == 'test':
            self.test_dataset, _ = self._dataset(
                self.stage_inputs('test'), regions.get('test')
            )
            self.test_sampler = GriddedPatchSampler(
                self.test_dataset, size=eval_size, roi=regions.get('test')
            )
        if stage == 'predict':
            self.predict_dataset, _ = self._dataset(
                self.stage_inputs('predict'), labels=False
            )
            self.predict_sampler = GriddedPatchSampler(
                self.predict_dataset, size=eval_size
            )

    def on_after_batch_transfer(self, batch: Sample, dataloader_idx: int) -> Sample:
        """Keep the batch as it is (georeference included; no augmentation).

        Args:
            batch: the batch.
            dataloader_idx: index of the data loader.

        Returns:
            The batch.
        """
        return batch


def _sample_windows(height: int, width: int, pixels: float) -> list[Any]:
    """A regular grid of square windows covering about ``pixels`` of a raster.

    Args:
        height: raster rows.
        width: raster columns.
        pixels: pixels wanted in all.

    Returns:
        Windows (rasterio ``Window``), the whole raster if it is small enough.
    """
    import rasterio.windows

    if height * width <= pixels:
        return [rasterio.windows.Window(0, 0, width, height)]
    side = 128
    count = max(1, math.ceil(pixels / side**2))
    per_row = max(1, round(math.sqrt(count * width / height)))
    rows = max(1, math.ceil(count / per_row))
    windows = []
    for i in range(rows):
        for j in range(per_row):
            row = min(height - side, (2 * i + 1) * height // (2 * rows) - side // 2)
            col = min(width - side, (2 * j + 1) * width // (2 * per_row) - side // 2)
            windows.append(
                rasterio.windows.Window(
                    max(0, col), max(0, row), min(side, width), min(side, height)
                )
            )
    return windows


#: Readable names of the inputs, for messages.
_ROLES = {
    'image': 'imagery',
    'coarse': 'coarse labels',
    'label': 'high-res labels',
    'prior': 'priors',
}


def _crs_name(crs: Any) -> str:
    """A short name of a CRS for messages (``EPSG:32617`` where possible)."""
    text = crs.to_string() if hasattr(crs, 'to_string') else str(crs)
    return str(text) if len(str(text)) < 80 else str(getattr(crs, 'name', text))


def _band_count(dataset: PriorRaster) -> int:
    """Number of bands of the first file of a raster dataset."""
    import rasterio

    with rasterio.open(next(iter(dataset.files))) as src:
        return int(src.count)

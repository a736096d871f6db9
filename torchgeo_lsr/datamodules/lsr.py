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

Splits (:mod:`~.splits`): ``'transductive'`` (default, the paper's protocol),
``'tiles'`` (``val_tiles`` / ``test_tiles``) or ``'regions'`` (``val_region`` /
``test_region``). Every raster input needs a CRS; training patches must fit a tile.

Auxiliary layers (:mod:`~.layer_set`: vector files or rasters) feed the fusion
rules of on-the-fly priors and, through ``inputs``, the network's input channels.

Data-set modules (EnviroAtlas, Chesapeake) reuse all of this and override
:meth:`LSRDataModule.stage_inputs` to say which files each stage reads.
"""

import warnings
from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader
from torchgeo.datamodules import GeoDataModule
from torchgeo.datasets import GeoDataset, RasterDataset
from torchgeo.datasets.utils import Sample
from torchgeo.samplers import GriddedPatchSampler, RandomBatchGeoSampler

from ..datasets.rasters import ImageryRaster
from ..datasets.regions import region_geometry
from ..grid import Region
from ..priors.builder import PriorBuilder
from ..schemes import ClassScheme
from .assembly import stage_dataset
from .derived import training_length
from .device_batch import collate_samples, complete_batch
from .inputs import Paths, StageInputs, band_count, open_input, path_list
from .layer_set import LAYER_NAMES, check_inputs, layer_paths
from .margin_dataset import MarginDataset
from .prior_source import PriorSource
from .sample import LSRSampleTransform
from .splits import (
    CentredGridSampler,
    Split,
    SplitPlan,
    check_eval_sizes,
    check_patch_fits,
)
from .statistics import datamodule_statistics

__all__ = (
    'LAYER_NAMES',
    'LSRDataModule',
    'LSRSampleTransform',
    'MarginDataset',
    'Region',
    'StageInputs',
    'region_geometry',
)


class LSRDataModule(GeoDataModule):
    """Imagery + coarse labels (or priors) + optional high-res labels -> LSR batches.

    Training batches come from :class:`~torchgeo.samplers.RandomBatchGeoSampler`
    (all patches of a batch from one tile, as the paper's per-batch normalisation
    assumes); validation and test from :class:`~torchgeo.samplers.GridGeoSampler`;
    prediction covers the whole extent.

    The module checks its arguments through its parts and delegates:
    :class:`~.splits.SplitPlan` plans the splits, :class:`~.prior_source.PriorSource`
    chooses the prior source, :mod:`~.layer_set` reads the auxiliary layers,
    :class:`~.sample.LSRSampleTransform` makes the samples and :mod:`~.statistics`
    computes the image statistics; this class assembles each stage's dataset.
    """

    def __init__(
        self,
        image_paths: Paths,
        coarse_paths: Paths | None = None,
        label_paths: Paths | None = None,
        prior_paths: Paths | None = None,
        train_labels: bool = False,
        cooccurrence: str | None = None,
        prior_sigma: float | None = None,
        prior_kernel_size: int | None = None,
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
        eval_batch_size: int | None = None,
        val_patch_size: int | None = None,
        val_stride: int | None = None,
        context: int = 5,
        length: int | Literal['auto'] | None = None,
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
        fast_reads: bool = True,
        device_priors: bool = True,
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
            prior_sigma: blur sigma in imagery pixels (default: one coarse cell,
                from the rasters' resolutions; the paper's 31 for 30 m on 1 m).
            prior_kernel_size: blur kernel size in pixels (default: from sigma).
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
            eval_batch_size: patches per validation, test and prediction batch
                (default: ``batch_size``); ``eval_batch_size * (size + 2 *
                context)**2`` pixels go through the network at once.
            val_patch_size: patch side of the validation grid (default:
                ``eval_patch_size``; the paper's: ``patch_size``, 128).
            val_stride: side and step of the validation grid's cells, each scored
                on its centre crop (default: ``val_patch_size``, tiling the
                extent; the paper's, REFERENCE §2.7: Chesapeake 512, EnviroAtlas 384).
            context: pixels of imagery around each patch for the model's receptive
                field (samples are ``patch_size + 2 * context`` pixels; the task
                crops the context before the loss and metrics). The default, 5,
                is half the receptive field of the paper's FCN.
            length: training patches per epoch (default: sampler's choice;
                ``'auto'``: :func:`~torchgeo_lsr.recipe.training_patches`).
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
                EnviroAtlas's NLCD layer); other values are refused.
            inputs: channels of the network's input, in order: ``'imagery'``,
                ``'prior'`` (the prior's C channels) and names of layers given above
                (one 0/1 channel each).
            fast_reads: read inputs on the imagery's grid (or whole blocks of
                it) straight from their files (:mod:`~.aligned_reads`: the same
                samples as TorchGeo's datasets give, faster); others always go
                through TorchGeo.
            device_priors: build on-the-fly priors of training, validation and
                test batches on the batch's device (:mod:`~.device_batch`) where
                one matrix and no fusion rules make them; predictions and the
                other cases build them in the loader.

        Raises:
            ValueError: On inconsistent arguments.
        """
        self.layer_paths = layer_paths(
            buildings_paths, roads_paths, waterways_paths, waterbodies_paths
        )
        self.inputs = check_inputs(inputs, self.layer_paths)
        self.prior_paths = path_list(prior_paths)
        self.prior_source = PriorSource(
            cooccurrence=cooccurrence,
            precomputed=bool(self.prior_paths),
            coarse=coarse_paths is not None,
            sigma=prior_sigma,
            kernel_size=prior_kernel_size,
            coarse_nodata=coarse_nodata,
            fusion_rules=fusion_rules,
            layers=set(self.layer_paths),
            label_scheme=label_scheme,
            coarse_lookup=coarse_lookup,
        )
        self.split_plan = SplitPlan(
            split=split,
            val_tiles=tuple(val_tiles),
            test_tiles=tuple(test_tiles),
            val_region=val_region,
            test_region=test_region,
        )
        # The dataset class is unused: setup assembles intersections of datasets.
        super().__init__(ImageryRaster, batch_size, patch_size, None, num_workers)
        self.image_paths = path_list(image_paths)
        self.coarse_paths = path_list(coarse_paths)
        self.label_paths = path_list(label_paths)
        self.train_labels = train_labels
        self.globs = {
            'image': image_glob,
            'coarse': coarse_glob,
            'label': label_glob,
            'prior': prior_glob,
        }
        self._data_path(image_scale, image_nodata, fast_reads, device_priors)
        sizes = (eval_batch_size, eval_patch_size, val_patch_size, val_stride)
        self._sizes(context, length, *sizes)

    def _data_path(
        self,
        image_scale: float,
        image_nodata: float | None,
        fast_reads: bool,
        device_priors: bool,
    ) -> None:
        """Set how samples are read and finished (``__init__``'s arguments)."""
        self.image_scale, self.image_nodata = image_scale, image_nodata
        self.fast_reads, self.device_priors = fast_reads, device_priors
        # Pads the block weights of device priors to the batch's largest.
        self.collate_fn = collate_samples

    def _sizes(
        self,
        context: int,
        length: int | Literal['auto'] | None,
        batch: int | None,
        patch: int | None,
        val: int | None,
        cell: int | None,
    ) -> None:
        """Set the context, training length and evaluation sizes (``__init__``'s)."""
        if context < 0:
            raise ValueError(f'context must be >= 0, got {context}')
        self.context = context
        self.auto_length = length == 'auto'
        self.length = None if length == 'auto' else length
        check_eval_sizes(eval_batch_size=batch, val_patch_size=val, val_stride=cell)
        side = self.patch_size
        self.eval_patch_size = patch or (side if isinstance(side, int) else side[0])
        self.eval_batch_size = batch or self.batch_size
        # Read by TorchGeo's loaders (``<split>_batch_size`` before ``batch_size``).
        self.val_batch_size = self.test_batch_size = self.eval_batch_size
        self.predict_batch_size = self.eval_batch_size
        self.val_patch_size = val or self.eval_patch_size
        self.val_stride = cell or self.val_patch_size

    @property
    def builder(self) -> PriorBuilder | None:
        """Builds priors from the coarse labels (None: precomputed priors are read)."""
        return self.prior_source.builder

    @property
    def scheme(self) -> ClassScheme | None:
        """Class scheme of the prior's channels and the high-res labels."""
        return self.prior_source.scheme

    @property
    def coarse_lookup(self) -> list[float] | None:
        """Coarse raster value ``v`` means code ``coarse_lookup[v]`` (None: codes)."""
        return self.prior_source.coarse_lookup

    @property
    def tile_cooccurrences(self) -> dict[str, str]:
        """Co-occurrence matrix (name or CSV) of particular imagery tiles, by path.

        Tiles not listed use ``cooccurrence``. Set by data-set modules whose
        regions each have their own matrix (Chesapeake states).
        """
        return self.prior_source.tile_cooccurrences

    @property
    def halo(self) -> int:
        """Pixels of coarse labels read around a patch to build its prior exactly."""
        return self.prior_source.halo

    @property
    def margin(self) -> int:
        """Pixels read around each sampled patch: prior halo plus model context."""
        return self.halo + self.context

    @property
    def split(self) -> Split:
        """``'transductive'``, ``'tiles'`` or ``'regions'``."""
        return self.split_plan.split

    @property
    def val_tiles(self) -> list[str]:
        """Imagery file names (or stems) for validation (``'tiles'``)."""
        return list(self.split_plan.val_tiles)

    @property
    def test_tiles(self) -> list[str]:
        """Imagery file names (or stems) for testing (``'tiles'``)."""
        return list(self.split_plan.test_tiles)

    @property
    def val_region(self) -> Region | None:
        """The validation region (``'regions'``)."""
        return self.split_plan.val_region

    @property
    def test_region(self) -> Region | None:
        """The test region (``'regions'``)."""
        return self.split_plan.test_region

    @property
    def num_classes(self) -> int:
        """Number of prior classes (the scheme's, or the precomputed priors' bands)."""
        if self.scheme is not None:
            return self.scheme.num_classes
        return band_count(self.open_role('prior', self.prior_paths))

    def open_role(self, role: str, paths: Sequence[str], **grid: Any) -> RasterDataset:
        """Open one input with its glob (see :func:`~.inputs.open_input`).

        Args:
            role: ``'image'``, ``'coarse'``, ``'label'`` or ``'prior'``.
            paths: its files or folders.
            **grid: ``crs`` and ``res`` to read it on.

        Returns:
            The dataset.
        """
        return open_input(role, paths, self.globs[role], **grid)

    def stage_inputs(self, stage: str) -> StageInputs:
        """The files a stage reads (data-set modules override this).

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Returns:
            The stage's imagery tiles and the other inputs' files.
        """
        files = self.open_role('image', self.image_paths).files
        return StageInputs(
            image=self.split_plan.stage_tiles(files, stage),
            coarse=self.coarse_paths,
            label=self.label_paths,
            prior=self.prior_paths,
            layers=self.layer_paths,
        )

    def image_statistics(self, max_pixels: int = 2_000_000) -> tuple[Tensor, Tensor]:
        """Per-band mean and deviation of the training imagery, per input channel.

        See :func:`~.statistics.datamodule_statistics`.

        Args:
            max_pixels: pixels to read in all.

        Returns:
            ``(mean, std)``, each of shape (channels,).
        """
        return datamodule_statistics(self, max_pixels)

    def _regions(self) -> dict[str, Any]:
        """Geometry of each stage's pixels for ``split='regions'`` (else empty).

        Returns:
            ``{'fit': ..., 'validate': ..., 'test': ...}`` geometries in the CRS of
            the training imagery.

        Raises:
            ValueError: If a region misses the imagery.
        """
        if self.split != 'regions':
            return {}
        crs = self.open_role('image', self.stage_inputs('fit').image).crs
        imagery = self.open_role('image', self.image_paths, crs=crs)
        extent = imagery.index.geometry.envelope.union_all()
        return self.split_plan.regions(extent, crs)

    def _dataset(
        self, inputs: StageInputs, region: Any = None, labels: bool = True
    ) -> tuple[GeoDataset, LSRSampleTransform]:
        """A stage's dataset and transform (:func:`~.assembly.stage_dataset`).

        Args:
            inputs: the stage's files.
            region: geometry of the pixels the split may use (None: all).
            labels: read the high-res labels (when there are any).

        Returns:
            The dataset and the transform of its whole samples.
        """
        return stage_dataset(self, inputs, region, labels, self.device_priors)

    def _dataloader_factory(self, split: str) -> DataLoader[Sample]:
        """TorchGeo's loader of a split, reading the dataset's loader view.

        With device priors the loader's samples carry block weights, which
        :meth:`on_after_batch_transfer` turns into priors on the batch's device;
        indexing the dataset itself still gives whole samples.

        Args:
            split: ``'train'``, ``'val'``, ``'test'`` or ``'predict'``.

        Returns:
            The data loader.
        """
        loader = super()._dataloader_factory(split)
        dataset = loader.dataset
        if not isinstance(dataset, MarginDataset) or dataset.device_reads is None:
            return loader
        batched = loader.batch_sampler is not None and not isinstance(
            loader.batch_sampler, BatchSampler
        )
        return DataLoader(
            dataset=dataset.loader_view(),
            batch_size=1 if batched else loader.batch_size,
            sampler=None if batched else loader.sampler,
            batch_sampler=loader.batch_sampler if batched else None,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            drop_last=loader.drop_last,
            persistent_workers=loader.persistent_workers,
        )

    def setup(self, stage: str) -> None:
        """Build datasets and samplers for a stage.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Raises:
            ValueError: If an input has no CRS or misses the imagery, or the
                training patch is larger than every training tile.
        """
        size = (
            self.patch_size if isinstance(self.patch_size, int) else self.patch_size[0]
        )
        eval_size = self.eval_patch_size
        regions = self._regions()
        if stage == 'fit':
            self.train_dataset, train = self._dataset(
                self.stage_inputs('fit'), regions.get('fit'), labels=self.train_labels
            )
            check_patch_fits(self.train_dataset, train, size)
            if self.auto_length:
                self.length = training_length(self.train_dataset, size, self.batch_size)
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
            self.val_sampler = CentredGridSampler(
                self.val_dataset,
                size=self.val_patch_size,
                cell=self.val_stride,
                roi=regions.get('validate'),
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
        """Finish the batch on its device: priors, validity, imagery scale.

        See :func:`~.device_batch.complete_batch` (no augmentation; the
        georeference survives).

        Args:
            batch: the batch.
            dataloader_idx: index of the data loader.

        Returns:
            The batch.
        """
        return complete_batch(batch, self.builder, self.num_classes, self.image_scale)

"""The per-sample transform: raw sample with margin -> (image, prior) training sample.

Samples are read with a margin around the sampled patch (:class:`MarginDataset`):
``halo`` pixels feed the on-the-fly prior and are cropped, ``context`` pixels stay in
the sample for the model's receptive field (the task crops them before the loss and
metrics). :class:`LSRSampleTransform` builds or normalises the prior, the validity
(imagery and prior both have data, inside the split's region), the tile id of each
pixel, the labels with their ignore index and the georeference of the cropped
sample; :class:`SampleSpec` says how.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from affine import Affine
from rasterio.features import geometry_mask
from torch import Tensor
from torchgeo.datasets.utils import Sample

from ..priors.builder import PriorBuilder
from ..schemes import ClassScheme
from .layer_set import layers_on_window
from .margin_dataset import MarginDataset
from .tile_priors import PixelWindow, TileLayout, TilePriors, tile_ids

__all__ = ('LSRSampleTransform', 'MarginDataset', 'SampleSpec')


@dataclass(frozen=True, kw_only=True)
class SampleSpec:
    """What :class:`LSRSampleTransform` makes of a raw sample.

    Attributes:
        num_classes: number of prior classes (also the ignore index of ``mask``).
        tiles: the stage's imagery tiles; each tile's part of a sample gets the
            prior of that tile.
        priors: builds priors from the ``coarse`` codes (None: ``prior`` is read).
        context: pixels around the patch kept for the model's receptive field.
        vector_layers: auxiliary vector layers (GeoDataFrames in the tiles' CRS)
            by name, for the fusion rules and ``inputs``.
        label_scheme: scheme of the high-res labels (None: no labels). Label
            codes it does not know (neither classes, aliases, nodata nor ignored)
            at valid pixels raise a ValueError: labels in another encoding must
            not be scored on a coincidental subset.
        label_nodata: the label rasters' own nodata values (also what they read
            as outside their extent), ignored like the scheme's nodata.
        image_scale: imagery is divided by this.
        image_nodata: imagery value meaning nodata when all bands have it.
        region: shapely geometry (imagery CRS) of the pixels this split may use;
            pixels outside are invalid and their labels ignored (None: all).
        inputs: channels of the output ``image``, in order: ``'imagery'``,
            ``'prior'`` and layer names (raster layers arrive in the sample as
            ``layer_<name>``; vector layers are in ``vector_layers``).
        device_priors: ship the prior as block weights
            (:meth:`~.tile_priors.TilePriors.weights`) for the batch's device to
            build (:mod:`~.device_batch`) instead of building it here; only where
            :attr:`device_priors_apply`.
        uint8_image: ship the imagery as uint8, unscaled (the device scales it);
            only with device priors and imagery of whole numbers 0-255.
    """

    num_classes: int
    tiles: TileLayout = field(default_factory=TileLayout)
    priors: TilePriors | None = None
    context: int = 0
    vector_layers: Mapping[str, Any] = field(default_factory=dict)
    label_scheme: ClassScheme | None = None
    label_nodata: tuple[float, ...] = ()
    image_scale: float = 255.0
    image_nodata: float | None = 0.0
    region: Any = None
    inputs: tuple[str, ...] = ('imagery',)
    device_priors: bool = False
    uint8_image: bool = False

    def __post_init__(self) -> None:
        """Keep ``inputs`` and ``label_nodata`` tuples; check device priors apply.

        Raises:
            ValueError: If ``device_priors`` or ``uint8_image`` is asked for where
                it does not apply.
        """
        object.__setattr__(self, 'inputs', tuple(self.inputs))
        object.__setattr__(self, 'label_nodata', tuple(self.label_nodata))
        if self.device_priors and not self.device_priors_apply:
            raise ValueError(
                'device_priors needs priors built from coarse codes and no prior '
                'among the inputs'
            )
        if self.uint8_image and not (
            self.device_priors and self.inputs == ('imagery',)
        ):
            raise ValueError('uint8_image needs device priors and imagery inputs')

    @property
    def halo(self) -> int:
        """Pixels of prior context read around the sample and cropped."""
        return self.priors.halo if self.priors is not None else 0

    @property
    def device_priors_apply(self) -> bool:
        """The batch's device can build the priors (see :attr:`device_priors`).

        Priors built from coarse codes (fusion rules and per-tile matrices
        included), and a network input without the prior's channels.
        """
        return self.priors is not None and 'prior' not in self.inputs


class LSRSampleTransform:
    """Turn a raw sample (with margin) into a training sample.

    The raw sample extends ``halo + context`` pixels beyond the sampled patch on
    every side. ``halo`` pixels feed the on-the-fly prior and are cropped; the
    ``context`` pixels stay in the sample (the model sees them; the task crops them
    before the loss and metrics). Picklable, so it runs in data-loader workers.
    """

    def __init__(self, *, spec: SampleSpec) -> None:
        """Initialise the transform.

        Args:
            spec: what to make of each sample.
        """
        self.spec = spec

    @property
    def halo(self) -> int:
        """Pixels of prior context read around the sample and cropped."""
        return self.spec.halo

    @property
    def context(self) -> int:
        """Pixels around the patch kept for the model's receptive field."""
        return self.spec.context

    @property
    def margin(self) -> int:
        """Pixels read around each sampled patch."""
        return self.halo + self.context

    @property
    def tile_paths(self) -> list[str]:
        """The imagery file of each tile (for exports on each file's grid)."""
        return list(self.spec.tiles.paths)

    @property
    def tile_bounds(self) -> list[tuple[float, float, float, float]]:
        """``(minx, miny, maxx, maxy)`` of every imagery tile."""
        return list(self.spec.tiles.bounds)

    @property
    def crs(self) -> Any:
        """CRS of the imagery grid."""
        return self.spec.tiles.crs

    @property
    def builder(self) -> PriorBuilder | None:
        """The prior builder (None when precomputed priors are read)."""
        return self.spec.priors.builder if self.spec.priors is not None else None

    def _crop(self, data: Tensor, cropped: tuple[int, ...] | None = None) -> Tensor:
        """A raw-sample array without its halo (last two dimensions).

        Args:
            data: the array.
            cropped: (H, W) of the sample without its halo, when ``data`` may be
                cropped already (the fast path reads imagery and labels without
                the halo, :attr:`~.margin_dataset.DeviceReads.trim`).

        Returns:
            The array without the halo.
        """
        h = self.halo
        height, width = data.shape[-2:]
        if cropped is not None and (height, width) == tuple(cropped):
            return data
        return data[..., h : height - h, h : width - h]

    def _layers(
        self,
        raw_transform: Affine,
        rows: tuple[int, int],
        cols: tuple[int, int],
        rasters: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The auxiliary layers on a window of the raw sample (0/1 by name)."""
        return layers_on_window(
            self.spec.vector_layers, self.crs, raw_transform, rows, cols, rasters
        )

    def _prior(
        self,
        sample: Sample,
        raw_transform: Affine,
        windows: list[tuple[int, PixelWindow]],
        rasters: Mapping[str, np.ndarray],
    ) -> tuple[Tensor, Tensor]:
        """The sample's prior, built from ``coarse`` or normalised from ``prior``.

        Args:
            sample: the raw sample (``coarse`` or ``prior`` is popped).
            raw_transform: affine transform of the raw sample.
            windows: each tile's part of the output grid.
            rasters: raster layers of the raw sample by name.

        Returns:
            The (C, H, W) prior (0 where invalid) and its (H, W) validity.
        """
        priors = self.spec.priors
        if priors is not None:
            codes = priors.codes(sample.pop('coarse').numpy())
            return priors.build(
                codes,
                raw_transform,
                self.spec.tiles,
                windows,
                lambda rows, cols: self._layers(raw_transform, rows, cols, rasters),
            )
        raw = self._crop(sample.pop('prior')).float()
        total = raw.nan_to_num(0.0).clamp_min(0).sum(0)
        valid = torch.isfinite(raw).all(0) & (total > 0)
        prior = torch.where(valid, raw.nan_to_num(0.0) / total.clamp_min(1e-12), 0)
        return prior, valid

    def _compose_inputs(
        self,
        imagery: Tensor,
        prior: Tensor,
        raw_transform: Affine,
        rasters: Mapping[str, np.ndarray],
    ) -> Tensor:
        """Stack the channels ``inputs`` names into the network's input.

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
        if any(name not in ('imagery', 'prior') for name in self.spec.inputs):
            layers = self._layers(
                raw_transform, (h, h + height), (h, h + width), rasters
            )
        parts = []
        for name in self.spec.inputs:
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
        """Pixels of the output grid whose centres lie in the spec's region.

        Args:
            transform: affine transform of the output grid.
            shape: its (height, width).

        Returns:
            Boolean (H, W) tensor.
        """
        region = self.spec.region
        if region.is_empty:
            return torch.zeros(shape, dtype=torch.bool)
        inside = geometry_mask(
            [region], out_shape=shape, transform=transform, invert=True
        )
        return torch.from_numpy(inside)

    def _drop_nodata(self, image: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """Invalidate the imagery's nodata pixels and zero them.

        Nodata is ``image_nodata`` in every band, or a non-finite value (NaN, a
        float raster's usual nodata, or infinity) in any band: such a pixel would
        make the loss, and then every weight, NaN.

        Args:
            image: (bands, H, W) imagery (unscaled).
            valid: (H, W) validity so far.

        Returns:
            The imagery and the validity.
        """
        nodata_value = self.spec.image_nodata
        if image.is_floating_point():
            nodata = ~torch.isfinite(image).all(0)
            if nodata_value is not None:
                nodata |= (image == nodata_value).all(0)
        elif nodata_value == 0 and image.dtype == torch.uint8:
            nodata = image.amax(0) == 0  # one reduction: all bands 0
        elif nodata_value is not None:
            nodata = (image == nodata_value).all(0)
        else:
            nodata = torch.zeros(image.shape[-2:], dtype=torch.bool)
        if not nodata.any():
            return image, valid
        # Nodata reads as 0 whatever its value, like the area outside the rasters:
        # models see one convention (zero padding) for both.
        return image.masked_fill(nodata, 0.0), valid & ~nodata

    def _labels(
        self, mask: Tensor, in_region: Tensor | None, valid: Tensor, where: str
    ) -> Tensor:
        """High-res labels as class indices, ignored outside the region.

        Args:
            mask: the raw sample's label codes.
            in_region: pixels inside the split's region (None: all).
            valid: pixels whose labels are scored (the others are not checked).
            where: the sample's location, for messages.

        Returns:
            int64 (H, W) indices, ``num_classes`` where ignored.

        Raises:
            ValueError: If a valid pixel holds a code the label scheme does not
                know (nodata, ignored codes and ``label_nodata`` are fine).
        """
        scheme = self.spec.label_scheme
        assert scheme is not None
        codes = self._crop(mask, tuple(valid.shape)).numpy()
        labels = scheme.to_index(codes).astype(np.int64)
        suspect = (labels < 0) & np.broadcast_to(valid.numpy(), labels.shape)
        if self.spec.label_nodata:
            suspect &= ~np.isin(codes, np.asarray(self.spec.label_nodata))
        if suspect.any():
            scheme.check_codes(
                codes[suspect], f'label rasters (label_paths) {where}', 'label_scheme'
            )
        labels[labels < 0] = self.spec.num_classes
        if in_region is not None:
            labels[~in_region.numpy()] = self.spec.num_classes
        return torch.from_numpy(labels)

    def _georeference(self, sample: Sample, transform: Affine) -> tuple[Tensor, Tensor]:
        """``bounds`` and ``transform`` of the cropped sample.

        Args:
            sample: the raw sample.
            transform: affine transform of the output grid.

        Returns:
            The bounds and transform tensors.
        """
        h = self.halo
        # Intersections concatenate each dataset's bounds and transform: the first
        # one (the imagery's) describes the sample.
        xmin, xmax, xres, ymin, ymax, yres, *rest = sample['bounds'][:9].tolist()
        bounds = torch.tensor(
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
        georeference = torch.tensor(
            [*transform[:6], *sample['transform'][6:9].tolist()],
            dtype=sample['transform'].dtype,
        )
        return bounds, georeference

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
        spec = self.spec
        raw_transform = Affine(*(float(v) for v in sample['transform'][:6]))
        xmin, xmax, xres, ymin, ymax, yres = sample['bounds'][:6].tolist()
        cropped = (
            round((ymax - ymin) / yres) - 2 * self.halo,
            round((xmax - xmin) / xres) - 2 * self.halo,
        )
        transform = raw_transform @ Affine.translation(self.halo, self.halo)
        image = self._crop(sample['image'], cropped)
        if not spec.uint8_image:
            image = image.float()
        shape = (int(image.shape[-2]), int(image.shape[-1]))
        windows = spec.tiles.windows(transform, shape)
        tile = tile_ids(windows, shape)
        rasters = {
            key[len('layer_') :]: (sample.pop(key).numpy() > 0).astype(np.float32)
            for key in [k for k in sample if k.startswith('layer_')]
        }
        out: Sample = {}
        if spec.device_priors:
            assert spec.priors is not None
            coarse = sample.pop('coarse')
            maps = None
            if 'coarse_rows' in sample:
                maps = (
                    sample.pop('coarse_rows').numpy(),
                    sample.pop('coarse_cols').numpy(),
                )
            out = spec.priors.weights(
                coarse.numpy(),
                raw_transform,
                spec.tiles,
                windows,
                maps,
                lambda rows, cols: self._layers(raw_transform, rows, cols, rasters),
            )
            # The device adds the prior's own validity (class mass in reach).
            valid = torch.ones(shape, dtype=torch.bool)
        else:
            prior, valid = self._prior(sample, raw_transform, windows, rasters)
        image, valid = self._drop_nodata(image, valid & (tile >= 0))
        in_region = None
        if spec.region is not None:
            in_region = self._inside_region(transform, shape)
            valid &= in_region
        if not spec.device_priors:
            # Invalid pixels get a uniform prior: losses must still see a distribution.
            out['prior'] = torch.where(valid, prior, 1.0 / spec.num_classes)
        if spec.uint8_image:
            out['image'] = image.to(torch.uint8)
        else:
            image = image / spec.image_scale
            if spec.inputs != ('imagery',):
                image = self._compose_inputs(
                    image, out['prior'], raw_transform, rasters
                )
            out['image'] = image
        out['valid'], out['tile'] = valid, tile
        if 'mask' in sample and spec.label_scheme is not None:
            x, y = transform.c, transform.f
            where = f'in the sample at x={x:.1f}, y={y:.1f} (top-left corner)'
            try:
                out['mask'] = self._labels(sample['mask'], in_region, valid, where)
            except ValueError:
                if not spec.device_priors:
                    raise
                # Unknown label codes only matter where the prior is valid too.
                if maps is not None:
                    coarse = torch.from_numpy(coarse.numpy()[np.ix_(*maps)])
                prior_valid = self._prior(
                    {'coarse': coarse}, raw_transform, windows, rasters
                )[1]
                out['mask'] = self._labels(
                    sample['mask'], in_region, valid & prior_valid, where
                )
        out['bounds'], out['transform'] = self._georeference(sample, transform)
        return out

"""Batches finished on their device: priors from block weights, uint8 imagery scaled.

With device priors (:attr:`~.sample.SampleSpec.device_priors`) the loader ships, per
sample, the coarse codes' distinct blocks and their blur weights instead of a (C, H, W)
float prior, and the imagery as uint8: about a fiftieth of the bytes, and none of the
blur on the loader's CPU. :func:`collate_samples` pads the blocks to the batch's
largest; :func:`complete_batch` (the data module's ``on_after_batch_transfer``) builds
the priors on the batch's device with
:func:`~torchgeo_lsr.priors.separable.priors_from_weights`, adds their validity and
scales the imagery. Batches without these keys pass through unchanged.
"""

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchgeo.datasets.utils import Sample, stack_samples

from ..priors.builder import PriorBuilder
from ..priors.device_fusion import evidence_on_device
from ..priors.separable import mass_from_weights, normalise_mass

__all__ = ('collate_samples', 'complete_batch')


def _pad(tensor: Tensor, sizes: Sequence[int]) -> Tensor:
    """Zero-pad the trailing dimensions of a tensor at their ends to ``sizes``."""
    pads: list[int] = []
    for have, want in zip(reversed(tensor.shape), reversed(sizes), strict=True):
        pads += [0, want - have]
    return F.pad(tensor, pads) if any(pads) else tensor


def collate_samples(samples: Iterable[Sample]) -> Sample:
    """TorchGeo's :func:`~torchgeo.datasets.utils.stack_samples`, blocks padded.

    Samples hold different numbers of blocks and tile parts; padded blocks get
    zero weight, so they add nothing to the prior.

    Args:
        samples: the batch's samples.

    Returns:
        The stacked batch.
    """
    samples = list(samples)
    if not samples or 'prior_mass' not in samples[0]:
        return stack_samples(samples)
    height = max(int(s['prior_mass'].shape[-2]) for s in samples)
    width = max(int(s['prior_mass'].shape[-1]) for s in samples)
    parts = max(int(s['prior_rows'].shape[0]) for s in samples)
    padded = []
    for sample in samples:
        rows, cols = sample['prior_rows'], sample['prior_cols']
        sample = {
            **sample,
            'prior_mass': _pad(
                sample['prior_mass'],
                (parts, sample['prior_mass'].shape[1], height, width),
            ),
            'prior_rows': _pad(rows, (parts, rows.shape[1], height)),
            'prior_cols': _pad(cols, (parts, cols.shape[1], width)),
        }
        if 'prior_layers' in sample:
            # Padding parts have empty windows: they add no evidence.
            layers = sample['prior_layers']
            sample['prior_layers'] = _pad(layers, (parts, *layers.shape[1:]))
            sample['prior_windows'] = _pad(sample['prior_windows'], (parts, 8))
        padded.append(sample)
    return stack_samples(padded)


def complete_batch(
    batch: Sample, builder: PriorBuilder | None, num_classes: int, image_scale: float
) -> Sample:
    """Build the batch's priors on its device and scale uint8 imagery.

    Args:
        batch: the collated batch, on its device.
        builder: the prior builder (its matrix, blur and fusion rules; None:
            the batch carries no block weights).
        num_classes: number of prior classes (invalid pixels get 1 / C).
        image_scale: uint8 imagery is divided by this.

    Returns:
        The batch with ``prior`` (B, C, H, W), ``valid`` including the prior's
        validity, and float imagery.
    """
    if 'prior_mass' in batch:
        assert builder is not None
        mass = mass_from_weights(
            batch.pop('prior_mass'), batch.pop('prior_rows'), batch.pop('prior_cols')
        )
        if 'prior_layers' in batch:
            assert builder.rules is not None
            mass = mass + evidence_on_device(
                builder.rules,
                builder.scheme,
                batch.pop('prior_layers'),
                batch.pop('prior_windows'),
                builder.halo,
            )
        prior, prior_valid = normalise_mass(mass)
        valid = batch['valid'] & prior_valid
        batch['valid'] = valid
        batch['prior'] = torch.where(valid[:, None], prior, 1.0 / num_classes)
    image = batch.get('image')
    if isinstance(image, Tensor) and image.dtype == torch.uint8:
        batch['image'] = image.float() / image_scale
    return batch

"""TorchGeo-style sample transform that adds a prior built from coarse labels."""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .builder import PriorBuilder

__all__ = ('PriorTransform',)


class PriorTransform(nn.Module):
    """TorchGeo-style transform: adds a prior (and its validity) to a sample.

    Each sample is treated as a whole raster (edges reflected). For results that
    match a whole-raster prior, sample with a margin of :attr:`PriorBuilder.halo`
    pixels and crop afterwards, or precompute priors with ``torchgeo-lsr prior``.
    """

    def __init__(
        self,
        builder: PriorBuilder,
        coarse_key: str = 'mask',
        prior_key: str = 'prior',
        layer_keys: Mapping[str, str] | None = None,
    ) -> None:
        """Initialise the transform.

        Args:
            builder: the prior builder.
            coarse_key: sample key of the coarse codes, (H, W) or (1, H, W) (or a
                batch: (B, H, W) / (B, 1, H, W)).
            prior_key: key for the prior; ``<prior_key>_valid`` gets the validity.
            layer_keys: sample key of each auxiliary layer the rules need.
        """
        super().__init__()
        self.builder = builder
        self.coarse_key = coarse_key
        self.prior_key = prior_key
        self.layer_keys = dict(layer_keys or {})

    def forward(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Add the prior.

        Args:
            sample: a sample (or batch) dictionary.

        Returns:
            The same dictionary with ``prior`` (float32, classes on the channel dim)
            and ``prior_valid`` (bool) added.
        """
        codes: Tensor = sample[self.coarse_key]
        batched = codes.ndim == 4 or (codes.ndim == 3 and codes.shape[0] != 1)
        items = (
            codes.reshape(-1, *codes.shape[-2:])
            if batched
            else codes.reshape(1, *codes.shape[-2:])
        )
        priors, valids = [], []
        for i, item in enumerate(items):
            layers = {
                name: sample[key]
                .reshape(-1, *codes.shape[-2:])[i if batched else 0]
                .cpu()
                .numpy()
                for name, key in self.layer_keys.items()
            }
            prior, valid = self.builder(item.cpu().numpy(), layers)
            priors.append(torch.from_numpy(prior))
            valids.append(torch.from_numpy(valid))
        prior_tensor = torch.stack(priors) if batched else priors[0]
        valid_tensor = torch.stack(valids) if batched else valids[0]
        sample[self.prior_key] = prior_tensor.to(codes.device)
        sample[f'{self.prior_key}_valid'] = valid_tensor.to(codes.device)
        return sample

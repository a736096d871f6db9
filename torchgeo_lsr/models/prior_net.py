"""The learned prior network of the paper's EnviroAtlas experiments (REFERENCE §2.5).

``FCN_larger_modified``: three 'same'-padded convolutions of 11, 7 and 5 pixels with
``num_filters`` filters (leaky ReLUs after the first two, none after the third),
then a 1x1 convolution to the classes. Its receptive field is 21 px, so losses and
metrics crop 10 px. Its input is a prior (the NLCD-only one) and raw 0/1 auxiliary
rasters; its output, trained with NLL on a few labelled tiles, is a better prior.
"""

from torch import Tensor, nn

__all__ = ('PRIOR_NET_RECEPTIVE_FIELD', 'PriorNet')

#: Receptive field of :class:`PriorNet` in pixels (11 + 6 + 4).
PRIOR_NET_RECEPTIVE_FIELD = 21


class PriorNet(nn.Module):
    """Prior + auxiliary rasters -> logits over the prior's classes."""

    def __init__(
        self, in_channels: int = 9, num_classes: int = 5, num_filters: int = 128
    ) -> None:
        """Build the network.

        Args:
            in_channels: input channels (the paper: 5 prior bands + buildings,
                roads, water bodies, waterways).
            num_classes: output classes.
            num_filters: filters of the three convolutions (the paper: 128).
        """
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, num_filters, 11, padding=5),
            nn.LeakyReLU(),
            nn.Conv2d(num_filters, num_filters, 7, padding=3),
            nn.LeakyReLU(),
            nn.Conv2d(num_filters, num_filters, 5, padding=2),
            nn.Conv2d(num_filters, num_classes, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits.

        Args:
            x: (B, in_channels, H, W).

        Returns:
            (B, num_classes, H, W) logits.
        """
        out: Tensor = self.layers(x)
        return out

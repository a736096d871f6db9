"""A per-pixel network: what the default recipe learns q(l | x) with.

:class:`PixelMLP` is the paper's FCN with its 3x3 convolutions replaced by 1x1
ones: five hidden layers of ``num_filters`` units with leaky ReLUs, applied to each
pixel's bands alone (receptive field: one pixel).

Why no spatial context: the priors are blurred coarse labels, smooth over a coarse
cell. A network that sees a neighbourhood can lower the QR / RQ loss by
reproducing that smoothness from the layout around a pixel (near a lake, predict
water), and converges to a map nearly as blurry as its prior. A per-pixel network
cannot: it must explain the prior by what each pixel looks like, which is what
label super-resolution is after. On the multi-scene suite
(``benchmarks/bench_suite.py``, figures in the docs) it beats the paper's FCN from
1 m to 30 m imagery, and it costs less. The FCN (``model: fcn``) remains for the
paper's configurations.
"""

from torch import Tensor, nn

__all__ = ('PIXEL_MLP_DEPTH', 'PixelMLP')

#: Hidden layers (the paper's FCN has five convolutions before its classifier).
PIXEL_MLP_DEPTH = 5


class PixelMLP(nn.Module):
    """Five 1x1 convolutions with leaky ReLUs, then a 1x1 classifier."""

    def __init__(
        self, in_channels: int, num_classes: int, num_filters: int = 64
    ) -> None:
        """Initialise the network.

        Args:
            in_channels: input channels (bands).
            num_classes: output classes.
            num_filters: units of each hidden layer.

        Raises:
            ValueError: If a size is not positive.
        """
        if min(in_channels, num_classes, num_filters) < 1:
            raise ValueError(
                'in_channels, num_classes and num_filters must be >= 1, got '
                f'{in_channels}, {num_classes}, {num_filters}'
            )
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(PIXEL_MLP_DEPTH):
            layers += [nn.Conv2d(channels, num_filters, 1), nn.LeakyReLU()]
            channels = num_filters
        self.backbone = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of each pixel.

        Args:
            x: (B, in_channels, H, W) input.

        Returns:
            (B, num_classes, H, W) logits.
        """
        logits: Tensor = self.classifier(self.backbone(x))
        return logits

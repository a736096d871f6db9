"""Small networks of the paper's non-geo experiments."""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

__all__ = ('SmallCNN',)


class SmallCNN(nn.Module):
    """The partial-label and ranking experiments' CNN (REFERENCE §4.1).

    A 3x3 convolution with stride 1, then three with stride 2 (all 32 channels,
    padding 1, ReLU), flattened into a linear layer: 33,194 parameters for 28x28
    grey digits, 33,770 for 32x32 colour images. (The paper says every convolution
    has stride 2; its code's first has stride 1, as here.)
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        filters: int = 32,
    ) -> None:
        """Build the network.

        Args:
            in_channels: image channels.
            num_classes: output classes.
            image_size: side of the (square) input images.
            filters: channels of every convolution.
        """
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, filters, 3, padding=1),
            nn.ReLU(),
        ]
        side = image_size
        for _ in range(3):
            layers += [nn.Conv2d(filters, filters, 3, stride=2, padding=1), nn.ReLU()]
            side = (side - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(filters * side * side, num_classes)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> 'SmallCNN':
        """The network a task's hyper-parameters describe.

        Args:
            hparams: ``in_channels``, ``num_classes``, ``image_size``, ``filters``.

        Returns:
            The network.
        """
        return cls(
            hparams['in_channels'],
            hparams['num_classes'],
            hparams['image_size'],
            hparams['filters'],
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits.

        Args:
            x: (N, in_channels, image_size, image_size) images.

        Returns:
            (N, num_classes) logits.
        """
        out: Tensor = self.head(self.features(x).flatten(1))
        return out

"""The position-aware CNN of the Le Séducteur experiment (REFERENCE §4.4)."""

import torch
from torch import Tensor, nn

__all__ = ('PositionAwareCNN',)


def _conv_block(
    in_channels: int, out_channels: int, kernel_size: int
) -> list[nn.Module]:
    """Convolution (same size), BatchNorm and ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size.

    Returns:
        The three layers.
    """
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class PositionAwareCNN(nn.Module):
    """The Seducer network: a small CNN on colour plus learned Fourier positions.

    Image branch: 4 x [conv 3x3, ``filters`` channels, BatchNorm, ReLU]. Position
    branch: the (row, col) grid in [0, 1] goes through a 1x1 convolution 2 ->
    ``fourier_features`` without bias (a learned Fourier projection, initialised as
    PyTorch initialises any 1x1 convolution), then [sin, cos], then 3 x [1x1
    conv, ``position_filters`` channels, BatchNorm, ReLU]. Both are concatenated,
    then conv 3x3 -> ``filters``, BatchNorm, ReLU, and a 1x1 convolution to the
    classes, followed by log-softmax. Five 3x3 convolutions make a receptive field
    of 11 x 11 pixels. With the defaults and 3 classes: 39,567 parameters.
    """

    #: Pixels of the image each output sees along each axis.
    receptive_field = 11

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 3,
        filters: int = 32,
        fourier_features: int = 4,
        position_filters: int = 4,
    ) -> None:
        """Build the network.

        Args:
            in_channels: image channels.
            num_classes: output classes.
            filters: channels of the image branch and of the fused layer.
            fourier_features: frequencies of the learned Fourier projection (the
                position branch sees twice as many features, sin and cos).
            position_filters: channels of the position branch.

        Raises:
            ValueError: If a size is not positive or there are fewer than two
                classes.
        """
        super().__init__()
        sizes = {
            'in_channels': in_channels,
            'filters': filters,
            'fourier_features': fourier_features,
            'position_filters': position_filters,
        }
        for name, size in sizes.items():
            if size < 1:
                raise ValueError(f'{name} must be >= 1, got {size}')
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        self.image_branch = nn.Sequential(
            *_conv_block(in_channels, filters, 3),
            *(layer for _ in range(3) for layer in _conv_block(filters, filters, 3)),
        )
        self.fourier = nn.Conv2d(2, fourier_features, 1, bias=False)
        self.position_branch = nn.Sequential(
            *_conv_block(2 * fourier_features, position_filters, 1),
            *(
                layer
                for _ in range(2)
                for layer in _conv_block(position_filters, position_filters, 1)
            ),
        )
        self.head = nn.Sequential(
            *_conv_block(filters + position_filters, filters, 3),
            nn.Conv2d(filters, num_classes, 1),
        )

    def forward(self, image: Tensor, position: Tensor) -> Tensor:
        """Log-probabilities of the classes at every pixel.

        Args:
            image: (B, in_channels, H, W) image.
            position: (B, 2, H, W) row and column of each pixel in the whole
                image, in [0, 1].

        Returns:
            (B, num_classes, H, W) log-probabilities.
        """
        projected = self.fourier(position)
        features = torch.cat([projected.sin(), projected.cos()], 1)
        joint = torch.cat([self.image_branch(image), self.position_branch(features)], 1)
        log_q: Tensor = torch.log_softmax(self.head(joint), dim=1)
        return log_q

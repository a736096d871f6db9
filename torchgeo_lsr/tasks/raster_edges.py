"""Running a network at the imagery's edge as it would run on the whole raster.

Samples at the edge of the imagery carry context beyond it (read as zeros). Run on
the part inside the rasters only, the network's own padding applies at the
imagery's edge, so its output equals a forward pass over the whole raster whatever
the windows: what makes exported mosaics seam-free and test metrics independent of
the evaluation patch size.
"""

import math
from collections.abc import Callable

from torch import Tensor

__all__ = ('forward_inside',)


def forward_inside(
    network: Callable[[Tensor], Tensor], x: Tensor, inside: Tensor, num_classes: int
) -> Tensor:
    """Run a network on the part of each sample inside the rasters.

    Args:
        network: (B, channels, H, W) -> (B, C, H, W) log-probabilities; fully
            convolutional, so any rectangle may be given.
        x: (B, channels, H, W) input.
        inside: (B, H, W) pixels inside the rasters. The inside of a sample is a
            rectangle (the intersection of a window with the imagery's extent).
        num_classes: classes C.

    Returns:
        (B, C, H, W) log-probabilities; pixels outside get a uniform distribution.
    """
    if bool(inside.all()):
        return network(x)
    rows, cols = inside.any(2), inside.any(1)
    whole = rows.all(1) & cols.all(1)
    log_q = x.new_full((x.shape[0], num_classes, *x.shape[-2:]), -math.log(num_classes))
    if whole.any():
        log_q[whole] = network(x[whole])
    for index in (~whole).nonzero().flatten().tolist():
        r = rows[index].nonzero().flatten()
        c = cols[index].nonzero().flatten()
        if r.numel() == 0 or c.numel() == 0:
            continue
        r0, r1, c0, c1 = int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1
        part = x[index : index + 1, :, r0:r1, c0:c1]
        log_q[index, :, r0:r1, c0:c1] = network(part)[0]
    return log_q

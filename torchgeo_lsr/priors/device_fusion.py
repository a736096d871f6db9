"""Fusion rules on a batch's device: the evidence of auxiliary layers, in torch.

The same rules as :mod:`~torchgeo_lsr.priors.fusion` (dilation with the outside as 0,
maximum over inputs, box mean counting only pixels inside the raster, weighted sum per
target class), on a batch of samples each cut into tile parts: the loader ships, per
part, the 0/1 layers it rasterised on the part's window (zero elsewhere) and where the
window lies; :func:`evidence_on_device` gives the evidence on each part's output pixels,
as :meth:`~torchgeo_lsr.priors.PriorBuilder.build_window` adds it. Equal to the CPU
rules to float rounding (tests).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from ..schemes import ClassScheme
from .fusion import RuleSet

__all__ = ('evidence_on_device',)


def _dilate(layer: Tensor, size: int) -> Tensor:
    """Grey dilation of (N, 1, H, W) layers with a square (outside counts as 0)."""
    if size <= 1:
        return layer
    # max_pool pads with -inf; the layers are >= 0, so that is the outside as 0.
    return F.max_pool2d(layer, size, stride=1, padding=size // 2)


def _box_mean(layer: Tensor, inside: Tensor, size: int) -> Tensor:
    """Mean over a square of (N, 1, H, W) layers, counting only pixels inside."""
    if size <= 1:
        return layer
    total = F.avg_pool2d(layer * inside, size, stride=1, padding=size // 2)
    count = F.avg_pool2d(inside, size, stride=1, padding=size // 2)
    # Both are means over size² pixels: their ratio is the mean over inside pixels.
    counted = count * size**2 > 1e-6
    return torch.where(counted, total / count.clamp_min(1e-12), 0.0)


def evidence_on_device(
    rules: RuleSet, scheme: ClassScheme, layers: Tensor, windows: Tensor, halo: int
) -> Tensor:
    """The evidence the rules add to each class, for every tile part of a batch.

    Args:
        rules: the rule set.
        scheme: the prior's class scheme (resolves rule targets).
        layers: (B, P, L, Hr, Wr) 0/1 layers of each part on the raw samples
            (halo included), in the order of ``rules.layers``, zero outside the
            part's read window.
        windows: (B, P, 8) int: each part's read window on the raw sample
            (row0, row1, col0, col1) and its output window (row0, row1, col0,
            col1) on the sample without its halo; an empty output window for
            padding parts.
        halo: pixels of halo around the output.

    Returns:
        (B, C, Hr - 2 halo, Wr - 2 halo) float32 evidence, each part's on its
        output window.
    """
    batch, parts, _, height, width = layers.shape
    flat = layers.reshape(batch * parts, -1, height, width).float()
    rows = torch.arange(height, device=layers.device).view(1, height, 1)
    cols = torch.arange(width, device=layers.device).view(1, 1, width)
    box = windows.reshape(batch * parts, 8).view(-1, 8, 1, 1)
    inside = (
        (
            (rows >= box[:, 0])
            & (rows < box[:, 1])
            & (cols >= box[:, 2])
            & (cols < box[:, 3])
        )
        .unsqueeze(1)
        .float()
    )
    index = {name: i for i, name in enumerate(rules.layers)}
    evidence = layers.new_zeros(
        (batch * parts, scheme.num_classes, height, width), dtype=torch.float32
    )
    for rule in rules.rules:
        combined = None
        for item in rule.inputs:
            layer = _dilate(flat[:, index[item.layer]][:, None], item.dilate)
            combined = layer if combined is None else torch.maximum(combined, layer)
        assert combined is not None
        soft = _box_mean(combined, inside, rule.box_mean)
        target = scheme.resolve(rule.target)
        evidence[:, target] += rule.weight * soft[:, 0]
    out_rows = torch.arange(height - 2 * halo, device=layers.device).view(1, -1, 1)
    out_cols = torch.arange(width - 2 * halo, device=layers.device).view(1, 1, -1)
    part = (
        (out_rows >= box[:, 4])
        & (out_rows < box[:, 5])
        & (out_cols >= box[:, 6])
        & (out_cols < box[:, 7])
    ).unsqueeze(1)
    cropped = evidence[:, :, halo : height - halo, halo : width - halo]
    per_part = torch.where(part, cropped, 0.0)
    return per_part.view(batch, parts, *per_part.shape[1:]).sum(1)

"""Auxiliary fusion: declarative rules that add vector-derived evidence to a prior.

A rule takes one or more auxiliary layers (0/1 rasters such as roads, buildings,
water), optionally dilates each, combines them by maximum, optionally smooths the result
with a box mean, and adds it (times a weight) to one class of the prior; the prior is
renormalised after all rules. The paper's EnviroAtlas rule set (REFERENCE §2.3, step 4)
is the default (:func:`load_rules` with ``'enviroatlas'``)::

    water:      max(waterbodies, dilate_5x5(waterways)) -> 5x5 box mean -> Water
    roads:      roads -> 9x9 box mean -> Impervious Surface
    buildings:  buildings -> 9x9 box mean -> Impervious Surface

Box means count only pixels inside the raster (zero padding excluded from the count);
dilation treats the outside as 0. Rule files also say how vector files become layers
(``all_touched``, and a ``widen`` dilation applied when rasterising, like the 3x3
widening of OSM roads in §2.4).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import yaml

from ..schemes import ClassScheme

__all__ = (
    'BUNDLED_RULES',
    'FusionRule',
    'LayerInput',
    'RasterisationOptions',
    'RuleSet',
    'apply_rules',
    'box_mean',
    'dilate',
    'load_rules',
    'rule_evidence',
)

#: Rule sets shipped with the package.
BUNDLED_RULES: tuple[str, ...] = ('enviroatlas',)


def dilate(layer: np.ndarray, size: int) -> np.ndarray:
    """Grey dilation with a ``size`` x ``size`` square (outside counts as 0).

    Args:
        layer: 2-D array.
        size: odd window side; 1 or less leaves the layer unchanged.

    Returns:
        float32 array.
    """
    layer = np.asarray(layer, dtype=np.float32)
    if size <= 1:
        return layer
    result: np.ndarray = ndi.maximum_filter(layer, size=size, mode='constant', cval=0.0)
    return result.astype(np.float32, copy=False)


def box_mean(
    layer: np.ndarray, size: int, inside: np.ndarray | None = None
) -> np.ndarray:
    """Mean over a ``size`` x ``size`` square, counting only pixels inside the raster.

    Args:
        layer: 2-D array.
        size: odd window side; 1 or less leaves the layer unchanged.
        inside: boolean mask of pixels inside the raster (default: all).

    Returns:
        float32 array.
    """
    layer = np.asarray(layer, dtype=np.float32)
    if size <= 1:
        return layer
    weights = (
        np.ones(layer.shape, np.float32)
        if inside is None
        else inside.astype(np.float32)
    )
    total = ndi.uniform_filter(layer * weights, size=size, mode='constant', cval=0.0)
    count = ndi.uniform_filter(weights, size=size, mode='constant', cval=0.0)
    mean: np.ndarray = np.divide(
        total, count, out=np.zeros_like(total), where=count > 1e-6
    )
    return mean.astype(np.float32, copy=False)


@dataclass(frozen=True)
class LayerInput:
    """One input of a rule: a named layer, optionally dilated first."""

    layer: str
    dilate: int = 1


@dataclass(frozen=True)
class FusionRule:
    """Add ``weight`` x box_mean(max of dilated inputs) to the ``target`` class."""

    target: str | int
    inputs: tuple[LayerInput, ...]
    box_mean: int = 1
    weight: float = 1.0
    name: str = ''

    def __post_init__(self) -> None:
        """Check sizes and weight.

        Raises:
            ValueError: On even or negative sizes, a negative weight or no inputs.
        """
        sizes = [self.box_mean, *(i.dilate for i in self.inputs)]
        if any(size < 1 or size % 2 == 0 for size in sizes):
            raise ValueError(f'rule {self.name!r}: sizes must be odd and positive')
        if not self.inputs:
            raise ValueError(f'rule {self.name!r}: needs at least one input layer')
        if self.weight < 0:
            raise ValueError(f'rule {self.name!r}: weight must be non-negative')

    @property
    def radius(self) -> int:
        """How far (in pixels) a layer pixel influences the output."""
        return max(i.dilate // 2 for i in self.inputs) + self.box_mean // 2

    def soft_layer(
        self, layers: Mapping[str, np.ndarray], inside: np.ndarray | None = None
    ) -> np.ndarray:
        """The evidence this rule adds, before weighting.

        Args:
            layers: 2-D layers by name (0 outside the raster).
            inside: mask of pixels inside the raster.

        Returns:
            float32 array.
        """
        combined = None
        for item in self.inputs:
            layer = dilate(layers[item.layer], item.dilate)
            combined = layer if combined is None else np.maximum(combined, layer)
        assert combined is not None
        return box_mean(combined, self.box_mean, inside)


@dataclass(frozen=True)
class RasterisationOptions:
    """How a vector file becomes a 0/1 layer."""

    all_touched: bool = False
    widen: int = 1


@dataclass(frozen=True)
class RuleSet:
    """Fusion rules and how their layers are rasterised from vectors."""

    rules: tuple[FusionRule, ...]
    rasterisation: Mapping[str, RasterisationOptions] = field(default_factory=dict)

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of all layers the rules use, in order of first use."""
        names: dict[str, None] = {}
        for rule in self.rules:
            for item in rule.inputs:
                names[item.layer] = None
        return tuple(names)

    @property
    def radius(self) -> int:
        """Halo the rules need around a window."""
        return max((rule.radius for rule in self.rules), default=0)

    def options(self, layer: str) -> RasterisationOptions:
        """Rasterisation options of a layer (defaults if not given).

        Args:
            layer: layer name.

        Returns:
            The options.
        """
        return self.rasterisation.get(layer, RasterisationOptions())

    def restricted_to(self, available: set[str]) -> 'RuleSet':
        """Only the rules whose layers are all available.

        Args:
            available: names of the layers at hand.

        Returns:
            A rule set without the other rules.
        """
        rules = tuple(
            rule
            for rule in self.rules
            if all(item.layer in available for item in rule.inputs)
        )
        return RuleSet(rules, self.rasterisation)


def load_rules(source: str | os.PathLike[str] | Mapping[str, Any]) -> RuleSet:
    """Load a rule set: a bundled name, a YAML file, or a parsed mapping.

    Format::

        layers:                       # optional, for vector inputs
          waterways: {all_touched: true}
          roads: {widen: 3}
        rules:
          - name: water
            target: Water             # class name or code of the prior's scheme
            inputs:
              - layer: waterbodies
              - {layer: waterways, dilate: 5}
            box_mean: 5
            weight: 1.0

    Args:
        source: ``'enviroatlas'``, a YAML path, or the mapping.

    Returns:
        The rule set.

    Raises:
        ValueError: If the description is malformed.
    """
    if isinstance(source, Mapping):
        data: Any = source
    else:
        name = str(source)
        if name in BUNDLED_RULES:
            text = (
                resources.files('torchgeo_lsr.priors') / 'data' / f'{name}-rules.yaml'
            ).read_text()
        elif Path(name).is_file():
            text = Path(name).read_text()
        else:
            raise ValueError(
                f'no rule set {name!r}: give a YAML file or one of {BUNDLED_RULES}'
            )
        data = yaml.safe_load(text)
    rules_list = data.get('rules') if isinstance(data, Mapping) else None
    if not isinstance(rules_list, list):
        raise ValueError(f'{source}: a rule set needs a "rules" list')  # noqa: TRY004
    try:
        rules = tuple(
            FusionRule(
                target=entry['target'],
                inputs=tuple(
                    LayerInput(str(item['layer']), int(item.get('dilate', 1)))
                    for item in entry['inputs']
                ),
                box_mean=int(entry.get('box_mean', 1)),
                weight=float(entry.get('weight', 1.0)),
                name=str(entry.get('name', '')),
            )
            for entry in data['rules']
        )
        rasterisation = {
            str(layer): RasterisationOptions(
                all_touched=bool(options.get('all_touched', False)),
                widen=int(options.get('widen', 1)),
            )
            for layer, options in dict(data.get('layers') or {}).items()
        }
    except (KeyError, TypeError) as error:
        raise ValueError(
            f'{source}: every rule needs a "target" and "inputs" with a "layer" '
            f'({error!r})'
        ) from error
    return RuleSet(rules, rasterisation)


def rule_evidence(
    rules: RuleSet,
    layers: Mapping[str, np.ndarray],
    scheme: ClassScheme,
    shape: tuple[int, int],
    inside: np.ndarray | None = None,
    crop: int = 0,
) -> np.ndarray:
    """The evidence all rules add to each class (REFERENCE §2.3 step 4).

    Args:
        rules: the rule set.
        layers: 2-D layers by name, covering the output plus ``crop`` pixels on
            each side (0 outside the raster).
        scheme: the prior's class scheme (resolves rule targets).
        shape: (H, W) of the output.
        inside: mask of layer pixels inside the raster (shape of the layers).
        crop: halo around the output in the layers.

    Returns:
        (C, H, W) float32 evidence, ``weight`` x soft layer summed per target.

    Raises:
        ValueError: If a rule's target is not a class of ``scheme``, or a layer is
            missing.
    """
    height, width = shape
    evidence = np.zeros((scheme.num_classes, height, width), np.float32)
    for rule in rules.rules:
        try:
            target = scheme.resolve(rule.target)
        except KeyError as error:
            raise ValueError(f'rule {rule.name!r}: {error.args[0]}') from error
        missing = [i.layer for i in rule.inputs if i.layer not in layers]
        if missing:
            raise ValueError(f'rule {rule.name!r}: no layer named {missing}')
        soft = rule.soft_layer(layers, inside)[
            crop : crop + height, crop : crop + width
        ]
        evidence[target] += rule.weight * soft
    return evidence


def apply_rules(
    prior: np.ndarray,
    valid: np.ndarray,
    rules: RuleSet,
    layers: Mapping[str, np.ndarray],
    scheme: ClassScheme,
    inside: np.ndarray | None = None,
    crop: int = 0,
) -> np.ndarray:
    """Add the rules' evidence to a normalised prior where valid and renormalise.

    This fuses an existing prior (e.g. one read from disk). The
    :class:`~torchgeo_lsr.priors.builder.PriorBuilder` follows the paper's order
    instead (evidence added to the class mass *before* the no-data mass is dropped,
    and also where the prior has no data), with :func:`rule_evidence`.

    Args:
        prior: (C, H, W) prior, summing to 1 where ``valid``.
        valid: (H, W) pixels with a prior; others stay as they are.
        rules: the rule set.
        layers: 2-D layers by name, covering the prior plus ``crop`` pixels on each
            side (0 outside the raster).
        scheme: the prior's class scheme (resolves rule targets).
        inside: mask of layer pixels inside the raster (shape of the layers).
        crop: halo around the prior in the layers.

    Returns:
        The fused (C, H, W) prior, float32.

    Raises:
        ValueError: If a rule's target is not a class of ``scheme``, or a layer is
            missing.
    """
    evidence = rule_evidence(rules, layers, scheme, prior.shape[-2:], inside, crop)
    fused = np.array(prior, dtype=np.float32, copy=True)
    fused += np.where(valid, evidence, 0.0)
    total = fused.sum(0)
    np.divide(fused, total, out=fused, where=valid & (total > 0))
    return fused

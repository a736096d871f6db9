"""Auxiliary layers of a data module: buildings, roads, waterways, water bodies.

Each layer is given as vector files (rasterised per sample with the fusion rules'
options from their ``layers:`` section, as ``write_prior`` does, else the paper's
options) or rasters on any grid (read with the sample; values > 0 are 1). A layer is
read when the network's ``inputs`` name it or the fusion rules of on-the-fly priors
need it. :class:`StageLayers` opens a stage's layers: rasters as datasets to intersect
with the imagery, vectors as frames on the imagery CRS; :func:`layers_on_window`
puts both on a window of a sample.
"""

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas
from affine import Affine
from torchgeo.datasets import DatasetNotFoundError

from ..datasets.rasters import LayerRaster
from ..datasets.vectors import rasterize_layer, read_vector_layer
from ..grid import check_overlap
from ..priors.fusion import RasterisationOptions, RuleSet
from .inputs import Paths, check_georeferenced, is_raster, path_list

__all__ = (
    'INPUT_CHANNELS',
    'LAYER_NAMES',
    'OPTIONS_ATTR',
    'StageLayers',
    'check_inputs',
    'layer_paths',
    'layers_on_window',
    'needed_layers',
)

#: Auxiliary layers the data module reads.
LAYER_NAMES = ('buildings', 'roads', 'waterways', 'waterbodies')

#: Key of a vector frame's ``attrs`` holding its :class:`RasterisationOptions`.
OPTIONS_ATTR = 'rasterisation'

#: What the network's input channels may be made of.
INPUT_CHANNELS = ('imagery', 'prior', *LAYER_NAMES)


def layer_paths(
    buildings: Paths | None = None,
    roads: Paths | None = None,
    waterways: Paths | None = None,
    waterbodies: Paths | None = None,
) -> dict[str, list[str]]:
    """The files of each layer given.

    Args:
        buildings: building footprints (vectors or rasters).
        roads: roads.
        waterways: waterways.
        waterbodies: water bodies.

    Returns:
        Paths by layer name, for the layers given only.
    """
    given = zip(LAYER_NAMES, (buildings, roads, waterways, waterbodies), strict=True)
    return {name: path_list(paths) for name, paths in given if paths is not None}


def check_inputs(inputs: Sequence[str], layers: Collection[str]) -> list[str]:
    """Check the network's input channels against the layers given.

    Args:
        inputs: channel names, from :data:`INPUT_CHANNELS`.
        layers: names of the layers given.

    Returns:
        The channel names as a list.

    Raises:
        ValueError: If a name is unknown, the list is empty, or a layer named has
            no paths.
    """
    unknown = [name for name in inputs if name not in INPUT_CHANNELS]
    if unknown or not inputs:
        raise ValueError(
            f'inputs must name channels from imagery, prior, {", ".join(LAYER_NAMES)}; '
            f'got {list(inputs)}'
        )
    missing = [name for name in inputs if name in LAYER_NAMES and name not in layers]
    if missing:
        raise ValueError(
            f'inputs {missing} need their layer paths '
            f'({", ".join(name + "_paths" for name in missing)})'
        )
    return list(inputs)


def needed_layers(inputs: Sequence[str], rule_layers: Sequence[str]) -> list[str]:
    """The layers a data module reads: those of its inputs and its fusion rules.

    Args:
        inputs: the network's input channels.
        rule_layers: the layers of the fusion rules.

    Returns:
        Layer names, sorted.
    """
    return sorted((set(inputs) & set(LAYER_NAMES)) | set(rule_layers))


@dataclass(frozen=True)
class StageLayers:
    """A stage's auxiliary layers, opened.

    Attributes:
        rasters: raster layers by name, as datasets on the imagery grid (their
            data arrives in samples as ``layer_<name>``).
        vectors: vector layers by name, as GeoDataFrames on the imagery CRS; a
            layer the fusion rules use carries the rules' rasterisation options in
            ``attrs[OPTIONS_ATTR]`` (read by :func:`layers_on_window`).
    """

    rasters: dict[str, LayerRaster] = field(default_factory=dict)
    vectors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        names: Sequence[str],
        paths: Mapping[str, Sequence[str]],
        crs: Any,
        res: Any,
        rules: RuleSet | None = None,
    ) -> 'StageLayers':
        """Open some layers of a stage.

        Args:
            names: the layers to open.
            paths: the stage's files of each layer.
            crs: the imagery CRS.
            res: the imagery resolution.
            rules: the fusion rules of on-the-fly priors: vector layers they use
                are rasterised with their options (``RuleSet.options``, as
                ``write_prior`` does), other vector layers with the paper's.

        Returns:
            The layers.

        Raises:
            ValueError: If a layer mixes raster and vector files.
            FileNotFoundError: If a raster layer has no file.
        """
        rasters: dict[str, LayerRaster] = {}
        vectors: dict[str, Any] = {}
        for name in names:
            files = [str(path) for path in paths.get(name, [])]
            kinds = {is_raster(path) for path in files}
            if len(kinds) > 1:
                raise ValueError(f'the {name} layer mixes raster and vector files')
            if kinds == {True}:
                rasters[name] = _open_raster_layer(name, files, crs, res)
            else:
                frame = _read_vector_files(name, files, crs)
                if rules is not None and name in rules.layers:
                    frame = frame.copy(deep=False)
                    frame.attrs[OPTIONS_ATTR] = rules.options(name)
                vectors[name] = frame
        return cls(rasters, vectors)

    def check_rasters(self, extent: Any, crs: Any) -> None:
        """Refuse raster layers without a CRS or away from the imagery.

        Args:
            extent: the imagery's geometry.
            crs: its CRS.

        Raises:
            ValueError: If a raster layer has no CRS or does not overlap the
                imagery.
        """
        for name, raster in self.rasters.items():
            check_georeferenced(raster.files, f'{name} layer')
            check_overlap(
                extent,
                raster.index.geometry.union_all(),
                first_name='the imagery',
                second_name=f'the {name} layer',
                first_crs=crs,
            )


def _open_raster_layer(name: str, files: list[str], crs: Any, res: Any) -> LayerRaster:
    """A raster layer as a dataset on the imagery grid.

    Args:
        name: the layer.
        files: its files or folders.
        crs: the imagery CRS.
        res: the imagery resolution.

    Returns:
        The dataset.

    Raises:
        FileNotFoundError: If no file matches.
    """
    try:
        return LayerRaster(name, files, crs=crs, res=res)
    except DatasetNotFoundError:
        raise FileNotFoundError(
            f'no {name} raster files in {files} (set {name}_paths)'
        ) from None


def _read_vector_files(name: str, files: list[str], crs: Any) -> Any:
    """A vector layer's files read into one frame on the imagery CRS.

    Args:
        name: the layer.
        files: its vector files.
        crs: the imagery CRS.

    Returns:
        The GeoDataFrame.

    Raises:
        FileNotFoundError: If the layer has no file.
    """
    if not files:
        raise FileNotFoundError(f'no {name} files for this stage (set {name}_paths)')
    frames = [read_vector_layer(path, crs=crs, layer=name) for path in files]
    return pandas.concat(frames) if len(frames) > 1 else frames[0]


def layers_on_window(
    vectors: Mapping[str, Any],
    crs: Any,
    transform: Affine,
    rows: tuple[int, int],
    cols: tuple[int, int],
    rasters: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """The auxiliary layers on a window of a sample, as 0/1 arrays.

    Args:
        vectors: vector layers (GeoDataFrames in ``crs``) by name; rasterised on
            the window with the options in their ``attrs[OPTIONS_ATTR]`` (set by
            :meth:`StageLayers.open` from the fusion rules), else the paper's.
        crs: CRS of the sample's grid.
        transform: affine transform of the sample.
        rows: (start, stop) rows of the window.
        cols: (start, stop) columns of the window.
        rasters: raster layers of the sample (0/1) by name; cut to the window.

    Returns:
        0/1 layers by name.
    """
    out = {
        name: layer[rows[0] : rows[1], cols[0] : cols[1]]
        for name, layer in rasters.items()
    }
    if not vectors:
        return out
    grid = transform @ Affine.translation(cols[0], rows[0])
    with warnings.catch_warnings():
        # Most patches miss most features: "no overlap" is normal here.
        warnings.simplefilter('ignore', UserWarning)
        for name, frame in vectors.items():
            options = frame.attrs.get(OPTIONS_ATTR)
            assert options is None or isinstance(options, RasterisationOptions)
            out[name] = rasterize_layer(
                frame, name, crs, grid, cols[1] - cols[0], rows[1] - rows[0], options
            )
    return out

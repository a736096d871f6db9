"""Prepared data sets laid out as TorchGeo distributes them: a tile index + files.

TorchGeo's ``EnviroAtlas`` and ``ChesapeakeCVPR`` ship a ``spatial_index.geojson``
with one feature per (tile, split) and one column per layer holding the tile's file
of that layer, relative to the data set's folder. :class:`TileIndex` reads it and
answers "which files does this split have for that layer", naming the missing file
and where to download it when the answer is not on disk.

:class:`TileIndexDataModule` is the :class:`~torchgeo_lsr.datamodules.LSRDataModule`
for such data sets: each stage (fit, validate, test, predict) reads the tiles of its
own splits, so the paper's protocols are a choice of splits: transductive (train,
validate and test on the target tiles), or supervised elsewhere and tested here.
Each stage opens its own tiles on their own CRS, so a model trained in one UTM
zone is tested in another without warping.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas

from .inputs import StageInputs
from .layer_set import LAYER_NAMES
from .lsr import LSRDataModule

__all__ = ('TileIndex', 'TileIndexDataModule', 'split_names')


@dataclass(frozen=True)
class TileIndex:
    """The tile index of a prepared data set.

    Attributes:
        folder: folder the index's file names are relative to.
        dataset: data set name, for messages.
        download: where the data set comes from, for messages.
        derived: extra layers whose file names derive from another layer's,
            ``{layer: (source layer, suffix in the source name, replacement)}``
            (TorchGeo's index has no column for the priors).
    """

    folder: Path
    dataset: str
    download: str
    derived: Mapping[str, tuple[str, str, str]]

    @property
    def path(self) -> Path:
        """The ``spatial_index.geojson`` file."""
        return self.folder / 'spatial_index.geojson'

    def read(self) -> Any:
        """Read the index.

        Returns:
            A GeoDataFrame with a ``split`` column and one column per layer.

        Raises:
            FileNotFoundError: If the index is missing (with the download location).
        """
        if not self.path.exists():
            raise FileNotFoundError(
                f'{self.dataset}: no tile index at {self.path}. Download the data '
                f'set from {self.download} and extract it so that this file exists '
                '(or set data.init_args.root)'
            )
        frame = geopandas.read_file(self.path)
        for layer, (source, old, new) in self.derived.items():
            if layer not in frame and source in frame:
                frame[layer] = frame[source].str.replace(old, new, regex=False)
        return frame

    def files(
        self, frame: Any, splits: Sequence[str], layer: str, hint: str = ''
    ) -> list[str]:
        """The files of one layer for some splits, checked to exist.

        Args:
            frame: the index (from :meth:`read`).
            splits: split names as in the index's ``split`` column.
            layer: layer column.
            hint: extra advice for a missing file (e.g. how to make it).

        Returns:
            Absolute paths, one per tile, in index order.

        Raises:
            ValueError: If a split has no tile in the index.
            FileNotFoundError: If the layer or one of its files is missing.
        """
        if layer not in frame:
            raise FileNotFoundError(
                f'{self.dataset}: the tile index {self.path} has no {layer!r} layer '
                f'(layers: {sorted(c for c in frame.columns if c not in ("split", "geometry"))})'
            )
        paths = []
        for split in splits:
            rows = frame[frame['split'] == split]
            if rows.empty:
                raise ValueError(
                    f'{self.dataset}: split {split!r} has no tile in {self.path} '
                    f'(splits there: {sorted(set(frame["split"]))})'
                )
            for name in rows[layer]:
                path = self.folder / name
                if not path.exists():
                    raise FileNotFoundError(
                        f'{self.dataset}: {path} (layer {layer!r} of split '
                        f'{split!r}) is missing. {hint or "Download it from "}'
                        f'{"" if hint else self.download}'
                    )
                paths.append(str(path))
        return sorted(dict.fromkeys(paths))


class TileIndexDataModule(LSRDataModule):
    """An LSR data module over a prepared data set's tile index.

    Subclasses set :attr:`tile_index`, the layer names of imagery, coarse labels,
    high-res labels, priors and auxiliary layers, and call :meth:`_init_index`.
    """

    #: Index column of the imagery.
    image_layer = 'naip'
    #: Index column of the coarse labels.
    coarse_layer = 'nlcd'
    #: Index column of the high-res labels.
    label_layer = 'lc'
    #: Index columns of auxiliary layers by our layer name.
    aux_layers: Mapping[str, str] = {}

    def _init_index(
        self,
        tile_index: TileIndex,
        stage_splits: Mapping[str, Sequence[str]],
        prior_layer: str | None,
        prior_hint: str = '',
        prior_files: Sequence[str] = (),
        with_labels: bool = True,
        layers: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Resolve every stage's files from the index (all checked to exist).

        Args:
            tile_index: the data set's index.
            stage_splits: split names of ``'fit'``, ``'validate'``, ``'test'`` and
                ``'predict'``.
            prior_layer: index column of a precomputed prior (None: built on the
                fly from the coarse labels, or ``prior_files``).
            prior_hint: how to make the prior when it is missing.
            prior_files: prior rasters outside the index (e.g. learned priors).
            with_labels: read the high-res labels.
            layers: auxiliary layers to read (our names).

        Returns:
            The keyword arguments of :class:`LSRDataModule` that depend on the
            files (those of the ``'fit'`` stage).
        """
        frame = tile_index.read()
        self.tile_index = tile_index
        #: The index as read (subclasses look up more layers in it).
        self.index_frame = frame
        self._stages: dict[str, StageInputs] = {}
        for stage, splits in stage_splits.items():
            image = tile_index.files(frame, splits, self.image_layer)
            inputs = StageInputs(image=image)
            if prior_files:
                inputs.prior = list(prior_files)
            elif prior_layer is not None:
                inputs.prior = tile_index.files(frame, splits, prior_layer, prior_hint)
            else:
                inputs.coarse = tile_index.files(frame, splits, self.coarse_layer)
            if with_labels:
                inputs.label = tile_index.files(frame, splits, self.label_layer)
            inputs.layers = {
                name: tile_index.files(frame, splits, self.aux_layers[name])
                for name in layers
            }
            self._stages[stage] = inputs
        fit = self._stages['fit']
        return {
            'image_paths': fit.image,
            'coarse_paths': fit.coarse or None,
            'prior_paths': fit.prior or None,
            'label_paths': fit.label or None,
            **{
                f'{name}_paths': fit.layers.get(name)
                for name in LAYER_NAMES
                if name in fit.layers
            },
        }

    def stage_inputs(self, stage: str) -> StageInputs:
        """The files of a stage's splits.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Returns:
            The stage's files.
        """
        return self._stages[stage]


def split_names(
    splits: str | Sequence[str] | None, default: Sequence[str], resolve: Any
) -> list[str]:
    """Normalise a stage's split argument.

    Args:
        splits: one split, several, or None (the default).
        default: splits when None.
        resolve: turns a user's split name into the index's.

    Returns:
        Index split names.
    """
    if splits is None:
        return list(default)
    if isinstance(splits, str | os.PathLike):
        splits = [str(splits)]
    return [resolve(split) for split in splits]

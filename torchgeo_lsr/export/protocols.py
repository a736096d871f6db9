"""What export needs of its collaborators: the task, the data module, the dataset.

Export runs any task and data module that offer these (structural types, checked
by mypy): in this package :class:`~torchgeo_lsr.tasks.LSRSegmentation` and
:class:`~torchgeo_lsr.datamodules.LSRDataModule`.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from torch import Tensor
from torch.nn import Parameter

from ..schemes import ClassScheme

__all__ = ('ExportDataModule', 'ExportTask', 'TileDataset', 'TileTransforms')


@runtime_checkable
class TileTransforms(Protocol):
    """The sample transform of a tiled dataset: which file each tile is."""

    @property
    def tile_paths(self) -> Sequence[str]:
        """The imagery file of each tile, in tile-index order."""
        ...

    @property
    def crs(self) -> Any:
        """The CRS the dataset reads in."""
        ...


@runtime_checkable
class TileDataset(Protocol):
    """A dataset read by bounds, whose samples carry each pixel's tile."""

    @property
    def transforms(self) -> Any:
        """The sample transform (a :class:`TileTransforms`)."""
        ...

    def __getitem__(self, index: tuple[slice, slice]) -> Mapping[str, Any]:
        """The sample of ``[minx:maxx, miny:maxy]``, with its context.

        Args:
            index: x and y slices in the dataset's CRS.

        Returns:
            ``image``, ``prior``, ``valid`` and ``tile`` tensors (and others).
        """
        ...


class ExportDataModule(Protocol):
    """A data module describing the imagery and its prior."""

    @property
    def scheme(self) -> ClassScheme | None:
        """The classes (names and colours of the maps)."""
        ...

    @property
    def predict_dataset(self) -> object:
        """The prediction dataset (a :class:`TileDataset`) after ``setup``."""
        ...

    def setup(self, stage: str) -> None:
        """Set up a stage (export sets up ``'predict'``).

        Args:
            stage: the stage.
        """
        ...


class ExportTask(Protocol):
    """A trained task: its cropped outputs of a batch, and module plumbing."""

    @property
    def training(self) -> bool:
        """Whether the task is in training mode."""
        ...

    @property
    def hparams(self) -> Mapping[str, Any]:
        """Hyper-parameters (``method`` and ``loss`` go into the files' tags)."""
        ...

    def outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Cropped ``log_q``, ``prior``, ``valid`` and ``tile`` of a batch.

        Args:
            batch: a one-sample batch of the dataset's tensors.

        Returns:
            The outputs.
        """
        ...

    def adopt_data(self, datamodule: Any) -> None:
        """Take classes, context and input statistics from the data module.

        Args:
            datamodule: the data module.
        """
        ...

    def eval(self) -> Any:
        """Switch to inference mode."""
        ...

    def train(self, mode: bool = True) -> Any:
        """Switch training mode on or off.

        Args:
            mode: training mode.
        """
        ...

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (their device is where blocks are sent).

        Args:
            recurse: include submodules' parameters.
        """
        ...

"""Exporting with a Lightning trainer: its devices and DDP ranks share the tiles."""

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, IterableDataset

from .grids import TileGrid
from .maps import export_if_needed, prepare
from .options import ExportOptions
from .protocols import ExportDataModule, ExportTask
from .resume import check_stop, stop_on_sigterm

__all__ = ('TileExporter', 'export_with_trainer')


def _identity(item: Any) -> Any:
    """Collate nothing (batches are single tiles, given as they are)."""
    return item


class _RankTiles(IterableDataset[TileGrid]):
    """This process's share of the tiles (``rank::world_size``), decided when read.

    An iterable dataset, so Lightning does not add a distributed sampler (which
    would pad ranks with duplicate tiles).
    """

    def __init__(self, grids: Sequence[TileGrid]) -> None:
        """Keep the tiles.

        Args:
            grids: all tiles.
        """
        self.grids = list(grids)

    def _mine(self) -> list[TileGrid]:
        """The tiles of this rank."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank = torch.distributed.get_rank()
            world = torch.distributed.get_world_size()
            return self.grids[rank::world]
        return self.grids

    def __iter__(self) -> Iterator[TileGrid]:
        """Iterate over this rank's tiles."""
        return iter(self._mine())

    def __len__(self) -> int:
        """Number of this rank's tiles."""
        return len(self._mine())


class TileExporter(LightningModule):
    """Export tiles as a Lightning predict loop: DDP ranks split the tiles."""

    def __init__(
        self,
        task: ExportTask,
        datamodule: ExportDataModule,
        out: str,
        options: ExportOptions,
    ) -> None:
        """Wrap a task for exporting.

        Args:
            task: the trained task (moved to the trainer's device with this).
            datamodule: the data module describing the imagery and prior.
            out: output file or folder.
            options: what to write.
        """
        super().__init__()
        self.task = task
        self.datamodule_ = datamodule
        self.out = out
        self.options = options
        self.grids: list[TileGrid] = []
        self.folder = False
        self.written: list[dict[str, Path]] = []
        self.kept = 0
        self._signals = ExitStack()

    def setup(self, stage: str) -> None:
        """Prepare the data module's prediction dataset in this process.

        Args:
            stage: the Lightning stage.
        """
        self.grids, self.folder = prepare(
            self.task, self.datamodule_, self.out, self.options.region
        )

    def on_predict_start(self) -> None:
        """From here on, SIGTERM stops the export between two blocks."""
        self._signals.enter_context(stop_on_sigterm())

    def on_predict_end(self) -> None:
        """Give SIGTERM back to the handler before (see :meth:`release_signals`)."""
        self.release_signals()

    def release_signals(self) -> None:
        """Restore the SIGTERM handler in place before the export."""
        self._signals.close()

    def predict_dataloader(self) -> DataLoader[TileGrid]:
        """One tile per step.

        Returns:
            The loader of this rank's tiles.
        """
        return DataLoader(_RankTiles(self.grids), batch_size=None, collate_fn=_identity)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Tiles are descriptions, not tensors.

        Args:
            batch: the tile.
            device: the device.
            dataloader_idx: index of the data loader.

        Returns:
            The tile, unchanged.
        """
        return batch

    def predict_step(self, batch: TileGrid, batch_idx: int) -> None:
        """Export one tile (skipped if its outputs exist).

        Args:
            batch: the tile.
            batch_idx: its index.
        """
        progress = (
            self.trainer.is_global_zero
            and self.trainer.progress_bar_callback is not None
        )
        check_stop()
        paths, written = export_if_needed(
            self.task,
            self.datamodule_,
            batch,
            self.out,
            self.folder,
            self.options,
            progress,
        )
        self.written.append(paths)
        self.kept += not written


@dataclass(frozen=True)
class ExportSummary:
    """What an export did in this process.

    Attributes:
        paths: the outputs of every tile this process handled.
        kept: how many of those tiles were complete from an earlier run (skipped).
    """

    paths: list[dict[str, Path]]
    kept: int

    @property
    def written(self) -> int:
        """Tiles written by this run."""
        return len(self.paths) - self.kept


def run_export(
    trainer: Trainer,
    task: ExportTask,
    datamodule: ExportDataModule,
    out: str,
    options: ExportOptions,
) -> ExportSummary:
    """Export with a Lightning trainer: its devices and DDP ranks share the tiles.

    Args:
        trainer: the trainer (CPU, one GPU or several; ``strategy='ddp'``).
        task: the trained task.
        datamodule: the data module describing the imagery and prior.
        out: output file or folder.
        options: what to write.

    Returns:
        What this process exported or found complete.

    Raises:
        ExportStopped: If SIGTERM stopped the export (finished tiles stay).
    """
    exporter = TileExporter(task, datamodule, out, options)
    try:
        trainer.predict(exporter, return_predictions=False)
    finally:
        exporter.release_signals()
    return ExportSummary(exporter.written, exporter.kept)


def export_with_trainer(
    trainer: Trainer,
    task: ExportTask,
    datamodule: ExportDataModule,
    out: str,
    options: ExportOptions,
) -> list[dict[str, Path]]:
    """Export with a Lightning trainer: its devices and DDP ranks share the tiles.

    Args:
        trainer: the trainer (CPU, one GPU or several; ``strategy='ddp'``).
        task: the trained task.
        datamodule: the data module describing the imagery and prior.
        out: output file or folder.
        options: what to write.

    Returns:
        The paths of the tiles this process exported or found (see
        :func:`run_export` for the counts).
    """
    return run_export(trainer, task, datamodule, out, options).paths

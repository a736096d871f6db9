"""Exporting every map of a data module in this process, resuming where it stopped."""

import os
from pathlib import Path

from tqdm import tqdm

from ..grid import Region
from ..schemes import ClassScheme
from .grids import TileGrid, region_grid, tile_grids
from .options import ExportOptions, output_paths
from .passes import export_tile
from .products import write_qml
from .protocols import ExportDataModule, ExportTask, TileDataset, TileTransforms
from .resume import output_problem, stop_on_sigterm, sweep_temporaries

__all__ = (
    'export_if_needed',
    'export_maps',
    'export_unless_done',
    'prediction_data',
    'prepare',
)


def prediction_data(datamodule: ExportDataModule) -> tuple[TileDataset, ClassScheme]:
    """The set-up prediction dataset of a data module and its classes.

    Args:
        datamodule: the data module (its ``predict`` stage set up).

    Returns:
        The dataset and the class scheme.

    Raises:
        TypeError: If the dataset cannot be read by bounds or does not know its
            tiles' files.
        ValueError: If the data module has no class scheme.
    """
    dataset = datamodule.predict_dataset
    if not isinstance(dataset, TileDataset) or not isinstance(
        dataset.transforms, TileTransforms
    ):
        raise TypeError(
            f'{type(datamodule).__name__} gives a prediction dataset export cannot '
            'read: it needs one read by bounds whose transforms know the tile '
            'files (tile_paths, crs), as LSRDataModule gives'
        )
    if datamodule.scheme is None:
        raise ValueError('export needs a data module with a class scheme')
    return dataset, datamodule.scheme


def prepare(
    task: ExportTask,
    datamodule: ExportDataModule,
    out: str | os.PathLike[str],
    region: Region | None = None,
) -> tuple[list[TileGrid], bool]:
    """Adopt the data module, set up its prediction dataset, list the maps' grids.

    Args:
        task: the trained task.
        datamodule: the data module describing the imagery and prior.
        out: output file or folder.
        region: one map of this region instead of one per tile (see
            :class:`ExportOptions`).

    Returns:
        The maps' grids, and whether ``out`` is a folder.

    Raises:
        ValueError: If ``out`` names a file but there are several tiles.
    """
    task.adopt_data(datamodule)
    datamodule.setup('predict')
    dataset, _ = prediction_data(datamodule)
    grids = tile_grids(dataset.transforms)
    if region is not None:
        grids = [region_grid(grids, region)]
    folder = Path(out).suffix.lower() not in ('.tif', '.tiff')
    if not folder and len(grids) > 1:
        raise ValueError(
            f'{len(grids)} imagery tiles cannot go to one file {out}: give a folder'
        )
    return grids, folder


def export_if_needed(
    task: ExportTask,
    datamodule: ExportDataModule,
    grid: TileGrid,
    out: str | os.PathLike[str],
    folder: bool,
    options: ExportOptions,
    progress: bool,
) -> tuple[dict[str, Path], bool]:
    """Export a map unless all its outputs are complete (and ``overwrite`` is off).

    First removes what a killed export of this map left behind
    (:func:`~torchgeo_lsr.export.resume.sweep_temporaries`). An existing output
    counts only if it is a complete map of this tile
    (:func:`~torchgeo_lsr.export.resume.output_problem`); otherwise the tile is
    exported again, replacing it.

    Args:
        task: the trained task.
        datamodule: the data module, prepared by :func:`prepare`.
        grid: the map's grid.
        out: output file or folder.
        folder: whether ``out`` is a folder.
        options: what to write.
        progress: show a progress bar.

    Returns:
        The map's paths, and whether they were written now (False: kept).

    Raises:
        ExportStopped: If SIGTERM arrived (within :func:`stop_on_sigterm`).
    """
    paths = output_paths(out, grid.path, folder, options.products)
    sweep_temporaries(paths)
    dataset, scheme = prediction_data(datamodule)
    problems = {
        name: output_problem(path, name, grid, scheme.num_classes)
        for name, path in paths.items()
    }
    if options.overwrite or any(problems.values()):
        export_tile(task, dataset, grid, paths, scheme, options, progress)
        return paths, True
    if not paths['map'].with_suffix('.qml').exists():
        write_qml(paths['map'], scheme)
    return paths, False


def export_unless_done(
    task: ExportTask,
    datamodule: ExportDataModule,
    grid: TileGrid,
    out: str | os.PathLike[str],
    folder: bool,
    options: ExportOptions,
    progress: bool,
) -> dict[str, Path]:
    """Export a map unless all its outputs are complete (see :func:`export_if_needed`).

    Args:
        task: the trained task.
        datamodule: the data module, prepared by :func:`prepare`.
        grid: the map's grid.
        out: output file or folder.
        folder: whether ``out`` is a folder.
        options: what to write.
        progress: show a progress bar.

    Returns:
        The map's paths.
    """
    paths, _ = export_if_needed(task, datamodule, grid, out, folder, options, progress)
    return paths


def export_maps(
    task: ExportTask,
    datamodule: ExportDataModule,
    out: str | os.PathLike[str],
    options: ExportOptions | None = None,
    progress: bool = True,
) -> list[dict[str, Path]]:
    """Export maps of every imagery tile of a data module, in this process.

    For several devices or processes, use :func:`export_with_trainer`.

    Args:
        task: a trained :class:`~torchgeo_lsr.tasks.LSRSegmentation`.
        datamodule: an :class:`~torchgeo_lsr.datamodules.LSRDataModule` describing
            the imagery and its prior (its ``predict`` stage is set up here).
        out: a ``.tif`` path for a single tile, else a folder.
        options: what to write.
        progress: show progress bars.

    Returns:
        The paths of every tile (written now or found from an earlier run).
    """
    options = options or ExportOptions()
    grids, folder = prepare(task, datamodule, out, options.region)
    with stop_on_sigterm():
        return [
            export_unless_done(task, datamodule, grid, out, folder, options, progress)
            for grid in tqdm(grids, desc='export', unit='tile', disable=not progress)
        ]

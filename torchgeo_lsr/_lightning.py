"""LightningCLI of ``torchgeo-lsr fit|validate|test|predict``, as TorchGeo's ``main``.

Like ``torchgeo.main``, any :class:`~torchgeo.tasks.BaseTask` and
:class:`~torchgeo.datamodules.BaseDataModule` can be named by its short class name
(ours and TorchGeo's), configs are YAML files given with ``--config``, and the
resolved config is saved beside the logs. On top of TorchGeo's:

* ``test`` prints a table of the q / r / prior-argmax scores and, with
  ``--results PATH``, writes them as JSON;
* ``predict`` takes ``--out PATH`` (see :mod:`torchgeo_lsr.export`).

:func:`run_lightning` is how the command line and the demo start these runs.
"""

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

# Importing the task and data-module packages (TorchGeo's and ours) lets configs
# name their classes by short name.
import torchgeo.datamodules
import torchgeo.tasks
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from . import __version__
from . import datamodules as _datamodules  # noqa: F401  (our short class names)
from . import nongeo as _nongeo  # noqa: F401
from . import tasks as _tasks  # noqa: F401
from ._config_errors import ConfigError, summarize
from .checkpoints import check_checkpoint, load_checkpoint
from .export import PRODUCTS, ExportOptions, run_export
from .io import check_output_file, check_output_folder
from .results import print_test_results, write_results_json
from .tasks import LSRSegmentation

__all__ = (
    'LIGHTNING_COMMANDS',
    'ConfigError',
    'LSRArgumentParser',
    'LSRLightningCLI',
    'print_test_results',
    'run_lightning',
)

#: Subcommands run by LightningCLI.
LIGHTNING_COMMANDS = ('fit', 'validate', 'test', 'predict')

#: GDAL settings TorchGeo's CLI uses for reading many rasters.
_RASTERIO_SETTINGS = {
    'GDAL_DISABLE_READDIR_ON_OPEN': 'EMPTY_DIR',
    'GDAL_MAX_RAW_BLOCK_CACHE_SIZE': '200000000',
    'GDAL_SWATH_SIZE': '200000000',
}


def _parse_region(text: str | None) -> Any:
    """``--region``: four comma-separated numbers (a box) or a vector file.

    Args:
        text: the option's value.

    Returns:
        None, a box ``[xmin, ymin, xmax, ymax]`` or the path.
    """
    if text is None:
        return None
    parts = text.split(',')
    try:
        return [float(part) for part in parts] if len(parts) == 4 else text
    except ValueError:
        return text


def _add_test_arguments(parser: LightningArgumentParser) -> None:
    """Add ``test``'s options beside LightningCLI's.

    Args:
        parser: the ``test`` subcommand's parser.
    """
    parser.add_argument(
        '--results',
        type=str | None,
        default=None,
        help='write the q / r / prior-argmax scores to this JSON file',
    )


def _add_predict_arguments(parser: LightningArgumentParser) -> None:
    """Add ``predict``'s export options beside LightningCLI's.

    ``--block_size`` is also spelled ``--window`` (its older name); a config may
    use either key, and the saved config uses ``block_size``.

    Args:
        parser: the ``predict`` subcommand's parser.
    """
    parser.add_argument(
        '--out',
        type=str | None,
        default=None,
        help='write maps: a .tif for one imagery tile, else a folder '
        '(without it, predict returns probabilities as TorchGeo does)',
    )
    parser.add_argument(
        '--products',
        type=list[str],
        default=[],
        help=f'extra products beside the class map, from {list(PRODUCTS)}',
    )
    parser.add_argument(
        '--map_source',
        type=str,
        default='r',
        help="class map from 'r' (whole-tile implied posterior) or 'q'",
    )
    parser.add_argument(
        '--block_size', '--window', type=int, default=1024, help='block side in pixels'
    )
    parser.add_argument(
        '--probability_dtype',
        type=str,
        default='uint8',
        help="probability bands as 'uint8' (255 p) or 'float32'",
    )
    parser.add_argument(
        '--region',
        type=str | None,
        default=None,
        help='one map of a region across tiles instead of one per tile: '
        "'xmin,ymin,xmax,ymax' in the imagery CRS, or a vector file of polygons",
    )
    parser.add_argument(
        '--overwrite',
        type=bool,
        default=False,
        help='export tiles whose outputs exist (default: skip, so runs resume)',
    )


def _export_options(config: Any) -> ExportOptions:
    """The export options of ``predict --out`` from its parsed config.

    Args:
        config: the ``predict`` subcommand's config.

    Returns:
        The options.
    """
    return ExportOptions(
        products=tuple(config.get('products') or ()),
        map_source=config.get('map_source', 'r'),
        window=config.get('block_size', 1024),
        probability_dtype=config.get('probability_dtype', 'uint8'),
        overwrite=bool(config.get('overwrite', False)),
        region=_parse_region(config.get('region')),
    )


def _load_weights(model: LSRSegmentation, ckpt_path: str) -> None:
    """Load a checkpoint's weights into the task (``predict --out`` exports itself).

    Args:
        model: the task.
        ckpt_path: the checkpoint file.

    Raises:
        FileNotFoundError: If the checkpoint does not exist.
        ValueError: If it cannot be read.
    """
    # Checked (readable, finite, this model) by LSRLightningCLI._parse_ckpt_path.
    model.load_state_dict(load_checkpoint(ckpt_path)['state_dict'])


#: ``ckpt_path`` values Lightning resolves itself (no file to check).
_CKPT_ALIASES = ('last', 'best', 'hpc', 'registry')


class LSRArgumentParser(LightningArgumentParser):
    """LightningCLI's parser, raising :class:`ConfigError` on a bad config.

    jsonargparse would print the usage (70 lines) and its nested message, whose
    last line is the whole offending value; the command line prints the message
    and ends with the error's one-line summary instead. Parsers that do not exit
    on errors (jsonargparse's nested ones) keep raising its own errors.
    """

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Raise the error of a bad config.

        Args:
            message: jsonargparse's message.
            ex: the exception behind it.

        Raises:
            ConfigError: With the one-line summary of the message (parsers that
                exit on errors).
        """
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, 'subcommand_parser', None) or self
        prog = str(parser.prog).replace(' [options]', '')
        raise ConfigError(summarize(message, parser), message, prog) from ex


class LSRLightningCLI(LightningCLI):
    """TorchGeo's LightningCLI set-up with our tasks, data modules and extras."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        """Parse arguments and run the subcommand.

        Args:
            args: command-line arguments (default: ``sys.argv[1:]``).
            **kwargs: passed to :class:`~lightning.pytorch.cli.LightningCLI`.

        Raises:
            ConfigError: On a bad config (unknown key, wrong type): see
                :class:`LSRArgumentParser`.
        """
        for key, value in _RASTERIO_SETTINGS.items():
            os.environ.setdefault(key, value)
        kwargs.setdefault('seed_everything_default', 0)
        kwargs.setdefault('parser_class', LSRArgumentParser)
        kwargs.setdefault('save_config_kwargs', {'overwrite': True})
        kwargs.setdefault(
            'parser_kwargs', {'prog': 'torchgeo-lsr', 'version': __version__}
        )
        super().__init__(
            model_class=torchgeo.tasks.BaseTask,
            datamodule_class=torchgeo.datamodules.BaseDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            **kwargs,
        )

    def _prepare_subcommand_parser(
        self, klass: type, subcommand: str, **kwargs: Any
    ) -> LightningArgumentParser:
        """Add our per-subcommand options to LightningCLI's subcommand parsers.

        Args:
            klass: the trainer class.
            subcommand: the subcommand.
            **kwargs: parser options.

        Returns:
            The subcommand's parser.
        """
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == 'test':
            _add_test_arguments(parser)
        if subcommand == 'predict':
            _add_predict_arguments(parser)
        return parser

    def _parse_ckpt_path(self) -> None:
        """Check ``--ckpt_path`` before LightningCLI reads its hyper-parameters.

        LightningCLI replaces the config's model arguments with the checkpoint's,
        so a checkpoint of another class count would surface later as the
        config's mistake, and a corrupt one as a raw ``torch.load`` error.

        Raises:
            FileNotFoundError: If the checkpoint does not exist.
            ValueError: If it is unreadable, diverged, or was trained with other
                model arguments than the config gives.
        """
        subcommand = self.config.get('subcommand')
        if subcommand:
            ckpt_path = self.config[subcommand].get('ckpt_path')
            if ckpt_path and str(ckpt_path) not in _CKPT_ALIASES:
                model = self.config[subcommand].get('model')
                init_args = getattr(model, 'init_args', None)
                given = dict(vars(init_args)) if init_args is not None else None
                check_checkpoint(ckpt_path, given)
        super()._parse_ckpt_path()

    def _check_run_inputs(self, subcommand: str) -> None:
        """Check the output paths of a subcommand before it runs.

        Args:
            subcommand: ``'test'`` or ``'predict'`` (the others write no file of
                their own; ``--ckpt_path`` is checked in :meth:`_parse_ckpt_path`).

        Raises:
            ValueError: If an output cannot be written.
        """
        config = self.config_init[subcommand]
        if subcommand == 'test' and config.get('results'):
            check_output_file(config['results'], '--results')
        out = config.get('out') if subcommand == 'predict' else None
        if out:
            if Path(out).suffix.lower() in ('.tif', '.tiff'):
                check_output_file(out, '--out')
            else:
                check_output_folder(out, '--out')

    def before_test(self) -> None:
        """Check ``--results`` before testing."""
        self._check_run_inputs('test')

    def before_predict(self) -> None:
        """Check ``--out`` before predicting."""
        self._check_run_inputs('predict')

    def predict(
        self,
        model: Any,
        datamodule: Any = None,
        ckpt_path: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Export maps with ``--out``; else TorchGeo's predict.

        Args:
            model: the task.
            datamodule: the data module.
            ckpt_path: checkpoint whose weights to use.
            **kwargs: other arguments of ``Trainer.predict``.

        Returns:
            The written paths (with ``--out``), else the predictions.

        Raises:
            TypeError: With ``--out`` for a task that is not LSR segmentation.
        """
        config = self.config_init['predict']
        out = config.get('out')
        if out is None:
            return self.trainer.predict(
                model, datamodule=datamodule, ckpt_path=ckpt_path, **kwargs
            )
        if not isinstance(model, LSRSegmentation):
            raise TypeError(
                f'predict --out exports maps of LSR segmentation tasks; '
                f'{type(model).__name__} writes its own outputs: run predict without '
                '--out'
            )
        if ckpt_path is not None:
            _load_weights(model, ckpt_path)
        summary = run_export(
            self.trainer, model, datamodule, out, _export_options(config)
        )
        if self.trainer.is_global_zero:
            kept = (
                f'; kept {summary.kept} complete from an earlier run'
                if summary.kept
                else ''
            )
            where = '' if self.trainer.world_size == 1 else ' (this process)'
            print(f'Wrote maps of {summary.written} tile(s) to {out}{kept}{where}')
        return summary.paths

    def after_test(self) -> None:
        """Print the test table and write ``--results``."""
        results = getattr(self.model, 'test_results', None)
        if not results or not self.trainer.is_global_zero:
            return
        print_test_results(results)
        path = self.config_init['test'].get('results')
        if path:
            write_results_json(path, results)
            print(f'Wrote {path}')


def run_lightning(args: Sequence[str], run: bool = True) -> Any:
    """Run a LightningCLI subcommand (``fit``, ``validate``, ``test``, ``predict``).

    Args:
        args: the subcommand and its arguments, as on the command line; with
            ``run=False``, the arguments only (no subcommand).
        run: run the subcommand; else only instantiate the model, data module and
            trainer from the arguments.

    Returns:
        The LightningCLI object (its ``model``, ``datamodule`` and ``trainer``).

    Raises:
        ConfigError: On a bad config (unknown key, wrong type).
    """
    with warnings.catch_warnings():
        # Our own command line hands its arguments over on purpose.
        warnings.filterwarnings(
            'ignore', message="LightningCLI's args parameter is intended"
        )
        return LSRLightningCLI(args=list(args), run=run)

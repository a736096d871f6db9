"""LightningCLI of ``torchgeo-lsr fit|validate|test|predict``, as TorchGeo's ``main``.

Like ``torchgeo.main``, any :class:`~torchgeo.tasks.BaseTask` and
:class:`~torchgeo.datamodules.BaseDataModule` can be named by its short class name
(ours and TorchGeo's), configs are YAML files given with ``--config``, and the
resolved config is saved beside the logs. On top of TorchGeo's:

* ``test`` prints a table of the q / r / prior-argmax scores and, with
  ``--results PATH``, writes them as JSON;
* ``predict`` takes ``--out PATH`` (see :mod:`torchgeo_lsr.export`).
"""

import os
from pathlib import Path
from typing import Any

# Importing the task and data-module packages (TorchGeo's and ours) lets configs
# name their classes by short name.
import torchgeo.datamodules
import torchgeo.tasks
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from . import __version__
from . import datamodules as _datamodules  # noqa: F401  (our short class names)
from . import nongeo as _nongeo  # noqa: F401
from . import tasks as _tasks  # noqa: F401
from .export import PRODUCTS

__all__ = ('LSRLightningCLI', 'print_test_results')

#: GDAL settings TorchGeo's CLI uses for reading many rasters.
_RASTERIO_SETTINGS = {
    'GDAL_DISABLE_READDIR_ON_OPEN': 'EMPTY_DIR',
    'GDAL_MAX_RAW_BLOCK_CACHE_SIZE': '200000000',
    'GDAL_SWATH_SIZE': '200000000',
}


def _row_label(results: dict[str, Any]) -> str:
    """How a run is called in tables: the loss for LSR, else the method."""
    method = results.get('method', 'lsr')
    if method == 'lsr':
        return str(results.get('loss', 'lsr')).upper().replace('NLL_UNION', 'NLL-union')
    return str(
        {
            'hard_naive': 'hard naive',
            'prior_argmax': 'prior argmax',
            'hr': 'HR',
            'hr_aux': 'HR + aux',
        }.get(method, method)
    )


def print_test_results(results: dict[str, Any]) -> str:
    """The q / r / prior-argmax table of a test run.

    Args:
        results: :attr:`~torchgeo_lsr.tasks.LSRSegmentation.test_results`.

    Returns:
        The table (also printed).
    """
    from .metrics import format_scores_table

    label = _row_label(results)
    rows = {}
    if results.get('method') != 'prior_argmax':
        rows[f'{label} (q)'] = results['q']
        rows[f'{label} (r)'] = results['r']
    rows['prior argmax'] = results['prior_argmax']
    table = format_scores_table(rows)
    print(f'\nTest scores ({results["q"]["pixels"]:,} labelled pixels)\n{table}\n')
    return table


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


class LSRLightningCLI(LightningCLI):
    """TorchGeo's LightningCLI set-up with our tasks, data modules and extras."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        """Parse arguments and run the subcommand.

        Args:
            args: command-line arguments (default: ``sys.argv[1:]``).
            **kwargs: passed to :class:`~lightning.pytorch.cli.LightningCLI`.
        """
        for key, value in _RASTERIO_SETTINGS.items():
            os.environ.setdefault(key, value)
        kwargs.setdefault('seed_everything_default', 0)
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
            parser.add_argument(
                '--results',
                type=str | None,
                default=None,
                help='write the q / r / prior-argmax scores to this JSON file',
            )
        if subcommand == 'predict':
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
                '--window', type=int, default=1024, help='block side in pixels'
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
                "'xmin,ymin,xmax,ymax' in the imagery CRS, or a vector file of "
                'polygons',
            )
            parser.add_argument(
                '--overwrite',
                type=bool,
                default=False,
                help='export tiles whose outputs exist (default: skip, so runs resume)',
            )
        return parser

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
            ValueError: If the checkpoint is not a file (``--out`` needs a path).
            TypeError: With ``--out`` for a task that is not LSR segmentation.
        """
        config = self.config_init['predict']
        out = config.get('out')
        if out is None:
            return self.trainer.predict(
                model, datamodule=datamodule, ckpt_path=ckpt_path, **kwargs
            )
        from .export import ExportOptions, export_with_trainer
        from .tasks import LSRSegmentation

        if not isinstance(model, LSRSegmentation):
            raise TypeError(
                f'predict --out exports maps of LSR segmentation tasks; '
                f'{type(model).__name__} writes its own outputs: run predict without '
                '--out'
            )
        if ckpt_path is not None:
            if not Path(ckpt_path).is_file():
                raise ValueError(f'--ckpt_path {ckpt_path} is not a checkpoint file')
            import torch

            checkpoint = torch.load(ckpt_path, map_location='cpu', weights_only=True)
            model.load_state_dict(checkpoint['state_dict'])
        options = ExportOptions(
            products=tuple(config.get('products') or ()),
            map_source=config.get('map_source', 'r'),
            window=config.get('window', 1024),
            probability_dtype=config.get('probability_dtype', 'uint8'),
            overwrite=bool(config.get('overwrite', False)),
            region=_parse_region(config.get('region')),
        )
        written = export_with_trainer(self.trainer, model, datamodule, out, options)
        if self.trainer.is_global_zero:
            print(f'Wrote maps of {len(written)} tile(s) to {out}')
        return written

    def after_test(self) -> None:
        """Print the test table and write ``--results``."""
        results = getattr(self.model, 'test_results', None)
        if not results or not self.trainer.is_global_zero:
            return
        print_test_results(results)
        path = self.config_init['test'].get('results')
        if path:
            from .cli import results_json
            from .io import atomic_path

            with atomic_path(path) as temporary:
                Path(temporary).write_text(results_json(results) + '\n')
            print(f'Wrote {path}')

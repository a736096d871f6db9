"""The ``torchgeo-lsr`` command line.

* ``fit``, ``validate``, ``test``, ``predict``: TorchGeo-style LightningCLI runs
  driven by a config (``--config conf/<name>.yaml``, any key overridable as
  ``--model.init_args.lr 1e-3``); short class names of our tasks and data modules
  (and TorchGeo's) resolve. ``test --results PATH`` writes the q / r /
  prior-argmax scores as JSON; ``predict --out PATH`` writes maps
  (:mod:`torchgeo_lsr._lightning`).
* ``demo``: the land-cover demonstration (scene, priors, QR and hard naive, table);
* ``toy``: the toy demonstration of QR/RQ resolving coarse priors;
* ``cooccurrence``: estimate P(fine | coarse) from label rasters;
* ``prior``: write a prior GeoTIFF from coarse labels and auxiliary layers;
* ``make-scene``: write a synthetic scene (:func:`torchgeo_lsr.datasets.make_scene`);
* ``evaluate``: score class maps against label rasters (:mod:`torchgeo_lsr.evaluate`).

One module per plain subcommand (its options and its run), the table of them and
the entry point in :mod:`torchgeo_lsr.cli.command`. Options are spelled in
snake_case, as LightningCLI's are; the kebab-case spellings still work.
"""

from .._lightning import LIGHTNING_COMMANDS, run_lightning
from ..results import results_json
from .command import SUBCOMMANDS, build_parser, main
from .subcommand import Subcommand

__all__ = (
    'LIGHTNING_COMMANDS',
    'SUBCOMMANDS',
    'Subcommand',
    'build_parser',
    'main',
    'results_json',
    'run_lightning',
)

"""``python -m torchgeo_lsr``: the same as the ``torchgeo-lsr`` command."""

import sys

from .cli import main

sys.exit(main())

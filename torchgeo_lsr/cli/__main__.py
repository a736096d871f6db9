"""``python -m torchgeo_lsr.cli``: the same as the ``torchgeo-lsr`` command."""

import sys

from .command import main

sys.exit(main())

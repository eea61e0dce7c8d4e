"""``python -m wiring.cli``: the same as the ``wiring`` console script."""

import sys

from . import main

sys.exit(main())

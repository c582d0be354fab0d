"""Entry point for `python -m recsys_core`."""

import sys

from .cli import main

sys.exit(main())

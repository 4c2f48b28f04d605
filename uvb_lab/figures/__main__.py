"""`python -m uvb_lab.figures RUN_DIR` is `uvb-figures RUN_DIR`."""

import sys

from uvb_lab.figures.cli import main

sys.exit(main())

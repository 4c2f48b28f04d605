"""`python -m uvb_lab.bench` is `uvb-bench`."""

import sys

from uvb_lab.bench.benchmark import main

sys.exit(main())

import sys

from uvb_lab.report import main

sys.exit(main())

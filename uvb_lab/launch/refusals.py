"""What `uvb-train` refuses with: the command cannot run as given, and nothing was written (exit 2).

The plan (uvb_lab/launch/plan.py) finds them before the launch, each job (uvb_lab/launch/job.py) where it runs.
"""

from uvb_lab.config import ConfigError
from uvb_lab.data import DataError
from uvb_lab.run.checkpoint import CheckpointError
from uvb_lab.run.folder import RunRefused
from uvb_lab.run.lock import FolderBusy

REFUSALS = (ConfigError, DataError, CheckpointError, FolderBusy, RunRefused)

"""uvb-lab: Unnormalized Variational Bayes (Saremi), DEEN and VAE energy models, reproduced."""

__version__ = "0.1.0"

from pathlib import Path as _Path

# conf/ sits beside the package (an editable install, as the README installs it).
CONFIG_DIR = str(_Path(__file__).resolve().parent.parent / "conf")

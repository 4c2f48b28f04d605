"""uvb-lab: Unnormalized Variational Bayes (Saremi), DEEN and VAE energy models, reproduced."""

__version__ = "0.1.0"

from uvb_lab.paths import CONFIG_DIR  # uvb_lab.CONFIG_DIR, for users' code; the package's modules read uvb_lab/paths.py

__all__ = ["CONFIG_DIR", "load_run", "load_runs"]


def __getattr__(name: str):
    # uvb_lab.load_run / load_runs (uvb_lab/notebook.py), imported on first use: `import uvb_lab` (and with it
    # uvb-train --help and TAB completion) loads no torch, matplotlib or wandb.
    if name in ("load_run", "load_runs"):
        from uvb_lab import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The only place uvb-lab touches Hydra's private API (hydra._internal), each use with why there is no public one.

tests/test_hydra_internals.py fails loudly, naming what moved, when a Hydra upgrade changes any of them.

- `get_args_parser`: uvb-train reads Hydra's own command line (--help, --cfg, -m, the overrides) before it
  decides whether to plan runs or hand over to Hydra; Hydra exposes its parser only here.
- `BasicSweeper.split_arguments`: a sweep's jobs exactly as Hydra's basic sweeper expands them (the order of
  jobs, `choice`, `range`, `glob`); the plan and uvb-lab's own sweepers must agree with it job for job.
- `BASIC_SWEEPER`: the target by which a config says its sweeper is the basic one.
"""

import argparse

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser as _get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def get_args_parser() -> argparse.ArgumentParser:
    """Hydra's command-line parser (--help, --cfg, -m, --multirun, overrides, ...)."""
    return _get_args_parser()


def expand_sweeps(parser: OverridesParser, overrides: list[str]) -> list[list[str]]:
    """The jobs of these overrides as Hydra's basic sweeper makes them: one list of overrides per job, in its order."""
    (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides(overrides), None)
    return jobs

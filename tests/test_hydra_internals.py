"""Hydra's private API, used in one place (uvb_lab/hydra_internals.py): an upgrade that moves it fails here, by name."""

import importlib

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_class

from uvb_lab import hydra_internals


def test_the_private_names_uvb_lab_uses_still_exist():
    for target in (hydra_internals.BASIC_SWEEPER, hydra_internals.BASIC_LAUNCHER):
        assert get_class(target).__name__ == target.rsplit(".", 1)[1], f"Hydra moved {target}"
    assert hasattr(importlib.import_module("hydra._internal.utils"), "get_args_parser"), "Hydra moved get_args_parser"


def test_hydras_parser_reads_uvb_trains_command_line():
    args = hydra_internals.get_args_parser().parse_args(["-m", "--cfg", "job", "model=deen", "sigma=0.3,1.0"])
    assert args.multirun and args.cfg == "job" and args.overrides == ["model=deen", "sigma=0.3,1.0"]


def test_sweeps_expand_as_the_basic_sweeper_orders_them():
    jobs = hydra_internals.expand_sweeps(OverridesParser.create(), ["model=uvb,deen", "trainer.lr=1e-3", "sigma=range(1,3)"])
    assert jobs == [
        ["model=uvb", "trainer.lr=0.001", "sigma=1"], ["model=uvb", "trainer.lr=0.001", "sigma=2"],
        ["model=deen", "trainer.lr=0.001", "sigma=1"], ["model=deen", "trainer.lr=0.001", "sigma=2"],
    ]

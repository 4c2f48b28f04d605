"""uvb_lab/training/build.py, the one place a config becomes objects and plain settings: the same checks on the meta
device (what a launch plan needs before any job runs) as for a real run, and a loop that reads no config."""

import ast
from pathlib import Path

import pytest
import torch

from conftest import QUICK, TINY, compose_config
from uvb_lab.config import ConfigError
from uvb_lab.training.build import build_parts

TRAINING = Path(__file__).resolve().parent.parent / "uvb_lab" / "training"


def test_a_config_builds_on_the_meta_device_allocating_no_weights_and_drawing_nothing():
    cfg = compose_config([*QUICK, "model=uvb", *TINY["uvb"], "sigma=0.5", "logger=none"])
    generator = torch.get_rng_state()
    parts = build_parts(cfg, on_meta=True)
    assert all(p.is_meta for p in parts.model.parameters()) and parts.x_train.is_meta
    assert torch.equal(torch.get_rng_state(), generator)  # a plan's check leaves the jobs' seeding as it was
    assert parts.settings.sigma == 0.5 and parts.settings.epochs == 1 and parts.settings.schedule.max_steps == 3
    assert parts.settings.model == "uvb" and parts.settings.name == cfg.run.name


@pytest.mark.parametrize("on_meta", [False, True])
def test_a_model_its_constructor_refuses_is_a_config_error_on_either_device(on_meta):
    cfg = compose_config([*QUICK, "model=deen", "model.conv_channels=[4,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8]", "model.hidden=16", "logger=none"])
    with pytest.raises(ConfigError, match="cannot build model"):
        build_parts(cfg, on_meta=on_meta)


def test_the_training_loop_and_its_settings_import_neither_hydra_nor_omegaconf():
    for name in ("loop.py", "settings.py", "checkpointer.py", "recorder.py", "scores.py", "train_step.py", "lr_schedule.py", "nonfinite.py"):
        tree = ast.parse((TRAINING / name).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not {module.split(".")[0] for module in imported} & {"hydra", "omegaconf"}, name

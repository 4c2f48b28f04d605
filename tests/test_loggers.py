"""A tracker is a mirror of the run folder: when W&B fails, training and local files go on."""

import sys
import types

import pytest

from conftest import WANDB
from uvb_lab.trackers import WandbLogger


class BrokenWandb(types.ModuleType):
    """Stands in for the wandb module: init fails as it does with no service or bad credentials."""

    class Settings:
        def __init__(self, **kwargs):
            pass

    @staticmethod
    def init(**kwargs):
        raise ConnectionError("wandb service unreachable")


def test_a_failing_wandb_init_warns_and_logging_goes_on(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", BrokenWandb("wandb"))
    with pytest.warns(UserWarning, match="W&B logging is off for this run"):
        logger = WandbLogger(run_dir=tmp_path, name="run", config={}, **WANDB | {"mode": "online"})
    logger.log({"loss": 1.0}, step=1)  # no exception: the training loop keeps going
    logger.finish()
    assert logger.run_id is None


def test_offline_mode_writes_a_local_run_and_turns_error_reporting_off(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_ERROR_REPORTING", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    logger = WandbLogger(run_dir=tmp_path, name="uvb-mnist-sigma1.0", config={"sigma": 1.0, "model._target_": "x"}, **WANDB)
    run_id = logger.run_id
    logger.log({"train_loss": 3.0}, step=1)
    logger.finish()
    import os

    assert os.environ["WANDB_ERROR_REPORTING"] == "false"
    runs = list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="logger.mode"):
        WandbLogger(run_dir=tmp_path, name="x", config={}, **WANDB | {"mode": "cloud"})

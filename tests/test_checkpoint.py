"""Checkpoint files: every RNG restored, atomic rotation, and a damaged last.pt refused in favour of previous.pt."""

import logging
import random
import shutil

import numpy as np
import pytest
import torch

from conftest import QUICK, TINY, compose_config
from uvb_lab.config import ConfigError, check_values
from uvb_lab.run import checkpoint
from uvb_lab.train import train

RUN = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "data.n_train=64", "data.n_test=16", "trainer.batch_size=16",
       "trainer.max_steps=3", "trainer.checkpoint_every_steps=1", "trainer.keep_checkpoints=both"]


def draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    torch.save({"rng": checkpoint.rng_state()}, tmp_path / "rng.pt")
    expected = draws()
    checkpoint.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert draws() == expected  # torch, numpy and python generators all continue identically


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    assert train(compose_config(RUN), run_dir)["status"] == "finished"
    return run_dir


@pytest.fixture
def run_with_checkpoints(finished_run, tmp_path):
    """A copy of a 3-step run that checkpointed after every step: last.pt at step 3, previous.pt at step 2."""
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def test_each_save_keeps_the_previous_checkpoint(run_with_checkpoints):
    assert checkpoint.read(run_with_checkpoints / checkpoint.LAST)["step"] == 3
    assert checkpoint.read(run_with_checkpoints / checkpoint.PREVIOUS)["step"] == 2
    assert not list((run_with_checkpoints / checkpoint.FOLDER).glob(".*tmp"))  # no temporary file left behind


def test_a_truncated_last_checkpoint_is_refused_and_the_previous_one_used(run_with_checkpoints, caplog):
    last = run_with_checkpoints / checkpoint.LAST
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(checkpoint.CheckpointError, match="last.pt is not a readable checkpoint"):
        checkpoint.read(last)
    with caplog.at_level(logging.WARNING):
        assert checkpoint.load(run_with_checkpoints)["step"] == 2
    assert "continuing from" in caplog.text and "previous.pt (step 2)" in caplog.text

    # Training continues from it: a run asked for 4 steps now does steps 3 and 4 again from step 2.
    summary = train(compose_config([*RUN, "trainer.max_steps=4"]), run_with_checkpoints)
    assert (summary["status"], summary["steps_done"]) == ("finished", 4)
    assert checkpoint.load(run_with_checkpoints)["step"] == 4


def test_no_readable_checkpoint_is_a_clear_error(run_with_checkpoints):
    (run_with_checkpoints / checkpoint.LAST).write_bytes(b"not a checkpoint")
    torch.save({"model": {}}, run_with_checkpoints / checkpoint.PREVIOUS)  # readable, but not resumable
    with pytest.raises(checkpoint.CheckpointError, match=r"(?s)no usable checkpoint.*last.pt is not a readable.*previous.pt is not a checkpoint this version can continue \(missing optimizer"):
        checkpoint.load(run_with_checkpoints)
    with pytest.raises(checkpoint.CheckpointError, match="no usable checkpoint"):
        train(compose_config([*RUN, "trainer.max_steps=4"]), run_with_checkpoints)


@pytest.mark.parametrize(
    ("override", "message"),
    [("trainer.checkpoint_every_steps=0", "checkpoint_every_steps must be > 0"), ("trainer.preemption_signals=[SIGTERM,SIGNOPE]", "SIGNOPE")],
)
def test_bad_checkpoint_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        check_values(compose_config([*QUICK, override]))

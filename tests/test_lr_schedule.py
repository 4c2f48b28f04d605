"""trainer.lr_half_life_epochs: Adam's rate halves every that many epochs, smoothly per step; null keeps the paper's
constant rate. trainer.warmup_steps: the rate rises linearly over the first steps. The rate depends on the step alone,
so more epochs continue a run along the same curve."""

import math

import pytest

from conftest import TINY, compose_config, uvb_train_here, without_timings
from uvb_lab.config import ConfigError, check_values
from uvb_lab.run import files as run_files
from uvb_lab.training.lr_schedule import learning_rate

# 128 images at batch 32: 4 steps an epoch; a curve row every step, so each row carries that step's rate.
ARGS = [
    "data=synthetic", "data.n_train=128", "data.n_test=32", "logger=none", "trainer.device=cpu", "trainer.progress=false",
    "trainer.batch_size=32", "trainer.log_every_steps=1", "trainer.lr=0.001", "figures.after_training=false", *TINY["deen"], "model=deen",
]


def test_the_rate_halves_every_half_life_and_is_constant_without_one():
    assert learning_rate(0, 1e-3, 40.0) == 1e-3
    assert learning_rate(40, 1e-3, 40.0) == pytest.approx(5e-4)
    assert learning_rate(120, 1e-3, 40.0) == pytest.approx(1.25e-4)
    assert learning_rate(20, 1e-3, 40.0) == pytest.approx(1e-3 / math.sqrt(2))
    assert learning_rate(10_000, 1e-3, None) == 1e-3


def test_the_warm_up_rises_linearly_to_the_rate_and_multiplies_the_decay():
    assert learning_rate(0, 1e-3, None, 4) == pytest.approx(2.5e-4)  # the first step trains, at lr / warmup_steps
    assert learning_rate(2, 1e-3, None, 4) == pytest.approx(7.5e-4)
    assert learning_rate(3, 1e-3, None, 4) == 1e-3  # the warm-up's last step is at the full rate
    assert learning_rate(1000, 1e-3, None, 4) == 1e-3
    assert learning_rate(2, 1e-3, 40.0, 4) == pytest.approx(7.5e-4 * 0.5 ** (2 / 40))
    assert learning_rate(100, 1e-3, 40.0, 4) == learning_rate(100, 1e-3, 40.0)  # past it: the decay alone
    assert learning_rate(0, 1e-3, None, 0) == 1e-3  # 0: no warm-up


def test_a_warmed_up_run_trains_each_step_at_its_rate(tmp_path):
    done = uvb_train_here([*ARGS, "trainer.epochs=2", "trainer.warmup_steps=5", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 0, done.stderr
    rates = [row["lr"] for row in run_files.read_metrics(tmp_path / "run") if "eval" not in row]
    assert rates == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3, 1e-3, 1e-3, 1e-3])


def test_each_step_trains_at_its_rate_and_the_curve_rows_say_which(tmp_path):
    done = uvb_train_here([*ARGS, "trainer.epochs=2", "trainer.lr_half_life_epochs=1", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 0, done.stderr
    rates = [row["lr"] for row in run_files.read_metrics(tmp_path / "run") if "eval" not in row]
    # Step k (1-based) trained at 1e-3 * 2^(-(k-1)/4): halved after one epoch of 4 steps.
    assert rates == pytest.approx([1e-3 * 0.5 ** (k / 4) for k in range(8)])


def test_the_paper_default_is_a_constant_rate(tmp_path):
    done = uvb_train_here([*ARGS, "trainer.epochs=1", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert {row["lr"] for row in run_files.read_metrics(tmp_path / "run") if "eval" not in row} == {1e-3}


@pytest.mark.parametrize("schedule", ["trainer.lr_half_life_epochs=0.5", "trainer.warmup_steps=6"])
def test_more_epochs_continue_a_scheduled_run_to_the_numbers_of_one_asked_for_them_at_once(tmp_path, schedule):
    decay = [*ARGS, schedule]  # the warm-up's 6 steps span the continuation after step 4
    assert uvb_train_here([*decay, "trainer.epochs=1", f"hydra.run.dir={tmp_path / 'continued'}"], tmp_path).returncode == 0
    assert uvb_train_here([*decay, "trainer.epochs=3", f"hydra.run.dir={tmp_path / 'continued'}"], tmp_path).returncode == 0
    assert uvb_train_here([*decay, "trainer.epochs=3", f"hydra.run.dir={tmp_path / 'at_once'}"], tmp_path).returncode == 0
    rows = {name: without_timings(run_files.read_metrics(tmp_path / name))
            for name in ("continued", "at_once")}
    assert rows["continued"] == rows["at_once"] and len(rows["at_once"]) == 12 + 3


def test_a_half_life_is_part_of_the_run_s_identity(tmp_path):
    constant = tmp_path / "run"
    assert uvb_train_here([*ARGS, "trainer.epochs=1", f"hydra.run.dir={constant}"], tmp_path).returncode == 0
    refused = uvb_train_here([*ARGS, "trainer.epochs=2", "trainer.lr_half_life_epochs=1", f"hydra.run.dir={constant}"], tmp_path)
    assert refused.returncode == 2 and "lr_half_life_epochs" in refused.stderr, refused.stderr


@pytest.mark.parametrize("value", [0, -1])
def test_a_half_life_that_is_not_positive_is_refused(value):
    with pytest.raises(ConfigError, match="lr_half_life_epochs"):
        check_values(compose_config([f"trainer.lr_half_life_epochs={value}"]))


def test_a_negative_warm_up_is_refused():
    with pytest.raises(ConfigError, match="trainer.warmup_steps must be >= 0, got -1"):
        check_values(compose_config(["trainer.warmup_steps=-1"]))

"""Numerical faults and a tracker that goes away: the run stops cleanly or carries on, its files complete."""

import csv
import math
import signal
import sys
import types

import pytest
import torch

import uvb_lab.loss
from conftest import QUICK, TINY, compose_config
from disk_faults import torch_save_that_fills_the_disk
from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.preemption import Preemption
from uvb_lab.train import train

# 4 steps an epoch (64 images at batch 16), 6 in all.
RUN = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "data.n_train=64", "data.n_test=16", "trainer.batch_size=16",
       "trainer.epochs=2", "trainer.max_steps=6", "trainer.checkpoint_every_steps=2"]


@pytest.fixture
def nan_at_step_4(monkeypatch):
    """The training loss of the 4th training step is NaN (evaluation losses are untouched)."""
    calls = []

    class NaNAtStep4(uvb_lab.loss.DenoisingLoss):
        def __call__(self, model, x, y):
            value = super().__call__(model, x, y)
            if model.training:
                calls.append(1)
                if len(calls) == 4:
                    return value * math.nan
            return value

    monkeypatch.setattr(uvb_lab.loss, "DenoisingLoss", NaNAtStep4)  # Hydra looks the _target_ up when it builds


def test_a_nonfinite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, nan_at_step_4):
    with pytest.raises(FloatingPointError, match="not finite at step 4"):
        train(compose_config(RUN), tmp_path)
    assert checkpoint.load(tmp_path)["step"] == 2  # the step-4 checkpoint was not written: the model was NaN
    assert all(torch.isfinite(p).all() for p in checkpoint.load(tmp_path)["model"].values())
    assert run_summary.read(tmp_path)["status"] == "failed"


def test_a_diverged_run_stops_at_the_next_curve_row_not_at_the_epochs_end(tmp_path, nan_at_step_4):
    # 10 steps in the epoch, no checkpoint or evaluation before its end: the curve row at step 4 is where it stops.
    overrides = [*RUN, "data.n_train=160", "trainer.epochs=1", "trainer.max_steps=null", "trainer.checkpoint_every_steps=100",
                 "trainer.log_every_steps=2"]
    with pytest.raises(FloatingPointError, match="not finite at step 4; stopped at step 4"):
        train(compose_config(overrides), tmp_path)
    assert not checkpoint.exists(tmp_path)


def test_skip_nonfinite_skips_the_step_and_counts_it(tmp_path, nan_at_step_4):
    summary = train(compose_config([*RUN, "trainer.skip_nonfinite=true"]), tmp_path)
    assert (summary["status"], summary["steps_done"], summary["nonfinite_steps_skipped"]) == ("finished", 6, 1)
    assert math.isfinite(summary["train_loss"]) and math.isfinite(summary["test_loss"])


class FakeRun:
    """A W&B run whose service dies after the first log call."""

    id = "run-abc"

    def __init__(self):
        self.logged = 0
        self.summary = {}

    def log(self, metrics, step):
        self.logged += 1
        if self.logged > 1:
            raise ConnectionResetError("wandb service gone")

    def finish(self, exit_code):
        raise BrokenPipeError("wandb service gone")


@pytest.fixture
def fake_wandb(monkeypatch):
    wandb = types.ModuleType("wandb")
    wandb.inits = []
    wandb.Settings = dict

    def init(**kwargs):
        wandb.inits.append(kwargs)
        if wandb.broken_init:
            raise TimeoutError("wandb.init timed out")
        return FakeRun()

    wandb.init, wandb.broken_init = init, False
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    return wandb


def test_a_tracker_that_fails_mid_run_does_not_stop_training_and_the_run_continues_under_its_id(tmp_path, fake_wandb):
    run = [*QUICK, *TINY["deen"], "model=deen", "logger=wandb", "trainer.max_steps=null", "trainer.epochs=2",
           "data.n_train=64", "data.n_test=16", "trainer.batch_size=32"]
    with pytest.warns(UserWarning, match="W&B logging is off.*wandb service gone"):
        summary = train(compose_config(run), tmp_path)
    assert (summary["status"], summary["epochs_done"]) == ("finished", 2)
    assert [row["epoch"] for row in run_files.evaluations(run_files.read_metrics(tmp_path), "epoch_end")] == [1, 2]  # local files complete
    assert checkpoint.load(tmp_path)["wandb_run_id"] == "run-abc"

    train(compose_config([*run, "trainer.epochs=3"]), tmp_path)  # continue the same run for one more epoch
    assert (fake_wandb.inits[-1]["id"], fake_wandb.inits[-1]["resume"]) == ("run-abc", "allow")
    assert [row["epoch"] for row in run_files.evaluations(run_files.read_metrics(tmp_path), "epoch_end")] == [1, 2, 3]

    fake_wandb.broken_init = True
    (tmp_path / "again").mkdir()
    with pytest.warns(UserWarning, match="wandb.init failed"):
        summary = train(compose_config(run), tmp_path / "again")
    assert summary["status"] == "finished"


def test_preemption_records_the_signal_and_hands_it_over_to_the_previous_handler():
    received = []
    original = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        preemption = Preemption(["SIGUSR1"]).install()
        signal.raise_signal(signal.SIGUSR1)
        assert preemption.requested and received == []  # recorded, nothing else done yet
        preemption.uninstall()
        preemption.hand_over()  # what submitit's requeue handler gets, once our checkpoint is on disk
        assert received == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, original)


def test_the_submitit_launcher_can_requeue_a_hydra_job():
    launcher = pytest.importorskip("hydra_plugins.hydra_submitit_launcher.submitit_launcher")
    submitit = pytest.importorskip("submitit")
    job = launcher.BaseSubmititLauncher()
    resubmission = job.checkpoint(["sigma=1.0"], "hydra.sweep.dir", 0, "id", {})
    assert isinstance(resubmission, submitit.helpers.DelayedSubmission) and resubmission.function is job


# -- A full disk ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reported_as", ["oserror", "torch"])
def test_a_disk_that_fills_mid_checkpoint_is_one_line_leaves_no_temporaries_and_the_same_command_continues_exactly(
        tmp_path, capsys, monkeypatch, reported_as):
    from conftest import run_uvb_train_in_process

    args = [*RUN, "trainer.max_steps=null", "trainer.checkpoint_every_steps=null"]  # a checkpoint at each of 2 epoch ends
    code, err = run_uvb_train_in_process([*args, f"hydra.run.dir={tmp_path / 'whole'}"], capsys)
    assert code == 0, err
    monkeypatch.setattr(torch, "save", torch_save_that_fills_the_disk(2, reported_as))
    run_dir = tmp_path / "full"
    code, err = run_uvb_train_in_process([*args, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"cannot write {run_dir / checkpoint.LAST}: No space left on device" in err and "the last checkpoint is intact" in err
    assert sorted(p.name for p in run_dir.rglob(".*.tmp")) == []
    assert checkpoint.load(run_dir)["step"] == 4  # the first epoch's checkpoint, whole
    # The run's record is put back to that checkpoint: no metrics row past it, its summary as it was then.
    assert max(row["step"] for row in run_files.read_metrics(run_dir)) == 4
    assert (run_summary.read(run_dir)["status"], run_summary.read(run_dir)["steps_done"]) == ("failed", 4)
    monkeypatch.undo()  # space is freed
    code, err = run_uvb_train_in_process([*args, f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, err
    evaluations = [run_files.evaluations(run_files.read_metrics(d)) for d in (tmp_path / "whole", run_dir)]
    assert [row["test_loss"] for row in evaluations[0]] == [row["test_loss"] for row in evaluations[1]]
    assert run_summary.read(run_dir)["steps_done"] == 8


def test_a_run_that_ends_with_a_nonfinite_test_loss_is_unscored_exits_1_and_the_report_shows_no_number(tmp_path, monkeypatch, capsys):
    from conftest import run_uvb_train_in_process
    from uvb_lab.report import main as report

    class NaNWhenScored(uvb_lab.loss.DenoisingLoss):
        def __call__(self, model, x, y):
            value = super().__call__(model, x, y)
            return value if model.training else value * math.nan

    monkeypatch.setattr(uvb_lab.loss, "DenoisingLoss", NaNWhenScored)
    run_dir = tmp_path / "runs" / "run"
    args = [*RUN, "trainer.skip_nonfinite=true", f"hydra.run.dir={run_dir}"]
    stdout: list[str] = []
    code, err = run_uvb_train_in_process(args, capsys, stdout)
    assert code == 1 and err.count("\n") == 1 and "is unscored: its last test or validation loss is not finite" in err, err
    assert "its test_loss is not finite: the model it ended with is not usable, and the run is recorded as unscored" in stdout[0]
    summary = run_summary.read(run_dir)
    assert (summary["status"], summary["test_loss"], summary["steps_done"]) == ("unscored", None, 6)
    # The same command again: trained as far as asked, so skipped, and still a failure to report.
    code, err = run_uvb_train_in_process(args, capsys)
    assert code == 1 and "unscored" in err, err
    assert run_summary.read(run_dir)["steps_done"] == 6
    assert report([str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    (row,) = csv.DictReader((tmp_path / "report" / "runs.csv").open())
    assert (row["status"], row["test_loss"]) == ("unscored", "")


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only mount (tmpfs, ro), as a compute node's shared folders can be; skipped where mounting is not allowed."""
    import shutil
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "none", str(folder)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only folder here")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_run_folder_on_a_read_only_mount_is_one_line_and_exit_2(read_only_folder, capsys):
    from conftest import run_uvb_train_in_process

    code, err = run_uvb_train_in_process([*RUN, f"hydra.run.dir={read_only_folder / 'run'}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Read-only file system" in err and "cannot write in" in err and "Traceback" not in err, err

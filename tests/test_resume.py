"""Runs that survive: preempted with SIGTERM, killed with SIGKILL at a random step, and continued, a run ends
with the same numbers as one that was never stopped; a relaunched sweep skips its finished runs.

A global optimizer-step hook sends the signal right after step K, an arbitrary point of the loop: no
checkpoint or evaluation is aligned with it. SIGKILL ends a subprocess; the other signals reach the run in
this process, through the same handlers as in a command of its own.
"""

import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from conftest import TINY, assert_same_run, run_python, uvb_train_here
from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.preemption import EXIT_CODE, INTERRUPTED_EXIT_CODE

# 128 images at batch 32: 4 steps an epoch, 12 in all; a checkpoint every 2 steps besides the epoch ends.
STEPS = 12
ARGS = [
    "data=synthetic", "data.n_train=128", "data.n_test=32", "logger=none", "trainer.device=cpu", "trainer.progress=false",
    "trainer.epochs=3", "trainer.batch_size=32", "trainer.checkpoint_every_steps=2", "trainer.log_every_steps=3",
    "figures.after_training=false", *TINY["uvb"],
]

KILL_AT_STEP = """
import os, signal, sys
from torch.optim.optimizer import register_optimizer_step_post_hook
from uvb_lab.launch import main
at, steps = int(os.environ["KILL_AT_STEP"]), 0
def after_step(optimizer, args, kwargs):
    global steps
    steps += 1
    if steps == at:
        os.kill(os.getpid(), signal.SIGKILL)
register_optimizer_step_post_hook(after_step)
main()
"""


def killed_at(args: list[str], cwd: Path, step: int) -> subprocess.CompletedProcess:
    """uvb-train ARGS in a subprocess that SIGKILLs itself right after optimizer step `step`."""
    return run_python(["-c", KILL_AT_STEP, *args], cwd, env={"KILL_AT_STEP": str(step)})


def uvb_train(args: list[str], cwd: Path, signal_at: tuple[str, int] | None = None, times: int = 1) -> subprocess.CompletedProcess:
    """uvb-train ARGS (in this process); with signal_at=(name, K), the process gets that signal `times` times
    right after optimizer step K, an arbitrary point of the loop."""
    if signal_at is None:
        return uvb_train_here(args, cwd)
    sig, at, steps = signal.Signals[signal_at[0]], signal_at[1], []

    def after_step(optimizer, *_):
        steps.append(1)
        if len(steps) == at:
            for _ in range(times):
                os.kill(os.getpid(), sig)

    hook = register_optimizer_step_post_hook(after_step)
    try:
        return uvb_train_here(args, cwd)
    finally:
        hook.remove()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[list[str], Path]:
    """A two-run sweep into a fixed folder, launched once: (its command, its folder)."""
    folder = tmp_path_factory.mktemp("sweep")
    command = ["-m", "sigma=1.0,0.5", *ARGS, f"hydra.sweep.dir={folder}"]
    done = uvb_train(command, cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return command, folder


@pytest.fixture
def uninterrupted(sweep) -> Path:
    """The sweep's sigma=1.0 run (the default sigma): the reference a stopped and continued run must match."""
    (run_dir,) = sweep[1].glob("*-sigma1.0-*")
    return run_dir


def test_a_run_preempted_then_killed_at_a_random_step_ends_as_if_never_stopped(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    # SIGTERM after step 3, mid-epoch 1: the step ends, a checkpoint is written, the process exits with EXIT_CODE.
    preempted = uvb_train([*ARGS, f"hydra.run.dir={run_dir}"], cwd=tmp_path, signal_at=("SIGTERM", 3))
    assert preempted.returncode == EXIT_CODE, preempted.stdout + preempted.stderr
    assert "SIGTERM received" in preempted.stdout
    assert run_summary.read(run_dir)["status"] == "preempted"
    assert [(row["step"], row["eval"]) for row in run_files.evaluations(run_files.read_metrics(run_dir))] == [(3, "preempted")]  # evaluated as it stopped
    state = checkpoint.load(run_dir)
    assert (state["step"], state["epochs_done"], state["batches_done"]) == (3, 0, 3)
    assert state["train_stream"]["state"].dtype == torch.uint8  # the data order and noise's generator, beside the model's

    # Continued by folder name from a fresh command (whose new Hydra folder is not left behind), then
    # SIGKILLed right after a random later step, where no checkpoint was written for that moment.
    # From step 5 on: the hook fires inside step K, before that step's own checkpoint, so a kill right after
    # step 4 would leave only the preemption's step-3 checkpoint (a flaky bound before, 1 run in 8).
    kill_at = random.randint(5, STEPS - 1)
    note = f"killed after step {kill_at}"
    killed = killed_at([*ARGS, f"trainer.resume={run_dir}"], cwd=tmp_path, step=kill_at - 3)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert 3 < checkpoint.load(run_dir)["step"] <= kill_at, note
    assert not list((tmp_path / "outputs").rglob("*.yaml")), "a stray Hydra folder was left in outputs/"
    assert len(list((run_dir / ".hydra" / "resumes").glob("*/config.yaml"))) == 1

    # The first command again: trainer.resume=auto finds the checkpoint in its folder.
    resumed = uvb_train([*ARGS, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout, note
    assert_same_run(run_dir, uninterrupted, note)  # the summary's train_stream_fingerprint too
    assert isinstance(run_summary.read(run_dir)["train_stream_fingerprint"], str)
    weights, expected = checkpoint.weights(checkpoint.load(run_dir)), checkpoint.weights(checkpoint.load(uninterrupted))
    assert all(torch.equal(weights[key], expected[key]) for key in expected), note


def test_relaunched_sweep_skips_its_finished_runs(sweep):
    command, folder = sweep
    summaries = sorted(folder.glob("*/summary.json"))
    assert len(summaries) == 2
    before = {path: (path.stat().st_mtime_ns, path.read_text()) for path in summaries}

    again = uvb_train(command, cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing to do") == 2
    assert {path: (path.stat().st_mtime_ns, path.read_text()) for path in summaries} == before
    assert all(json.loads(path.read_text())["status"] == "finished" for path in summaries)


def test_a_preemption_on_the_last_step_of_a_pass_still_records_that_pass(tmp_path):
    # max_steps=6 ends the run mid-epoch 2; SIGTERM arrives right after step 6, the pass's last step.
    capped = [*ARGS, "trainer.max_steps=6"]
    reference = tmp_path / "reference"
    assert uvb_train([*capped, f"hydra.run.dir={reference}"], cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "run"
    preempted = uvb_train([*capped, f"hydra.run.dir={run_dir}"], cwd=tmp_path, signal_at=("SIGTERM", 6))
    assert preempted.returncode == EXIT_CODE, preempted.stdout + preempted.stderr
    assert checkpoint.load(run_dir)["step"] == 6
    resumed = uvb_train([*capped, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_same_run(run_dir, reference)


def test_a_finished_run_continued_with_more_epochs_reports_the_new_target(tmp_path):
    run_dir = tmp_path / "run"
    one = [arg for arg in ARGS if not arg.startswith("trainer.epochs")]
    assert uvb_train([*one, "trainer.epochs=1", f"hydra.run.dir={run_dir}"], cwd=tmp_path).returncode == 0
    more = uvb_train([*one, "trainer.epochs=2", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert more.returncode == 0, more.stdout + more.stderr
    summary = run_summary.read(run_dir)
    assert (summary["status"], summary["epochs"], summary["epochs_done"], summary["steps_done"]) == ("finished", 2, 2, 8)
    assert [row["epoch"] for row in run_files.evaluations(run_files.read_metrics(run_dir))] == [1, 2]


def test_ctrl_c_saves_the_step_and_the_same_command_continues_exactly(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    interrupted = uvb_train([*ARGS, f"hydra.run.dir={run_dir}"], cwd=tmp_path, signal_at=("SIGINT", 5))
    assert interrupted.returncode == INTERRUPTED_EXIT_CODE, interrupted.stdout + interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    assert [line for line in interrupted.stderr.splitlines() if "interrupted" in line] == [
        "uvb-train: interrupted: finishing this step and saving a checkpoint (Ctrl-C again to stop at once)"
    ]
    assert run_summary.read(run_dir)["status"] == "interrupted"
    assert checkpoint.load(run_dir)["step"] == 5  # nothing lost: the step it was in is saved

    resumed = uvb_train([*ARGS, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_same_run(run_dir, uninterrupted)


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    run_dir = tmp_path / "run"
    stopped = uvb_train([*ARGS, f"hydra.run.dir={run_dir}"], cwd=tmp_path, signal_at=("SIGINT", 5), times=2)
    assert stopped.returncode == INTERRUPTED_EXIT_CODE, stopped.stdout + stopped.stderr
    assert checkpoint.load(run_dir)["step"] == 4  # the last regular checkpoint; step 5 was not saved
    assert run_summary.read(run_dir)["status"] == "interrupted"


def test_a_stop_signal_to_a_sweep_in_one_process_stops_the_sweep_after_saving_its_job(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", *ARGS, "trainer.seed=0,1", f"hydra.sweep.dir={sweep}"]
    stopped = uvb_train(args, cwd=tmp_path, signal_at=("SIGTERM", 3))
    assert stopped.returncode == EXIT_CODE, stopped.stdout + stopped.stderr
    folders = [path for path in sweep.iterdir() if path.is_dir()]
    assert len(folders) == 1  # the second job never started
    assert run_summary.read(folders[0])["status"] == "preempted" and checkpoint.load(folders[0])["step"] == 3
    assert "trained 0, continued 0, found 0 finished, failed 0, 1 stopped, 1 not started" in stopped.stderr

    # The same command continues the stopped job and runs the other.
    assert uvb_train(args, cwd=tmp_path).returncode == 0
    assert sorted(run_summary.read(path)["status"] for path in sweep.iterdir() if path.is_dir()) == ["finished"] * 2

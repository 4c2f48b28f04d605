"""The cluster path on a real SLURM: `uvb-train -m ... hydra/launcher=slurm_cpu` through submitit.

Needs a running cluster; a plain `pytest` deselects these tests (pyproject.toml: -m 'not slurm'). On one machine:

    scripts/slurm_local.sh start && pytest -m slurm     # then: scripts/slurm_local.sh stop

Every job is a real SLURM job: sbatch, the job's own interpreter (this venv's python, as submitit pickles the
job for it), SIGUSR2 ahead of the time limit, `scontrol requeue`. The checkout under test reaches the jobs
through PYTHONPATH, which sbatch exports into them with the rest of this environment. The jobs write into
pytest's tmp_path, which every node must see: on a cluster of several nodes run with --basetemp on a shared
filesystem. Timings of each test on one machine are in docs/cluster.md.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import REPO, TINY, without_timings
from uvb_lab.run import files as run_files

pytestmark = pytest.mark.slurm

# The command every test runs, `python -m TRAIN_MODULE ARGS`: the one line to change if the entry point moves.
TRAIN_MODULE = "uvb_lab.launch"

# Every test job is named with this prefix, so that a test cleans up after itself and nothing else.
JOB_PREFIX = "uvbt-"
# The CPU preset with one core and 1 GB per job: two jobs run side by side on a 2-core node.
SLURM = ["hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
QUIET = ["logger=none", "figures.after_training=false", "trainer.progress=false"]
# A run long enough to be caught running, even by a 1-minute time limit: 2048 generated images at batch 16,
# 128 steps an epoch, 24 epochs (3072 steps; 54 s for the whole local launch here, one thread), a checkpoint
# every 32 steps besides the epoch ends.
LONG = [
    "model=uvb", "sigma=1.0", "data=synthetic", "data.n_train=2048", "data.n_test=64", "trainer.batch_size=16",
    "trainer.eval_batch_size=64", "trainer.epochs=24", "trainer.checkpoint_every_steps=32", *TINY["uvb"], *QUIET,
]
LONG_STEPS = 3072
EPOCH_LINE = re.compile(r"epoch \d+/\d+\s+step \d+")  # what uvb-train logs after each epoch it trained


# -- The cluster -------------------------------------------------------------------------------------------------


def _cluster_state() -> str | None:
    """None when a SLURM cluster answers here with an idle or busy node, else why not."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH: no SLURM here (scripts/slurm_local.sh start makes a one-node cluster)"
    try:
        sinfo = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"sinfo did not answer ({error}): start the cluster with scripts/slurm_local.sh start"
    if sinfo.returncode != 0:
        return f"sinfo failed: {sinfo.stderr.strip()}: start the cluster with scripts/slurm_local.sh start"
    states = set(sinfo.stdout.split())
    if not states & {"idle", "mix", "alloc"}:
        return f"no SLURM node can take jobs (node states: {sorted(states) or 'none'}); see scripts/slurm_local.sh status"
    return None


@pytest.fixture(scope="module", autouse=True)
def cluster():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    if (reason := _cluster_state()) is not None:
        pytest.skip(reason)


LAUNCHES: list[subprocess.Popen] = []  # every launch a test started, stopped at its end if still running


@pytest.fixture(autouse=True)
def _cancel_leftover_jobs():
    """A failed test leaves no launch and no job of its own running or queued."""
    yield
    while LAUNCHES:
        process = LAUNCHES.pop()
        if process.poll() is None:
            process.kill()
            process.wait()
    jobs = [job_id for job_id, name in queue() if name.startswith(JOB_PREFIX)]
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)


def queue() -> list[tuple[str, str]]:
    """(job id, job name) of every job SLURM holds, pending or running."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%j"], capture_output=True, text=True, timeout=30).stdout
    return [tuple(line.split("|", 1)) for line in out.splitlines() if "|" in line]


# -- Launching ---------------------------------------------------------------------------------------------------


def environment() -> dict[str, str]:
    """What the launch and, through sbatch's --export=ALL default, every job sees."""
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": python_path,  # the checkout under test, in the launch and in the jobs
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",  # the local reference runs; the jobs get theirs from the preset (cpus_per_task)
    }


def launch(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """`uvb-train ARGS`, started and not waited for; its output goes to LOG (submitit polls loudly)."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", TRAIN_MODULE, *args], cwd=cwd, env=environment(),
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
    LAUNCHES.append(process)
    return process


def finish(process: subprocess.Popen, log: Path, timeout: float) -> int:
    """The launch's exit code; a launch still waiting after TIMEOUT seconds is stopped and the test fails."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # its jobs are cancelled at the end of the test
        process.wait()
        # A job that ends without a result (sys.exit inside it, a kill) leaves submitit waiting for one: without
        # SLURM accounting (sacct) it never learns that the job is gone.
        pytest.fail(f"the launch was still waiting after {timeout:.0f} s (a job that ended without a submitit "
                    f"result, e.g. by sys.exit?); its last output:\n{tail(log)}")


def run(args: list[str], cwd: Path, log: Path, timeout: float = 600) -> int:
    return finish(launch(args, cwd, log), log, timeout)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path} not written)"


# -- Reading what the runs and jobs left -------------------------------------------------------------------------


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def job_logs(sweep_dir: Path) -> dict[str, str]:
    """Each SLURM job's submitit log (its stdout and stderr, every run of a requeued job), by job id."""
    logs = {f.name: sorted(f.glob("*_log.*")) for f in (sweep_dir / ".submitit").iterdir() if f.is_dir()}
    return {job_id: "".join(p.read_text(errors="replace") for p in files) for job_id, files in logs.items() if files}


def submitit_lines(job_log: str, message: str) -> int:
    """How many times submitit logged MESSAGE at INFO (written once, to the job's stdout; runs of a job add up)."""
    return len(re.findall(rf"^submitit INFO \(.*\) - {message}", job_log, re.MULTILINE))


STAMP = re.compile(r"submitit \w+ \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+\) - Starting with")


def job_span(sweep_dir: Path, job_id: str) -> tuple[float, float]:
    """(start, end) of a job, seconds since the epoch: submitit's first log line, the logs' last write."""
    folder = sweep_dir / ".submitit" / job_id
    starts = STAMP.findall("".join(p.read_text(errors="replace") for p in folder.glob("*_log.*")))
    start = datetime.strptime(starts[0], "%Y-%m-%d %H:%M:%S").timestamp() if starts else float("inf")
    end = max((p.stat().st_mtime for p in folder.glob("*_log.*")), default=float("-inf"))
    return start, end


# -- The tests ---------------------------------------------------------------------------------------------------


def test_smoke_table_runs_as_slurm_jobs_on_the_cpu(tmp_path):
    """(a) The smoke table, one SLURM job per run, with the CPU preset: every run finishes, on the CPU."""
    sweep_dir = tmp_path / "smoke"
    args = ["-m", "+experiment=smoke", f"hydra.sweep.dir={sweep_dir}", *SLURM, f"hydra.launcher.name={JOB_PREFIX}smoke", *QUIET]
    code = run(args, tmp_path, tmp_path / "launch.log")
    assert code == 0, tail(tmp_path / "launch.log")

    runs = {p.parent.name: summary(p.parent) for p in sweep_dir.glob("*/summary.json")}
    assert set(runs) == {f"{m}-synthetic-sigma{s}" for m in ("uvb", "deen") for s in ("0.5", "1.0")}
    assert {s["status"] for s in runs.values()} == {"finished"}
    assert all(s["epochs_done"] == s["epochs"] == 2 for s in runs.values())
    # trainer.device=auto: no GPU asked for, none visible (the preset hides any), so the CPU.
    assert {s["device"] for s in runs.values()} == {"cpu"}

    # Four SLURM jobs (one array), each started by SLURM's srun, asked for one core and no GPU.
    logs = job_logs(sweep_dir)
    assert len(logs) == 4 and all("Starting with JobEnvironment" in text for text in logs.values()), list(logs)
    (script,) = sweep_dir.glob(".submitit/*/*_submission.sh")  # the sbatch script, kept beside its jobs
    sbatch = script.read_text()
    assert "#SBATCH --cpus-per-task=1" in sbatch and "gpu" not in sbatch.lower(), sbatch
    assert "export OMP_NUM_THREADS=" in sbatch and "export CUDA_VISIBLE_DEVICES=" in sbatch, sbatch


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The LONG run on this machine, never stopped, one thread (as the jobs: cpus_per_task=1)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    sweep_dir = folder / "sweep"
    code = run(["-m", *LONG, f"hydra.sweep.dir={sweep_dir}"], folder, folder / "launch.log")
    assert code == 0, tail(folder / "launch.log")
    (run_dir,) = sweep_dir.glob("uvb-synthetic-sigma1.0*")  # its name then lists the LONG settings, or their hash
    assert summary(run_dir)["steps_done"] == LONG_STEPS
    return run_dir


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """Every number but the timings equal, to the last digit, summary and every metrics row."""
    assert summary(run_dir)["status"] == "finished"
    assert without_timings([summary(run_dir)]) == without_timings([summary(reference)])
    assert without_timings(run_files.without_stops(metrics(run_dir))) == without_timings(metrics(reference))


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the launch ended (code {process.returncode}) before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s:\n{tail(log)}")
        time.sleep(0.2)


def test_a_job_preempted_with_sigusr2_is_requeued_and_ends_as_if_never_stopped(tmp_path, uninterrupted):
    """(b) `scancel --signal=USR2`: checkpoint, requeued by submitit, continued in its folder, same numbers."""
    sweep_dir, log, name = tmp_path / "sweep", tmp_path / "launch.log", f"{JOB_PREFIX}preempt"
    process = launch(["-m", *LONG, f"hydra.sweep.dir={sweep_dir}", *SLURM, f"hydra.launcher.name={name}"], tmp_path, log)
    # Caught running: its first epoch is recorded, 15 of 16 to go.
    metrics_file = sweep_dir / uninterrupted.name / "metrics.jsonl"
    wait_for(lambda: metrics_file.exists() and metrics_file.read_text().strip(), 300, "first epoch", process, log)
    (job_id,) = [job_id for job_id, job_name in queue() if job_name == name]
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)
    assert finish(process, log, 600) == 0, tail(log)

    run_dir = sweep_dir / uninterrupted.name
    train_log, job_log = (run_dir / "train.log").read_text(), job_logs(sweep_dir)[job_id]
    assert "SIGUSR2 received" in train_log, train_log[-3000:]
    stopped_at = int(re.search(r"preempted at step (\d+)", train_log).group(1))
    assert 0 < stopped_at < LONG_STEPS
    assert f"resuming {run_dir} at step {stopped_at}" in train_log  # the requeued job, in the same folder
    assert "this job is preempted" in job_log and f"Requeued job {job_id}" in job_log, job_log[-3000:]
    assert submitit_lines(job_log, "Starting with JobEnvironment") == 2  # one SLURM job, run twice
    assert_same_run(run_dir, uninterrupted)


def test_a_job_past_its_time_limit_is_requeued_and_continues(tmp_path, uninterrupted):
    """(c) timeout_min=1: SIGUSR2 ahead of the limit, checkpoint, requeue, again until the run is done.

    slurmctld checks time limits every 30 s and sends the warning at the first check within signal_delay_s + 30 s
    of the limit: with signal_delay_s=15 it comes 15 to 45 s after the start, never before the job is up. Each
    run of the job then trains for at most about 40 s, the LONG run needs about 80 s: one timeout at least. (With
    signal_delay_s=30 the warning could come while the job is still unpickling, before submitit listens for it:
    SIGUSR2 then kills the job, which is not requeued.)
    """
    sweep_dir, log, name = tmp_path / "sweep", tmp_path / "launch.log", f"{JOB_PREFIX}timeout"
    limits = ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=15", "hydra.launcher.max_num_timeout=10"]
    code = run(["-m", *LONG, f"hydra.sweep.dir={sweep_dir}", *SLURM, *limits, f"hydra.launcher.name={name}"],
               tmp_path, log, timeout=600)
    assert code == 0, tail(log)

    run_dir = sweep_dir / uninterrupted.name
    ((job_id, job_log),) = job_logs(sweep_dir).items()
    train_log = (run_dir / "train.log").read_text()
    requeues = submitit_lines(job_log, f"Requeued job {job_id}")
    assert requeues >= 1 and "this job is timed-out" in job_log and "this job is preempted" not in job_log, job_log[-3000:]
    assert submitit_lines(job_log, "Starting with JobEnvironment") == requeues + 1, job_log[-3000:]
    assert "SIGUSR2 received" in train_log and "resuming" in train_log, train_log[-3000:]
    assert_same_run(run_dir, uninterrupted)


def test_one_table_launched_twice_at_once_trains_each_run_once(tmp_path):
    """(d) Two launches of the smoke table into the same folders at the same time.

    With array_parallelism=1 each launch runs its jobs one after another and the two launches go through the
    table side by side: the two jobs of one run start together. Expected (run-folder lock, relaunch skips
    finished runs): every run finished with one metrics row per epoch, trained by exactly one of its two jobs;
    the other job was refused (the folder is locked) or skipped the run (already finished).
    """
    sweep_dir = tmp_path / "smoke"
    args = ["-m", "+experiment=smoke", f"hydra.sweep.dir={sweep_dir}", *SLURM, "hydra.launcher.array_parallelism=1",
            f"hydra.launcher.name={JOB_PREFIX}twice", *QUIET]
    logs = [tmp_path / "launch-a.log", tmp_path / "launch-b.log"]
    processes = [launch(args, tmp_path, log) for log in logs]
    codes = [finish(process, log, 600) for process, log in zip(processes, logs)]
    note = f"launch exit codes {codes}; launch A:\n{tail(logs[0], 1500)}\nlaunch B:\n{tail(logs[1], 1500)}"

    runs = sorted(p.parent for p in sweep_dir.glob("*/summary.json"))
    assert [r.name for r in runs] == sorted(f"{m}-synthetic-sigma{s}" for m in ("uvb", "deen") for s in ("0.5", "1.0")), note
    for run_dir in runs:  # nothing lost, nothing written twice
        assert summary(run_dir)["status"] == "finished", (run_dir.name, note)
        assert [row["epoch"] for row in run_files.evaluations(metrics(run_dir))] == [1, 2], (run_dir.name, metrics(run_dir))

    # Two arrays of four jobs; task i of either array is the table's run i.
    jobs = job_logs(sweep_dir)
    arrays = sorted({job_id.split("_")[0] for job_id in jobs}, key=int)
    assert len(arrays) == 2 and len(jobs) == 8, sorted(jobs)
    overlapped = 0
    for i in range(4):
        pair = [f"{array}_{i}" for array in arrays]
        trained = [job_id for job_id in pair if EPOCH_LINE.search(jobs[job_id])]
        assert len(trained) == 1, f"run {i}: jobs {trained} of {pair} trained it\n" + "\n".join(jobs[j][-1500:] for j in pair)
        # The other one neither trained nor continued the run from the first one's checkpoint.
        (other,) = set(pair) - set(trained)
        assert "resuming" not in jobs[other], f"run {i}: job {other} continued it\n{jobs[other][-1500:]}"
        (a_start, a_end), (b_start, b_end) = (job_span(sweep_dir, job_id) for job_id in pair)
        overlapped += a_start < b_end and b_start < a_end
    # Else the two launches never ran one run at the same time, and the test did not test what it is for.
    assert overlapped >= 1, "no two jobs of one run ran at the same time"

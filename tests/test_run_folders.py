"""Sweeps that never lose a run: a folder per identity, resume that checks it, one job per folder, nothing
deleted or rewritten that the command did not make, and a plan before anything is written."""

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from torch.optim.optimizer import register_optimizer_step_post_hook

from conftest import QUICK, REPO, TINY, run_python, run_uvb_train_in_process, without_timings
from uvb_lab.figures import cli as figures_cli
from uvb_lab.launch.plan import quoted
from uvb_lab.report import main as report
from uvb_lab.run import checkpoint, lock
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.training_stream import TrainingStream

FIXTURE = REPO / "tests" / "fixtures" / "run_made_by_v0.1.0"
# The overrides the fixture was made with (its .hydra/overrides.yaml), less its max_steps cap.
FIXTURE_ARGS = [
    "model=uvb", "data=synthetic", "data.n_train=128", "data.n_test=32", "model.conv_channels=[4,8]", "model.hidden=16",
    "model.latent_dim=8", "model.decoder_hidden=32", "trainer.epochs=2", "trainer.batch_size=64", "trainer.device=cpu",
    "trainer.progress=false", "figures.after_training=false", "logger=none",
    "trainer.precision=fp32",  # the fixture trained in 0.1.0's tf32, which is fp32 on a CPU; auto would continue in bf16
]
FIXTURE_STEPS = 2  # the steps both fixtures' old code trained and evaluated before they are continued (summary.json)
SMOKE = ["-m", "+experiment=smoke", "model=deen", "sigma=0.5", "logger=none", "figures.after_training=false"]


def tree(path: Path) -> dict[str, str]:
    """Every file and folder under path (hidden ones too) with a hash of its bytes: equal trees, equal dicts."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(path.rglob("*"))
    }


def numbers_match(old_rows: list[dict], fresh_rows: list[dict], rel: float = 1e-5) -> bool:
    """Every value of the old rows is the fresh run's: exactly, or for floats to `rel`.

    The fixtures were made on an Intel Xeon; an AMD EPYC's kernels round the last digits differently, and its
    continuation of the 0.1.0 fixture differed from its own fresh run by 6e-8 relative at step 4. A resume that
    lost its random state differs far more (tested below), so 1e-5 still tells the two apart.
    """
    def same(a, b):
        return math.isclose(a, b, rel_tol=rel) if isinstance(a, float) and isinstance(b, float) else a == b
    return len(old_rows) == len(fresh_rows) and all(
        all(key in fresh and same(value, fresh[key]) for key, value in old.items()) for old, fresh in zip(old_rows, fresh_rows))


def without_unpaired_test_numbers(rows: list[dict], made_until_step: int) -> list[dict]:
    """The rows a fixture's old code evaluated (up to its last step), less their test numbers: that code drew the test
    noise from the stream the z draws shared, today's from a generator of its own (uvb_lab/paired_noise.py), so those
    numbers are of other noisy images and no resume could give them again. Their training numbers stay compared, and
    the rows evaluated after the resume are compared whole: there old and fresh run score the same noisy images."""
    return [{k: v for k, v in row.items() if not (row["step"] <= made_until_step and k.startswith(("test_", "val_")))}
            for row in rows]


def trained_as_before_the_training_stream(args: list[str], capsys, monkeypatch) -> int:
    """uvb-train ARGS drawing the data order and the training noise from the global generator, as the fixtures' old
    code did (before uvb_lab/training_stream.py): the fresh run an old folder's continuation, which goes on drawing
    them there, must match. Returns the exit code."""
    with monkeypatch.context() as patch:
        patch.setattr(TrainingStream, "seeded", classmethod(lambda cls, seed, device: cls(None)))
        return run_uvb_train_in_process(args, capsys)[0]


def quick_run(folder: Path, *extra: str) -> list[str]:
    return [*QUICK, *TINY["deen"], "model=deen", "logger=none", f"hydra.run.dir={folder}", *extra]


def test_seeds_and_lr_of_an_experiment_land_in_their_own_folders(tmp_path, capsys):
    sweep = tmp_path / "smoke"
    code, err = run_uvb_train_in_process([*SMOKE, "trainer.seed=0,1,2", f"hydra.sweep.dir={sweep}"], capsys)
    assert code == 0, err
    folders = {p.name for p in sweep.iterdir() if p.is_dir()}
    assert folders == {"deen-synthetic-sigma0.5", "deen-synthetic-sigma0.5-trainer.seed1", "deen-synthetic-sigma0.5-trainer.seed2"}
    seeds = {json.loads((sweep / f / "identity.json").read_text())["identity"]["trainer.seed"] for f in folders}
    assert seeds == {0, 1, 2}
    assert "trained 3, continued 0, found 0 finished, failed 0" in err
    before = {k: v for k, v in tree(sweep).items() if k != "multirun.yaml"}  # Hydra's record of the last launch

    # Another lr is another run: new folders, the old ones untouched; the same command again trains nothing.
    code, err = run_uvb_train_in_process([*SMOKE, "trainer.seed=0,1", "trainer.lr=1e-3", f"hydra.sweep.dir={sweep}"], capsys)
    assert code == 0, err
    assert {k: v for k, v in tree(sweep).items() if k in before} == before
    assert run_summary.read(sweep / "deen-synthetic-sigma0.5-lr0.001-trainer.seed1")["status"] == "finished"
    code, err = run_uvb_train_in_process([*SMOKE, "trainer.seed=0,1,2", f"hydra.sweep.dir={sweep}"], capsys)
    assert code == 0 and "trained 0, continued 0, found 3 finished, failed 0" in err


def test_parallel_jobs_of_a_sweep_each_write_their_own_folder(tmp_path, capsys):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "smoke"
    args = [*SMOKE, "logger=wandb", "trainer.seed=0,1", f"hydra.sweep.dir={sweep}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    code, err = run_uvb_train_in_process(args, capsys)
    assert code == 0, err
    folders = list(sweep.glob("deen-*"))
    assert len(folders) == 2
    for folder in folders:
        assert run_summary.read(folder)["status"] == "finished"
        assert [row["epoch"] for row in run_files.evaluations(run_files.read_metrics(folder))] == [1, 2]  # one writer per folder
    # Each job ran in its own process, yet both are in the experiment's W&B group.
    groups = {m.decode() for f in sweep.glob("*/wandb/offline-run-*/*.wandb") for m in re.findall(rb"smoke[-\w]*", f.read_bytes())}
    assert groups == {"smoke"}, groups
    # The report gathers the sweep's offline W&B runs into one folder, for `wandb sync` and `wandb leet`.
    assert report([str(sweep), "--out", str(tmp_path / "report")]) == 0
    assert len(list((tmp_path / "report" / "wandb_runs").iterdir())) == 2


def test_a_sweep_that_grows_reorders_or_splits_finds_the_runs_that_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = [*QUICK, *TINY["deen"], "logger=none", "data.n_train=32", "data.n_test=16", "trainer.batch_size=16"]
    stdout: list[str] = []
    first = ["-m", *quick, "model=deen,deen_quadratic", "sigma=0.3,1.0", "trainer.seed=0,1"]
    assert run_uvb_train_in_process(first, capsys, stdout)[0] == 0
    assert "8 jobs in" in stdout[-1] and "8 start" in stdout[-1]
    sweep = tmp_path / "multirun" / "synthetic-by-model-sigma-seed"  # named by what it sweeps
    before = {path.name: (path / "metrics.jsonl").read_bytes() for path in sweep.iterdir() if path.is_dir()}
    assert len(before) == 8
    # More seeds, the values reordered: the 8 runs are found, 4 start.
    grown = ["-m", *quick, "model=deen_quadratic,deen", "sigma=1.0,0.3", "trainer.seed=2,1,0", "--dry-run"]
    assert run_uvb_train_in_process(grown, capsys, stdout)[0] == 0
    assert f"12 jobs in {sweep}: 4 start, 8 skip" in stdout[-1], stdout[-1]
    # A sweep of the same keys with other values lands in the same folder too (a key given one value is not swept).
    split = ["-m", *quick, "model=deen,deen_quadratic", "sigma=0.3,0.5", "trainer.seed=0,1", "--dry-run"]
    assert run_uvb_train_in_process(split, capsys, stdout)[0] == 0
    assert f"8 jobs in {sweep}: 4 start, 4 skip" in stdout[-1], stdout[-1]
    # One of other keys is a folder of its own, and its plan says where its runs are.
    other = ["-m", *quick, "model=deen", "sigma=0.3", "trainer.seed=0,1", "--dry-run"]
    assert run_uvb_train_in_process(other, capsys, stdout)[0] == 0
    assert f"2 jobs in {sweep.parent / 'deen-synthetic-by-seed'}: 2 start" in stdout[-1], stdout[-1]
    assert f"note: {sweep} holds 2 of these runs; to continue there instead, add hydra.sweep.dir={sweep}" in stdout[-1]
    assert {path.name: (path / "metrics.jsonl").read_bytes() for path in sweep.iterdir() if path.is_dir()} == before


def test_a_run_folder_that_is_a_file_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    for where in (tmp_path / "afile", tmp_path / "afile" / "run"):
        code, err = run_uvb_train_in_process(quick_run(where), capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert f"{tmp_path / 'afile'} is a file" in err
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_start_killed_before_its_first_write_leaves_nothing_that_blocks_the_same_command(tmp_path, capsys, monkeypatch):
    import uvb_lab.train

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill while the model and data are built

    monkeypatch.setattr(uvb_lab.train, "first_summary", killed)
    run_dir = tmp_path / "run"
    assert run_uvb_train_in_process(quick_run(run_dir), capsys)[0] != 0
    assert not [p.name for p in run_dir.iterdir() if not p.name.startswith(".")] if run_dir.exists() else True
    monkeypatch.undo()
    code, err = run_uvb_train_in_process(quick_run(run_dir), capsys)
    assert code == 0, err
    log = (run_dir / "train.log").read_text()
    assert log.count("parameters") == 1 and log.index("parameters") < log.index("epoch 1/1")  # held, then written


def test_a_resume_path_with_quotes_commas_and_spaces_is_passed_on_intact(tmp_path, capsys):
    odd = tmp_path / "it's run, v=1"
    assert run_uvb_train_in_process(quick_run(quoted(str(odd))), capsys)[0] == 0
    longer = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "trainer.epochs=2", "trainer.max_steps=null"]
    code, err = run_uvb_train_in_process([*longer, f"trainer.resume={quoted(str(odd))}"], capsys)
    assert code == 0, err
    assert run_summary.read(odd)["epochs_done"] == 2


def test_dry_run_lists_each_job_with_its_folder_and_fate_and_writes_nothing(tmp_path, capsys):
    sweep = tmp_path / "smoke"
    assert run_uvb_train_in_process([*SMOKE, f"hydra.sweep.dir={sweep}"], capsys)[0] == 0
    before, out = tree(tmp_path), []
    code, _ = run_uvb_train_in_process([*SMOKE, "sigma=0.5,1.0", "trainer.epochs=3", f"hydra.sweep.dir={sweep}", "--dry-run"], capsys, out)
    (plan,) = out
    assert code == 0
    assert tree(tmp_path) == before
    assert "2 jobs in" in plan and "1 start, 1 continue" in plan
    assert "continue  deen-synthetic-sigma0.5: from its checkpoint at step 4" in plan
    assert "start     deen-synthetic-sigma1.0" in plan


def test_resume_refuses_a_changed_identity_and_leaves_the_folder_byte_identical(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_uvb_train_in_process(quick_run(run_dir), capsys)[0] == 0
    before = tree(run_dir)
    for change, key in [("trainer.lr=1e-3", "trainer.lr"), ("sigma=0.5", "sigma"), ("trainer.batch_size=8", "trainer.batch_size"),
                        ("data.n_train=64", "data.n_train"), ("model=uvb", "run.model")]:
        extra = [*TINY["uvb"]] if change == "model=uvb" else []
        code, err = run_uvb_train_in_process([*quick_run(run_dir, change, "trainer.max_steps=6"), *extra], capsys)
        assert code == 2, (change, err)
        assert f"{key}:" in err and "holds another run" in err, err
        assert tree(run_dir) == before, change


def test_a_folder_that_is_not_ours_survives_every_failing_command(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "NOTES.txt").write_text("keep me")
    finished = tmp_path / "finished"
    assert run_uvb_train_in_process(quick_run(finished), capsys)[0] == 0
    before = {"work": tree(work), "finished": tree(finished)}
    failing = [
        ["model=deen", "data=mnist", f"data.root={tmp_path / 'nowhere'}", "logger=none", "hydra.run.dir=."],
        [*quick_run(work), "sigma=-1"],
        [*quick_run(work), "model=foo"],
        [*quick_run(finished), "trainer.resume=null"],
        [*quick_run(finished), "trainer.resume=null", "logger=wandb", "logger.mode=weird"],
        [*quick_run(work), f"trainer.resume={finished}"],
        [*quick_run(finished), "trainer.lr=1e-3"],
        [*quick_run(work), f"trainer.resume={work}"],
    ]
    monkeypatch.chdir(work)
    for args in failing:
        code, err = run_uvb_train_in_process(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert {"work": tree(work), "finished": tree(finished)} == before, args


def test_a_second_job_on_a_folder_in_use_exits_at_once_having_written_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    # A run long enough to be caught running: 200 epochs of 4 steps, a checkpoint at every epoch end.
    long_run = quick_run(run_dir, "trainer.epochs=200", "trainer.max_steps=null", "data.n_train=64", "trainer.batch_size=16")
    first = subprocess.Popen([sys.executable, "-m", "uvb_lab.launch", *long_run], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (run_dir / checkpoint.LAST).is_file():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.2)
        code, err = run_uvb_train_in_process(long_run, capsys)
        assert code == 2 and "in use by another uvb-train job" in err, err
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 3, err[-2000:]  # preempted by our SIGTERM, with a checkpoint: continued later
    rows = run_files.evaluations(run_files.read_metrics(run_dir), "epoch_end")
    assert [row["epoch"] for row in rows] == list(range(1, len(rows) + 1))


def test_a_sweep_counts_the_runs_another_sweep_holds_as_busy_not_failed_nor_finished(tmp_path, capsys):
    """Two sweeps into one folder: a run the other sweep trains is "busy" in this one's closing line, whether the
    other is still training it or has finished it by then, and the exit code is 0; this sweep writes nothing there."""
    sweep = tmp_path / "smoke"
    names = ["deen-synthetic-sigma0.5", "deen-synthetic-sigma0.5-trainer.seed1", "deen-synthetic-sigma0.5-trainer.seed2"]
    running, finished = sweep / names[1], sweep / names[2]
    for folder in (running, finished):
        folder.mkdir(parents=True)  # made by the other sweep, empty when this one plans: both plan to start them
    other_sweep = contextlib.ExitStack()
    wrote = {running: json.dumps({"status": "running"}), finished: json.dumps({"status": "finished"})}
    taken = []

    def other_sweep_takes_its_runs(optimizer, *_):  # once this sweep is training its first run
        if not taken:
            taken.append(True)
            for folder, summary in wrote.items():
                other_sweep.enter_context(lock.hold(folder))  # the lock the other sweep's job holds
                (folder / "summary.json").write_text(summary)

    hook = register_optimizer_step_post_hook(other_sweep_takes_its_runs)
    try:
        with other_sweep:
            code, err = run_uvb_train_in_process([*SMOKE, "trainer.seed=0,1,2", f"hydra.sweep.dir={sweep}"], capsys)
    finally:
        hook.remove()
    for folder, summary in wrote.items():  # only what the other sweep wrote
        assert tree(folder) == {"summary.json": hashlib.sha256(summary.encode()).hexdigest()}
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("uvb-train: sweep:"))
    assert line.startswith("uvb-train: sweep: trained 1, continued 0, found 0 finished, failed 0, 2 busy"), err
    assert f"  busy: {running}" in err and f"  busy: {finished}" in err, err
    assert [p.name for p in sweep.iterdir() if p.name.startswith(".")] == []  # the jobs' notes are gone


def test_a_run_made_by_uvb_lab_0_1_0_continues_exactly(tmp_path, capsys, monkeypatch):
    old = tmp_path / "old"
    shutil.copytree(FIXTURE, old)
    assert not (old / "identity.json").exists()
    stdout = []
    code, err = run_uvb_train_in_process([*FIXTURE_ARGS, f"hydra.run.dir={old}"], capsys, stdout)
    assert code == 0, err
    # Its checkpoint has no training stream: it goes on drawing its batches from the global generator, and says so.
    assert "predates the training stream" in stdout[0] and run_summary.read(old)["train_stream_fingerprint"] is None
    fresh = tmp_path / "fresh"
    assert trained_as_before_the_training_stream([*FIXTURE_ARGS, f"hydra.run.dir={fresh}"], capsys, monkeypatch) == 0
    assert run_summary.read(old)["steps_done"] == 4
    # 0.1.0's rows hold fewer fields (no "eval"); every number they hold is the fresh run's, but the test numbers
    # 0.1.0 scored on its own (unpaired) test noise.
    old_rows, fresh_rows = without_timings(run_files.read_metrics(old)), without_timings(run_files.read_metrics(fresh))
    old_rows = without_unpaired_test_numbers(old_rows, FIXTURE_STEPS)
    assert numbers_match(old_rows, fresh_rows), (old_rows, fresh_rows)
    assert "test_loss" in old_rows[-1]  # step 4, evaluated after the resume: compared whole
    assert len(old_rows) == len(fresh_rows) == 2
    assert (old / ".hydra" / "overrides.yaml").read_bytes() == (FIXTURE / ".hydra" / "overrides.yaml").read_bytes()


def test_the_fixtures_tolerance_still_catches_a_resume_that_lost_its_random_state(tmp_path, capsys, monkeypatch):
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    shutil.copytree(FIXTURE, old)
    assert trained_as_before_the_training_stream([*FIXTURE_ARGS, f"hydra.run.dir={fresh}"], capsys, monkeypatch) == 0
    monkeypatch.setattr(checkpoint, "set_rng_state", lambda state: None)  # the resume keeps the fresh process's RNGs
    assert run_uvb_train_in_process([*FIXTURE_ARGS, f"hydra.run.dir={old}"], capsys)[0] == 0
    old_rows, fresh_rows = without_timings(run_files.read_metrics(old)), without_timings(run_files.read_metrics(fresh))
    old_rows = without_unpaired_test_numbers(old_rows, FIXTURE_STEPS)  # as above: what differs is the lost RNG, not the noise
    assert numbers_match(old_rows[:1], fresh_rows[:1])  # step 2, trained by 0.1.0 before the resume
    assert not numbers_match(old_rows, fresh_rows)


# A run folder of format 2 (before the loss and the decoder likelihood became objects chosen by _target_), made with
# a Laplace decoder: its identity.json and config.yaml name `model.decoder: laplace` and `uvb_lab.loss.denoising_loss`.
FORMAT_2 = REPO / "tests" / "fixtures" / "run_folder_format_2_laplace"
FORMAT_2_ARGS = [arg.replace("model=uvb", "model=uvb_laplace") for arg in FIXTURE_ARGS]


def test_a_format_2_run_folder_continues_exactly_and_its_figures_load(tmp_path, capsys, monkeypatch):
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    shutil.copytree(FORMAT_2, old)
    assert json.loads((old / "identity.json").read_text())["identity"]["model.decoder"] == "laplace"
    code, err = run_uvb_train_in_process([*FORMAT_2_ARGS, f"hydra.run.dir={old}"], capsys)
    assert code == 0, err  # the same run in today's terms: continued, not refused as another
    assert trained_as_before_the_training_stream([*FORMAT_2_ARGS, f"hydra.run.dir={fresh}"], capsys, monkeypatch) == 0
    # The format-2 rows lack the metrics added since (test_decoder_denoising_loss); every number they hold is the fresh
    # run's, but the test numbers format 2 scored on its own (unpaired) test noise.
    old_rows, fresh_rows = without_timings(run_files.read_metrics(old)), without_timings(run_files.read_metrics(fresh))
    old_rows = without_unpaired_test_numbers(old_rows, FIXTURE_STEPS)
    assert numbers_match(old_rows, fresh_rows) and len(old_rows) == 2, (old_rows, fresh_rows)
    assert "test_decoder_denoising_loss" in fresh_rows[-1] and "test_decoder_denoising_loss" in old_rows[-1]  # step 4: today's code
    # The folder's record is left as it was made (read in today's terms each time, uvb_lab/run/legacy.py).
    assert (old / "identity.json").read_bytes() == (FORMAT_2 / "identity.json").read_bytes()
    # uvb-figures rebuilds the model from the untouched format-2 config.yaml.
    assert figures_cli.main([str(FORMAT_2), "--device", "cpu", "--no-mixing", "--jumps", "2", "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "fig4_decoder.png").is_file()


def test_damaged_files_are_worked_around_never_spread(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = quick_run(run_dir, "trainer.max_steps=2", "trainer.checkpoint_every_steps=1", "trainer.keep_checkpoints=both")
    assert run_uvb_train_in_process(args, capsys)[0] == 0
    good_previous = (run_dir / checkpoint.PREVIOUS).read_bytes()
    # A damaged summary.json: the checkpoint holds the summary, the run continues.
    (run_dir / run_files.SUMMARY).write_text('{"status": "fini')
    # A damaged last.pt: the run continues from previous.pt, and the damaged file is overwritten, not rotated.
    (run_dir / checkpoint.LAST).write_bytes(b"not a checkpoint")
    code, err = run_uvb_train_in_process([*args[:-3], "trainer.max_steps=2", "trainer.checkpoint_every_steps=null", "trainer.keep_checkpoints=both"], capsys)
    assert code == 0, err
    assert (run_dir / checkpoint.PREVIOUS).read_bytes() == good_previous
    assert checkpoint.read(run_dir / checkpoint.LAST)["step"] == 2
    assert run_summary.read(run_dir)["status"] == "finished"


def test_a_finished_run_whose_checkpoints_are_gone_is_skipped_but_not_restarted(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_uvb_train_in_process(quick_run(run_dir, "trainer.keep_checkpoints=none"), capsys)[0] == 0
    assert not (run_dir / checkpoint.FOLDER).exists()
    before = tree(run_dir)
    assert run_uvb_train_in_process(quick_run(run_dir), capsys)[0] == 0  # already finished: nothing to do
    code, err = run_uvb_train_in_process(quick_run(run_dir, "trainer.max_steps=6"), capsys)
    assert code == 2 and "checkpoints are gone" in err
    assert tree(run_dir) == before


@pytest.mark.parametrize(("keep", "left"), [("both", {"last.pt", "previous.pt"}), ("last", {"last.pt"})])
def test_keep_checkpoints_decides_what_a_finished_run_keeps(tmp_path, capsys, keep, left):
    run_dir = tmp_path / "run"
    assert run_uvb_train_in_process(quick_run(run_dir, "trainer.checkpoint_every_steps=1", f"trainer.keep_checkpoints={keep}"), capsys)[0] == 0
    assert {p.name for p in (run_dir / checkpoint.FOLDER).iterdir()} == left


def test_the_entry_module_loads_no_heavy_library():
    code = "import sys, uvb_lab.launch; print(sorted({'torch', 'matplotlib', 'wandb', 'tensorboard'} & set(sys.modules)))"
    result = run_python(["-c", code], timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_a_trial_whose_first_checkpoint_met_a_full_disk_is_trained_once_space_is_back(tmp_path, capsys, monkeypatch):
    from disk_faults import torch_save_that_fills_the_disk

    sweep = tmp_path / "search"
    search = ["-m", "hydra/sweeper=successive_halving", *QUICK, *TINY["deen"], "model=deen", "logger=none", "trainer.max_steps=null",
              "data.n_train=128", "data.n_test=32", "data.val_fraction=0.25", "trainer.batch_size=32", "trainer.epochs=1",
              "trainer.lr=1e-2,1e-6", f"hydra.sweep.dir={sweep}"]
    monkeypatch.setattr(checkpoint.torch, "save", torch_save_that_fills_the_disk(1))  # the first trial's first checkpoint
    run_uvb_train_in_process(search, capsys)
    (failed,) = [path for path in sweep.iterdir() if (path / "identity.json").is_file()
                 and json.loads((path / "identity.json").read_text())["identity"]["trainer.lr"] == 1e-2]
    assert not checkpoint.exists(failed) and run_summary.read(failed)["status"] == "failed"
    partial = tree(failed)
    # Its files are of its own identity: another run's command there is refused, and leaves them as they were.
    code, err = run_uvb_train_in_process(quick_run(failed, "sigma=0.5"), capsys)
    assert code == 2 and "holds another run" in err and tree(failed) == partial
    monkeypatch.undo()  # space is back: a failed trial is retried when asked (issue 32), and its folder lets it train
    code, err = run_uvb_train_in_process(search, capsys)
    assert code == 1 and "1 failed" in err  # not retried unasked: the record keeps it as failed
    code, err = run_uvb_train_in_process([*search, "hydra.sweeper.retry_failed=true"], capsys)
    assert code == 0, err
    assert run_summary.read(failed)["status"] == "finished"
    assert math.isfinite(run_summary.read(failed)["val_loss"])
    assert "yes" in next(line for line in (sweep / "successive_halving.csv").read_text().splitlines() if "0.01" in line)


def test_a_run_that_trained_past_step_0_and_lost_its_checkpoints_is_still_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = quick_run(run_dir, "trainer.max_steps=2", "trainer.checkpoint_every_steps=1")
    assert run_uvb_train_in_process([*args, "trainer.keep_checkpoints=both"], capsys)[0] == 0
    summary = run_summary.read(run_dir)
    run_summary.write(run_dir, {**summary, "status": "preempted"})  # unfinished, and then its checkpoints were deleted
    shutil.rmtree(run_dir / checkpoint.FOLDER)
    before = tree(run_dir)
    code, err = run_uvb_train_in_process(args, capsys)
    assert code == 2 and "checkpoints are gone" in err and tree(run_dir) == before

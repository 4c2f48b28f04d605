"""Successive halving (hydra/sweeper=successive_halving): the rung arithmetic, then searches of tiny runs on
synthetic data that stop the bad configurations, continue the good one exactly as a longer run, redo nothing
when relaunched, rank a failed trial last, score each trial at each budget by its own rows (so a lost table is
rebuilt exactly), hold their folder for one launch, and launch each rung as one joblib wave."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import disk_faults
from conftest import TINY, run_uvb_train_in_process, uvb_train_here, without_timings
from uvb_lab.launch.successive_halving import TABLE, Rung, grid, read_table, rungs, survivors, training_cost
from uvb_lab.report import main as report
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary

read_only = disk_faults.read_only  # a fixture: a folder made read-only

# 128 synthetic images, a quarter held out: 96 train at batch 32, 3 steps an epoch.
TINY_UVB = [
    "model=uvb", "data=synthetic", "data.n_train=128", "data.n_test=32", "data.val_fraction=0.25", "trainer.batch_size=32",
    "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false", "logger=none", *TINY["uvb"],
]
# 1e-6 barely moves in an epoch: a clearly bad rate beside two usable ones. eta 3 keeps one of three.
SEARCH = ["-m", "hydra/sweeper=successive_halving", *TINY_UVB, "trainer.epochs=3", "trainer.lr=1e-6,1e-2,3e-3"]


def runs_by_lr(sweep: Path) -> dict[float, Path]:
    return {json.loads((path / "identity.json").read_text())["identity"]["trainer.lr"]: path for path in sweep.iterdir() if (path / "summary.json").is_file()}


def test_each_rung_keeps_a_third_and_triples_the_budget_up_to_the_full_one():
    assert rungs(9, 3, 1, 9) == [Rung(9, 1), Rung(3, 3), Rung(1, 9)]
    assert rungs(27, 3, 1, 9) == [Rung(27, 1), Rung(9, 3), Rung(3, 9)]  # more configurations than rungs: 3 reach the end
    assert rungs(30, 3, 1, 10) == [Rung(30, 1), Rung(10, 3), Rung(3, 9), Rung(1, 10)]  # floor(30/27) = 1 goes to 10
    assert rungs(10, 2, 2, 5) == [Rung(10, 2), Rung(5, 4), Rung(2, 5)]  # the budget capped at max_budget
    assert rungs(3, 3, 1, 27) == [Rung(3, 1), Rung(1, 27)]  # one left: straight to the full budget
    assert rungs(1, 3, 1, 9) == [Rung(1, 9)]
    # A survivor continues: 9 x 1 + 3 x (3 - 1) + 1 x (9 - 3) epochs, against 9 x 9 for the exhaustive grid.
    assert training_cost(rungs(9, 3, 1, 9)) == 21
    for bad in [(3, 1, 1, 9), (3, 3, 0, 9), (3, 3, 10, 9), (0, 3, 1, 9)]:
        with pytest.raises(ValueError):
            rungs(*bad)


def test_survivors_are_the_lowest_losses_with_failures_last_and_ties_in_order():
    assert survivors([3.0, 1.0, 2.0], 2) == [1, 2]
    assert survivors([math.nan, math.inf, 5.0, 5.0], 3) == [2, 3, 0]


def test_a_configuration_is_named_by_what_sets_it_apart_and_the_grid_leaves_the_budget_to_the_rungs():
    jobs = [["+hparams_search=x", "trainer.lr=1", "sigma=1", "trainer.epochs=9"], ["+hparams_search=x", "trainer.lr=2", "sigma=1", "trainer.epochs=9"]]
    configs, names = grid(jobs, "trainer.epochs")
    assert configs == [["+hparams_search=x", "trainer.lr=1", "sigma=1"], ["+hparams_search=x", "trainer.lr=2", "sigma=1"]]
    assert names == ["trainer.lr=1", "trainer.lr=2"]
    assert grid(jobs[:1], "trainer.epochs")[1] == ["+hparams_search=x trainer.lr=1 sigma=1"]
    with pytest.raises(ValueError, match="the grid sweeps trainer.epochs"):
        grid([["trainer.epochs=1"], ["trainer.epochs=3"]], "trainer.epochs")


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> Path:
    """The search above, launched once into a folder of its own."""
    folder = tmp_path_factory.mktemp("search") / "lr"
    done = uvb_train_here([*SEARCH, f"hydra.sweep.dir={folder}"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runs the schedule below" in done.stdout and "rung 2: 1 configuration to trainer.epochs=3" in done.stdout
    # What this launch did: three trials trained to the first rung, the best one continued to the second.
    assert done.stderr.splitlines()[-1].startswith("uvb-train: sweep: trained 3, continued 1, found 0 finished, failed 0; 3 configurations"), done.stderr
    return folder


def test_a_search_stops_the_bad_rates_and_continues_the_best_exactly_as_a_longer_run(search, tmp_path, capsys):
    runs = runs_by_lr(search)
    epochs = {lr: run_summary.read(path)["epochs_done"] for lr, path in runs.items()}
    assert epochs == {1e-6: 1, 3e-3: 1, 1e-2: 3}  # stopped after the first rung: finished 1-epoch runs
    table = read_table(search / TABLE, "trainer.epochs")
    assert table["trainer.lr=1e-06"][1] > table["trainer.lr=0.003"][1] > table["trainer.lr=0.01"][1]
    assert set(table["trainer.lr=0.01"]) == {1, 3} and table["trainer.lr=0.01"][3] == run_summary.read(runs[1e-2])["val_loss"]
    rows = (search / TABLE).read_text().splitlines()
    assert rows[0] == "configuration,budget_reached,trainer.epochs=1,trainer.epochs=3,chosen,run"  # each trial's run folder last
    assert [row for row in rows if ",yes," in row] == [
        f"trainer.lr=0.01,3,{table['trainer.lr=0.01'][1]!r},{table['trainer.lr=0.01'][3]!r},yes,{runs[1e-2].name}"
    ]

    # The survivor, trained 1 epoch then continued to 3, is the run trained straight to 3: every number.
    straight = tmp_path / "straight"
    code, err = run_uvb_train_in_process([*TINY_UVB, "trainer.lr=1e-2", "trainer.epochs=3", f"hydra.run.dir={straight}"], capsys)
    assert code == 0, err
    continued, expected = run_summary.read(runs[1e-2]), run_summary.read(straight)
    assert without_timings([continued]) == without_timings([expected])
    assert without_timings(run_files.without_stops(run_files.read_metrics(runs[1e-2]))) == without_timings(run_files.read_metrics(straight))

    # The report shows the search's table.
    out = []
    assert report([str(search), "--out", str(tmp_path / "report")]) == 0
    out.append(capsys.readouterr().out)
    assert f"## Successive halving in {search}" in out[0]
    assert "| configuration | budget_reached | trainer.epochs=1 | trainer.epochs=3 | chosen |" in out[0]
    assert f"| trainer.lr=0.01 | 3 | {table['trainer.lr=0.01'][1]:.6g} | {table['trainer.lr=0.01'][3]:.6g} | yes |" in out[0]


def test_the_search_report_leads_with_validation_flags_a_winner_at_the_grids_edge_and_labels_its_test_number(search, tmp_path, capsys):
    # The search chose trainer.lr=0.01, the largest rate of its grid (1e-6, 3e-3, 1e-2); its trials also scored the test set.
    table = read_table(search / TABLE, "trainer.epochs")
    winner = runs_by_lr(search)[1e-2]
    assert report([str(search), "--out", str(tmp_path / "report")]) == 0
    markdown = capsys.readouterr().out
    section = markdown.split(f"## Successive halving in {search}", 1)[1]
    assert markdown.index(f"## Successive halving in {search}") < markdown.index("### ")  # ahead of the tables of its runs
    assert "Each configuration's validation loss at each rung's budget" in section
    assert f"Chosen: trainer.lr=0.01, validation loss {table['trainer.lr=0.01'][3]:#.3g} at trainer.epochs=3." in section
    assert "⚠ at the grid's edge (trainer.lr=0.01 is the largest value tried): widen the grid." in section
    test_loss = run_summary.read(winner)["test_loss"]
    assert f"Its run's test loss, {test_loss:#.3g}, is that of a tuning run (the search chose its setting on the validation split), not of a fresh seed" in section
    # In the tables of its runs, the cell of the winner's run says it is a trial, not a fresh seed.
    assert f"trials of the search in {search}, not fresh seeds" in markdown


def test_a_relaunch_redoes_no_rung_and_a_larger_budget_continues_only_the_survivor(search, tmp_path, capsys):
    folder = tmp_path / "lr"
    shutil.copytree(search, folder)
    command = [*SEARCH, f"hydra.sweep.dir={folder}"]

    def files():
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file() and p.name != "multirun.yaml"}

    before = files()
    done = uvb_train_here(command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert files() == before
    # No trial launched, not even to be skipped: the table had every rung's loss; the closing line and the preview say so.
    assert "Launching" not in done.stdout and done.stdout.count("(0 launched, ") == 2
    assert done.stderr.splitlines()[-1].startswith("uvb-train: sweep: trained 0, continued 0, found 4 finished, failed 0; "), done.stderr
    preview = uvb_train_here(["--dry-run", *command])
    assert "  rung 1: 3 configurations to trainer.epochs=1 (3 done, in successive_halving.csv)" in preview.stdout, preview.stdout
    assert "  rung 2: 1 configuration to trainer.epochs=3 (1 done, in successive_halving.csv)" in preview.stdout

    # The same search to 9 epochs: two rungs from the table, then the survivor alone continues to 9.
    code, err = run_uvb_train_in_process([*command, "trainer.epochs=9"], capsys)
    assert code == 0, err
    after, runs = files(), runs_by_lr(folder)
    assert {p: v for p, v in after.items() if runs[1e-2] not in p.parents and p.name != TABLE} == {
        p: v for p, v in before.items() if runs[1e-2] not in p.parents and p.name != TABLE
    }
    assert run_summary.read(runs[1e-2])["epochs_done"] == 9
    table = read_table(folder / TABLE, "trainer.epochs")
    assert set(table["trainer.lr=0.01"]) == {1, 3, 9} and set(table["trainer.lr=0.003"]) == {1}


def test_a_failed_trial_is_a_result_ranked_last_and_the_search_goes_on(tmp_path, capsys):
    # lr=1e6: the loss turns non-finite and the non-finite guard stops the run: a result, recorded as such and scored
    # inf; the launch exits 0. (A value the plan can refuse, lr=-1, is refused before anything is launched: below.)
    folder = tmp_path / "lr"
    command = ["-m", "hydra/sweeper=successive_halving", *TINY_UVB, "trainer.epochs=2", "hydra.sweeper.eta=2",
               "trainer.lr=1e6,1e-2,3e-3", f"hydra.sweep.dir={folder}"]
    code, err = run_uvb_train_in_process(command, capsys)
    assert code == 0, err
    assert "chose trainer.lr=" in err and ", 1 diverged" in err
    table = read_table(folder / TABLE, "trainer.epochs")
    assert table["trainer.lr=1000000.0"] == {1: "diverged"}
    assert sorted(len(table[name]) for name in ("trainer.lr=0.01", "trainer.lr=0.003")) == [1, 2]  # the better one goes on
    assert sum(",yes," in line for line in (folder / TABLE).read_text().splitlines()) == 1
    # A relaunch does not retry it (a result), unless asked to.
    done = uvb_train_here(command)
    assert done.returncode == 0 and done.stdout.count("(0 launched, ") == 2, done.stderr
    done = uvb_train_here([*command, "hydra.sweeper.retry_failed=true"])
    assert "rung 1/2: 3 at trainer.epochs=1 (1 launched, 2 from " in done.stdout + done.stderr


@pytest.mark.parametrize("sweeper", ["successive_halving", "tune_then_test"])
@pytest.mark.parametrize(("grid", "message"), [
    ("trainer.lrr=1e-3,1e-2", "uvb-train: error: trainer.lrr is not a setting: did you mean trainer.lr?"),
    ("trainer.lr=abc,1e-3", "uvb-train: error: the grid's trainer.lr=abc: Error merging override trainer.lr=abc: Value 'abc'"),
    ("trainer.lr=-1,1e-3", "uvb-train: error: the grid's trainer.lr=-1: trainer.lr must be > 0, got -1.0"),
])
def test_a_typo_or_a_bad_value_in_a_search_grid_is_one_line_and_leaves_nothing(sweeper, grid, message, tmp_path, capsys):
    # Issue 31 item 7: the sweeper composed each trial as it went: a typo gave Hydra's 8-line message after the search
    # folder was made, a bad value an empty trial folder.
    command = ["-m", f"hydra/sweeper={sweeper}", *TINY_UVB, "trainer.epochs=2", grid, f"hydra.sweep.dir={tmp_path / 'search'}"]
    code, err = run_uvb_train_in_process(command, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith(message), err
    assert list(tmp_path.iterdir()) == []


def test_a_search_into_a_read_only_folder_is_one_line_and_exit_2(read_only, tmp_path, capsys):
    folder = tmp_path / "search"
    folder.mkdir()
    read_only(folder)
    for dry_run in ([], ["--dry-run"]):
        code, err = run_uvb_train_in_process([*dry_run, *SEARCH, f"hydra.sweep.dir={folder}"], capsys)
        assert code == 2 and err.count("\n") == 1 and f"cannot write in {folder}" in err and "Traceback" not in err, err
    assert list(folder.iterdir()) == []


def test_each_rung_is_one_wave_of_the_joblib_launcher(search, tmp_path, capsys):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    folder = tmp_path / "lr"
    done = uvb_train_here([*SEARCH, f"hydra.sweep.dir={folder}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=3"])
    assert done.returncode == 0, done.stdout + done.stderr
    log = done.stdout + done.stderr
    assert log.count("is launching 3 jobs") == 1 and log.count("is launching 1 jobs") == 1
    # Parallel processes, the same numbers as one process running the trials one after another.
    assert read_table(folder / TABLE, "trainer.epochs") == read_table(search / TABLE, "trainer.epochs")


def test_dry_run_shows_the_rungs_and_their_budgets_and_writes_nothing(tmp_path, capsys):
    out = []
    # conf/hparams_search/uvb_lr_halving.yaml's 9 rates (hydra.sweeper.params) on tiny runs of synthetic data.
    command = ["--dry-run", "-m", "+hparams_search=uvb_lr_halving", *TINY_UVB, f"hydra.sweep.dir={tmp_path / 'search'}"]
    code, err = run_uvb_train_in_process(command, capsys, out)
    assert code == 0, err
    assert out[0].splitlines()[1:] == [
        "successive halving of 9 configurations on trainer.epochs, eta 3:",
        "  rung 1: 9 configurations to trainer.epochs=1",
        "  rung 2: 3 configurations to trainer.epochs=3",
        "  rung 3: 1 configuration to trainer.epochs=9",
        "  21 epochs trained in all, against 81 for the exhaustive grid (26%)",
    ]
    assert list(tmp_path.iterdir()) == []
    code, err = run_uvb_train_in_process([*command, "sigma=0.5,1.0", "hydra.sweeper.min_budget=3"], capsys, out)
    assert code == 0, err
    assert out[1].splitlines()[1:] == [  # the command's sweeps add to the grid; one left goes straight to the full budget
        "successive halving of 18 configurations on trainer.epochs, eta 3:",
        "  rung 1: 18 configurations to trainer.epochs=3",
        "  rung 2: 6 configurations to trainer.epochs=9",
        "  90 epochs trained in all, against 162 for the exhaustive grid (56%)",
    ]
    code, err = run_uvb_train_in_process([*command, "hydra.sweeper.eta=1"], capsys)
    assert code == 2 and "eta >= 2" in err


def test_a_lost_table_is_rebuilt_from_each_trials_rows_at_each_budget(search, tmp_path):
    folder = tmp_path / "lr"
    shutil.copytree(search, folder)
    rows = {path: path.read_bytes() for path in folder.glob("*/metrics.jsonl")}
    (folder / TABLE).unlink()
    done = uvb_train_here([*SEARCH, f"hydra.sweep.dir={folder}"])
    assert done.returncode == 0, done.stdout + done.stderr
    # The survivor, trained to 3 epochs, scored at 1 by its epoch-1 row (not its final loss); nothing trained again.
    assert (folder / TABLE).read_bytes() == (search / TABLE).read_bytes()
    assert {path: path.read_bytes() for path in rows} == rows


def test_a_relaunch_with_other_rungs_reads_each_trial_at_its_row_or_is_refused_where_it_has_none(search, tmp_path, capsys):
    folder = tmp_path / "lr"
    shutil.copytree(search, folder)
    survivor = runs_by_lr(folder)[1e-2]
    survivor_rows = (survivor / "metrics.jsonl").read_bytes()
    # min_budget 2: the survivor trained to 3 is read at its epoch-2 row; the two others continue from 1 to 2 epochs.
    code, err = run_uvb_train_in_process([*SEARCH, f"hydra.sweep.dir={folder}", "hydra.sweeper.min_budget=2"], capsys)
    assert code == 0, err
    (epoch_2,) = [row for row in run_files.read_metrics(survivor) if row.get("eval") == "epoch_end" and row["epoch"] == 2]
    assert read_table(folder / TABLE, "trainer.epochs")["trainer.lr=0.01"][2] == epoch_2["val_loss"]
    assert (survivor / "metrics.jsonl").read_bytes() == survivor_rows
    # On a budget of steps a trial has no row between its evaluations: it trained past step 2 and cannot be read there.
    steps = tmp_path / "steps"
    command = ["-m", "hydra/sweeper=successive_halving", *TINY_UVB, "trainer.epochs=3", "trainer.max_steps=9", "trainer.lr=1e-6,1e-2,3e-3",
               "hydra.sweeper.budget_key=trainer.max_steps", "hydra.sweeper.max_budget=9", f"hydra.sweep.dir={steps}"]
    code, err = run_uvb_train_in_process(command, capsys)
    assert code == 0, err
    code, err = run_uvb_train_in_process(["--dry-run", *command, "hydra.sweeper.min_budget=2"], capsys)
    assert code == 2 and err.count("\n") == 1 and "is of a search with other rungs, trainer.lr=0.01 (trained to 9, no loss at 2)" in err, err


def test_a_damaged_row_of_a_trial_is_refused_in_one_line_naming_its_file(search, tmp_path, capsys):
    folder = tmp_path / "lr"
    shutil.copytree(search, folder)
    metrics = runs_by_lr(folder)[1e-2] / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "step": "two"})
    metrics.write_text("\n".join(lines) + "\n")
    (folder / TABLE).unlink()
    code, err = run_uvb_train_in_process([*SEARCH, f"hydra.sweep.dir={folder}"], capsys)
    assert code == 2 and f"uvb-train: error: {metrics}: line 2: 'step' is 'two'\n" in err, err
    assert "Traceback" not in err


def test_a_search_without_a_validation_split_is_refused_before_anything_is_written(tmp_path, capsys):
    command = ["-m", "hydra/sweeper=successive_halving", *TINY_UVB, "data.val_fraction=0", "trainer.lr=1e-3,1e-2", f"hydra.sweep.dir={tmp_path / 'lr'}"]
    for dry_run in ([], ["--dry-run"]):
        code, err = run_uvb_train_in_process([*dry_run, *command], capsys)
        assert code == 2 and err.count("\n") == 1 and "add data.val_fraction=0.1" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_second_launch_into_a_search_folder_is_refused_naming_the_process_that_holds_it(search, tmp_path, capsys):
    folder = tmp_path / "lr"
    shutil.copytree(search, folder)
    files = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    # Another launch of the search, as the OS sees it: a process holding the folder's lock.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(60)"), str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        for dry_run in ([], ["--dry-run"]):
            code, err = run_uvb_train_in_process([*dry_run, *SEARCH, f"hydra.sweep.dir={folder}"], capsys)
            assert code == 2 and err == (f"uvb-train: error: {folder} is in use by another launch of this search (process {holder.pid} "
                                         "holds its lock); wait for it to end, or stop it, then run this command again\n"), err
        assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == files
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a launch killed outright leaves no lock behind
        holder.wait()
    code, err = run_uvb_train_in_process([*SEARCH, f"hydra.sweep.dir={folder}"], capsys)
    assert code == 0, err

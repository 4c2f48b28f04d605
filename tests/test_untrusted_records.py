"""Records read back are data (issue 31): a crafted protocol.json runs nothing, a run folder it names never leads out of
the sweep folder, and a damaged summary.json, metrics.jsonl, identity.json or config.yaml is one line and exit 2 in every
reader (uvb-report, the scripts, load_run, uvb-figures, uvb-train and its --dry-run), naming the file and the field,
fast: no traceback, no hang, no RecursionError."""

import contextlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_run_folders import FIXTURE_ARGS, tree

import uvb_lab
from conftest import REPO, TINY, compose_config, run_uvb_train_in_process
from hand_made_runs import table_identity, write_run
from uvb_lab.figures import cli as figures_cli
from uvb_lab.report import main as report
from uvb_lab.run.records import RecordError

FIXTURE = REPO / "tests" / "fixtures" / "run_made_by_v0.1.0"
CELL = "model=uvb sigma=1.0"


@contextlib.contextmanager
def within(seconds: float):
    """The block must answer within `seconds`: TimeoutError otherwise, so a hang fails the test instead of the suite."""

    def expire(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def script(name: str):
    """scripts/<name>.py as a module: its main() runs in this process (seconds of imports saved per call)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refused(err: str, prefix: str) -> str:
    """err is one line, the prefix's, without a traceback; that line."""
    assert err.count("\n") == 1 and err.startswith(prefix) and "Traceback" not in err, err
    return err


def tuned_sweep(root: Path, chosen_overrides: tuple[str, ...] = ()) -> Path:
    """A tune-then-test folder as uvb-train leaves it, by hand: one UVB cell, test seeds 1 and 2 with two epochs each."""
    runs = {}
    for seed in (1, 2):
        rows = [{"step": 10 * e, "epoch": float(e), "eval": "epoch_end", "epoch_time_s": 1.0, "test_loss": 5.0 - e + seed,
                 "test_kl_on_y": 3.0, "test_kl_on_x": 2.0, "test_recon_on_x": 20.0} for e in (1, 2)]
        identity = table_identity("uvb", "mnist", 1.0, **{"trainer.seed": seed})
        folder = write_run(root, f"uvb-seed{seed}", 100.0, identity, metrics=rows, model="uvb", sigma=1.0, test_loss=rows[-1]["test_loss"])
        shutil.copy(FIXTURE / "config.yaml", folder / "config.yaml")  # what load_run reads beside the summary
        runs[str(seed)] = f"uvb-seed{seed}"
    cell = {"cell": ["model=uvb", "sigma=1.0", "data=synthetic", *TINY["uvb"]], "chosen": "trainer.lr=0.001",
            "chosen_overrides": ["trainer.lr=0.001", *chosen_overrides], "val_loss": {}, "test_runs": runs}
    (root / "protocol.json").write_text(json.dumps({"format": 1, "cells": {CELL: cell}, "budget_key": "trainer.epochs", "full_budget": 2}))
    return root


def refusals_of_the_sweep(sweep: Path, tmp_path: Path, capsys) -> dict[str, str]:
    """uvb-report and compute_matched on the sweep: each must refuse in one line (exit 2) and write nothing."""
    said = {}
    assert report([str(sweep), "--out", str(tmp_path / "report")]) == 2
    said["uvb-report"] = refused(capsys.readouterr().err, "uvb-report: error: ")
    assert script("compute_matched").main([str(sweep), "--out", str(tmp_path / "matched")]) == 2
    said["compute_matched"] = refused(capsys.readouterr().err, "compute_matched: error: ")
    assert not (tmp_path / "report").exists() and not (tmp_path / "matched").exists()
    return said


# -- No code from a record: the overrides protocol.json records are built through the allow-list (uvb_lab/rebuild.py).

def crafted_overrides(marker: Path) -> tuple[str, ...]:
    """Recorded overrides that make the cell's model `subprocess.call(args=[touch, marker])`: what composing them and
    instantiating the model did before (the model's own keys deleted, so the call takes the arguments it knows)."""
    keys = [key for key in compose_config(["model=uvb"]).model if key != "_target_"]
    return ("model._target_=subprocess.call", *(f"~model.{key}" for key in keys), f"+model.args=[touch,'{marker}']")


def test_a_protocol_json_whose_overrides_name_code_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    sweep = tuned_sweep(tmp_path / "sweep", crafted_overrides(marker))
    assert script("compute_matched").main([str(sweep), "--out", str(tmp_path / "matched")]) == 2
    err = refused(capsys.readouterr().err, "compute_matched: error: ")
    assert f"{sweep / 'protocol.json'}: cells['{CELL}']: model._target_=subprocess.call is not one of uvb-lab's model constructors" in err
    assert not marker.exists() and not (tmp_path / "matched").exists()


def test_tune_then_test_report_only_builds_nothing_a_protocol_json_names(tmp_path):
    # The script a user runs on a shared sweep folder: uvb-report (which builds nothing), then compute_matched.
    marker, experiment = tmp_path / "pwned", f"crafted-{uuid.uuid4().hex[:8]}"
    tuned_sweep(tmp_path / "multirun" / experiment, crafted_overrides(marker))
    published = REPO / "docs" / "results" / experiment
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        done = subprocess.run(["bash", str(REPO / "scripts" / "tune_then_test.sh"), experiment, "--report-only"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "model._target_=subprocess.call is not one of uvb-lab's model constructors" in done.stderr
        assert not marker.exists()
        assert not published.exists()  # nothing copied into the repository's results
    finally:
        if published.is_dir():  # made by this test alone (a name of its own), by the code before the fix
            shutil.rmtree(published)


@pytest.mark.parametrize("name", ["../outside", "/absolute", "..", "a/../../outside"])
def test_a_test_run_named_outside_the_sweep_folder_is_never_read(tmp_path, capsys, name):
    sweep = tuned_sweep(tmp_path / "sweep")
    write_run(tmp_path, "outside", 100.0, table_identity("uvb", "mnist", 1.0, **{"trainer.seed": 3}), model="uvb", sigma=1.0, test_loss=1.0)
    record = json.loads((sweep / "protocol.json").read_text())
    record["cells"][CELL]["test_runs"]["1"] = str(tmp_path / "outside") if name == "/absolute" else name
    (sweep / "protocol.json").write_text(json.dumps(record))
    for err in refusals_of_the_sweep(sweep, tmp_path, capsys).values():
        assert f"{sweep / 'protocol.json'}: cells['{CELL}'].test_runs['1'] is " in err and "not the name of a folder inside the sweep folder" in err


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda record: record["cells"].pop(CELL) and {**record, "cells": [1]}, "cells is [1], not an object"),
        (lambda record: record["cells"][CELL].update(chosen_overrides="trainer.lr=1") or record, "cells['model=uvb sigma=1.0'].chosen_overrides is"),
        (lambda record: record["cells"][CELL]["test_runs"].update(one="uvb-seed1") or record, f"cells['{CELL}'].test_runs key is 'one', not an integer"),
        (lambda record: {**record, "full_budget": "2"}, "full_budget is '2', not an integer"),
    ],
    ids=["cells", "overrides", "seed", "budget"],
)
def test_a_mistyped_protocol_json_is_one_line_naming_the_field(tmp_path, capsys, damage, says):
    sweep = tuned_sweep(tmp_path / "sweep")
    (sweep / "protocol.json").write_text(json.dumps(damage(json.loads((sweep / "protocol.json").read_text()))))
    for err in refusals_of_the_sweep(sweep, tmp_path, capsys).values():
        assert f"{sweep / 'protocol.json'}: {says}" in err


def test_a_truncated_protocol_json_is_one_line(tmp_path, capsys):
    sweep = tuned_sweep(tmp_path / "sweep")
    (sweep / "protocol.json").write_text((sweep / "protocol.json").read_text()[:100])
    for err in refusals_of_the_sweep(sweep, tmp_path, capsys).values():
        assert f"{sweep / 'protocol.json'}: not a readable protocol record" in err


# -- summary.json and metrics.jsonl: typed, finite where a number must be, refused by every reader.

DEEP = "[" * 100_000 + "]" * 100_000  # a RecursionError in json.loads


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (lambda s: json.dumps({**s, "sigma": math.nan}), "'sigma' is nan, not a finite number > 0"),
        (lambda s: json.dumps({**s, "sigma": math.inf}), "'sigma' is inf, not a finite number > 0"),
        (lambda s: json.dumps({**s, "sigma": 1e308}), "'sigma' is 1e+308, not a finite number > 0"),
        (lambda s: json.dumps({**s, "sigma": "abc"}), "'sigma' is 'abc', not a int or float"),
        (lambda s: json.dumps({**s, "test_loss": "low"}), "'test_loss' is 'low', not a int or float or NoneType"),
        (lambda s: json.dumps({**s, "steps_done": 2.5}), "'steps_done' is 2.5, not a int or NoneType"),
        (lambda s: json.dumps({**s, "epochs_done": 10**30}), "'epochs_done' is 1000000000000000000000000000000, not an integer from 0"),
        (lambda s: json.dumps({**s, "status": "done"}), "'status' is 'done', not one of running, finished"),
        (lambda s: json.dumps([s]), "is not a summary (a JSON object of fields)"),
        (lambda s: DEEP, "nests its values deeper than a record of uvb-lab can"),
    ],
    ids=["nan", "inf", "1e308", "text", "text-loss", "fraction-count", "huge-count", "status", "list", "deep"],
)
def test_a_damaged_summary_is_one_line_and_exit_2_in_every_reader(tmp_path, capsys, text, says):
    sweep = tuned_sweep(tmp_path / "sweep")
    path = sweep / "uvb-seed1" / "summary.json"
    path.write_text(text(json.loads(path.read_text())))
    before = tree(sweep)
    said = refusals_of_the_sweep(sweep, tmp_path, capsys)
    assert script("tables45_progress").main([str(sweep), "--out", str(tmp_path / "progress")]) == 2
    said["tables45_progress"] = refused(capsys.readouterr().err, "tables45_progress: error: ")
    assert script("paired_seeds").main(["--a", str(sweep / "uvb-seed1"), "--b", str(sweep / "uvb-seed2")]) == 2
    said["paired_seeds"] = refused(capsys.readouterr().err, "paired_seeds: ")
    for reader, err in said.items():
        assert str(path) in err and says in err, reader
    with pytest.raises(RecordError, match=re.escape(str(path))):
        uvb_lab.load_run(sweep / "uvb-seed1")
    assert tree(sweep) == before


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("[20, 2.0, 4.0]", "line 2 is list [20, 2.0, 4.0], not a row (a JSON object)"),
        ('{"step": 20, "epoch": 2.0, "eval": "epoch_end", "test_loss": "low"}', "line 2: 'test_loss' is 'low', not a number"),
        ('{"step": "20", "epoch": 2.0, "eval": "epoch_end", "test_loss": 4.0}', "line 2: 'step' is '20', not an integer >= 0"),
        ('{"step": 20, "epoch": 2.0, "eval": ["epoch_end"], "test_loss": 4.0}', "line 2: 'eval' is ['epoch_end'], not text"),
        (DEEP, "line 2 nests its values deeper than a row of uvb-train can"),
    ],
    ids=["list", "text-loss", "text-step", "list-eval", "deep"],
)
def test_a_damaged_metrics_row_is_one_line_and_exit_2_in_every_reader(tmp_path, capsys, row, says):
    sweep = tuned_sweep(tmp_path / "sweep")
    path = sweep / "uvb-seed1" / "metrics.jsonl"
    path.write_text(path.read_text().splitlines()[0] + "\n" + row + "\n")
    said = refusals_of_the_sweep(sweep, tmp_path, capsys)
    assert script("tables45_progress").main([str(sweep), "--out", str(tmp_path / "progress")]) == 2
    said["tables45_progress"] = refused(capsys.readouterr().err, "tables45_progress: error: ")
    assert script("paired_seeds").main(["--a", str(sweep / "uvb-seed1"), "--b", str(sweep / "uvb-seed2")]) == 2
    said["paired_seeds"] = refused(capsys.readouterr().err, "paired_seeds: ")
    for reader, err in said.items():
        assert f"{path}, {says}" in err, reader
    with pytest.raises(RecordError, match="line 2"):
        uvb_lab.load_run(sweep / "uvb-seed1")


def test_a_run_with_a_damaged_metrics_row_does_not_continue(tmp_path, capsys):
    # A continued run keeps the rows up to its checkpoint's step: a row it cannot read is refused before any write.
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"step": 1, "epoch": 0.5, "train_loss": [1]}\n')
    before = tree(run_dir)
    for dry_run in (["--dry-run"], []):
        out: list[str] = []
        code, err = run_uvb_train_in_process([*dry_run, *FIXTURE_ARGS, f"hydra.run.dir={run_dir}"], capsys, out)
        assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert f"{run_dir / 'metrics.jsonl'}, line 2: 'train_loss' is [1], not a number" in out[0] + err  # the plan is on stdout
    assert tree(run_dir) == before


def test_a_summary_damaged_in_a_run_folder_is_read_from_its_checkpoint(tmp_path, capsys):
    # summary.json is rewritten at every evaluation, its checkpoint holds the same summary: the run continues from that.
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "epochs_done": "one"}))
    out: list[str] = []
    code, err = run_uvb_train_in_process(["--dry-run", *FIXTURE_ARGS, f"hydra.run.dir={run_dir}"], capsys, out)
    assert code == 0 and "Traceback" not in err, err
    assert "continue" in out[0] and "at step 2, 1 epochs done" in out[0]


def test_a_diverged_loss_is_shown_as_one_not_refused(tmp_path, capsys):
    # uvb-train writes a loss that is not finite as null; NaN or Infinity from another writer reads the same.
    root = tmp_path / "runs"
    write_run(root, "uvb", 100, model="uvb", sigma=0.3, train_loss=2.7, test_loss=3.01)
    diverged = write_run(root, "deen", 100, model="deen", sigma=0.3, status="failed", train_loss=2.7, test_loss=3.0)
    (diverged / "summary.json").write_text((diverged / "summary.json").read_text().replace("3.0", "NaN").replace("2.7", "Infinity"))
    assert report([str(root), "--out", str(tmp_path / "report")]) == 0
    rows = {row["folder"]: row for row in map(json.loads, (tmp_path / "report" / "runs.jsonl").read_text().splitlines())}
    assert rows[str(diverged)]["test_loss"] is None and rows[str(diverged)]["train_loss"] is None


# -- Bounded readers: YAML aliases and deep nesting in a run folder's config.yaml, deep JSON in identity.json.

BILLION_LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (lambda text: BILLION_LAUGHS + text, "holds a YAML alias (*l0), which uvb-train never writes"),
        (lambda text: text + "deep: " + "[" * 50_000 + "]" * 50_000 + "\n", "nests values more than 32 levels deep"),
        (lambda text: text + "".join("  " * i + f"k{i}:\n" for i in range(600)) + "  " * 600 + "v: 1\n", "nests values more than 32 levels deep"),
    ],
    ids=["aliases", "deep-flow", "deep-block"],
)
def test_a_config_yaml_that_would_expand_or_recurse_is_refused_fast_by_every_reader(tmp_path, capsys, config, says):
    assert len(BILLION_LAUGHS) < 500  # 9^9 strings once expanded
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)  # uvb-lab 0.1.0's format: config.yaml is its only record of the identity
    (run_dir / "config.yaml").write_text(config((run_dir / "config.yaml").read_text()))
    before = tree(run_dir)
    expected = f"{run_dir / 'config.yaml'} {says}"
    with within(30):
        assert report([str(run_dir), "--out", str(tmp_path / "report")]) == 2
        assert expected in refused(capsys.readouterr().err, "uvb-report: error: ")
        assert figures_cli.main([str(run_dir), "--device", "cpu", "--no-mixing"]) == 2
        assert expected in refused(capsys.readouterr().err, "uvb-figures: error: ")
        with pytest.raises(RecordError, match=re.escape(says.split(" (")[0])):
            uvb_lab.load_run(run_dir)
        for dry_run in (["--dry-run"], []):
            out: list[str] = []
            code, err = run_uvb_train_in_process([*dry_run, *FIXTURE_ARGS, f"hydra.run.dir={run_dir}"], capsys, out)
            assert code == 2 and expected in out[0] + err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert tree(run_dir) == before


def test_an_identity_json_nested_without_end_is_one_line(tmp_path, capsys):
    root = tmp_path / "runs"
    run_dir = write_run(root, "uvb", 100, model="uvb", sigma=0.3, test_loss=3.0)
    (run_dir / "identity.json").write_text('{"identity": ' + DEEP + "}")
    with within(30):
        assert report([str(root), "--out", str(tmp_path / "report")]) == 2
    assert f"{run_dir / 'identity.json'} nests its values deeper" in refused(capsys.readouterr().err, "uvb-report: error: ")


def test_a_search_json_nested_without_end_is_one_line(tmp_path, capsys):
    # search.json records the settings a search's trials share; a relaunch reads it before anything is written.
    sweep = tmp_path / "search"
    sweep.mkdir()
    (sweep / "search.json").write_text('{"format": 1, "shared": ' + DEEP + "}")
    command = ["-m", "hydra/sweeper=successive_halving", "model=uvb", "data=synthetic", "data.val_fraction=0.25", "logger=none",
               *TINY["uvb"], "trainer.lr=1e-3,1e-2", "trainer.epochs=1", f"hydra.sweep.dir={sweep}"]
    for dry_run in (["--dry-run"], []):
        out: list[str] = []
        with within(30):
            code, err = run_uvb_train_in_process([*dry_run, *command], capsys, out)
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert f"{sweep / 'search.json'} nests its values deeper" in out[0] + err
    assert [p.name for p in sweep.iterdir()] == ["search.json"]

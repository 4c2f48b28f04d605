"""Tuning on a validation split: data.val_fraction, the value a job returns to Hydra's sweeper, and the
Optuna search of conf/hparams_search/ run for real (tiny models, synthetic data, a few trials)."""

import json
import math
import sqlite3

import torch
from omegaconf import OmegaConf

from conftest import QUICK, TINY, run_uvb_train_in_process
from uvb_lab.data.images import ImageData
from uvb_lab.data.validation import hold_out
from uvb_lab.launch.job import sweeper_objective

TINY_UVB = ["model=uvb", *QUICK, *TINY["uvb"], "logger=none"]


def test_the_validation_split_is_the_same_held_out_images_in_every_run():
    images = torch.arange(100, dtype=torch.float32).reshape(100, 1, 1, 1)
    data = ImageData("counting", images, images[:10], train_labels=torch.arange(100), test_labels=torch.arange(10))
    split = hold_out(data, 0.2)
    again = hold_out(data, 0.2)
    train, val = split.train.flatten().tolist(), split.validation.flatten().tolist()
    assert (len(train), len(val)) == (80, 20)
    assert sorted(train + val) == list(range(100))  # every image on exactly one side
    assert val == again.validation.flatten().tolist()
    assert split.validation_labels.tolist() == val and split.train_labels.tolist() == train  # labels follow
    assert split.test is data.test
    assert hold_out(data, 0.0) is data  # the default: the paper's protocol, nothing held out


def test_a_run_with_a_validation_split_scores_it_and_returns_its_loss(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, stderr = run_uvb_train_in_process([*TINY_UVB, "data.val_fraction=0.25", f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    evaluations = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluations = [row for row in evaluations if "eval" in row]
    assert evaluations and all(math.isfinite(row["val_loss"]) and math.isfinite(row["test_loss"]) for row in evaluations)
    assert summary["val_loss"] == evaluations[-1]["val_loss"] != summary["test_loss"]
    assert "384 train / 128 validation / 128 test images" in (run_dir / "train.log").read_text()
    # What a sweeper minimises: the validation loss, never a test number; without one, and for a failed job, the worst.
    assert sweeper_objective(summary) == summary["val_loss"]
    assert sweeper_objective({"test_loss": 3.5}) == math.inf
    assert sweeper_objective(None) == math.inf
    assert sweeper_objective({"test_loss": math.nan}) == math.inf


def _trials(database) -> list[tuple[float, float]]:
    """(lr, value) of every finished trial in an Optuna study's sqlite storage."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT p.param_value, v.value FROM trial_params p JOIN trial_values v ON p.trial_id = v.trial_id "
            "JOIN trials t ON t.trial_id = p.trial_id WHERE t.state = 'COMPLETE' ORDER BY p.trial_id"
        ).fetchall()


def test_the_optuna_search_tunes_lr_on_the_validation_loss_and_a_relaunch_adds_trials(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    search = ["-m", "+hparams_search=uvb_lr_mnist", *TINY_UVB, "hydra.sweeper.n_trials=3"]
    stdout: list[str] = []
    code, stderr = run_uvb_train_in_process(search, capsys, stdout)
    assert code == 0, stderr
    assert "OptunaSweeper picks each trial's values" in stdout[0]
    sweep = tmp_path / "multirun" / "hparams_search" / "uvb_lr_synthetic"  # named by the model and data it tunes on
    runs = sorted(path for path in sweep.iterdir() if (path / "summary.json").is_file())
    summaries = {run.name: json.loads((run / "summary.json").read_text()) for run in runs}
    assert len(runs) == 3 and all(s["status"] == "finished" for s in summaries.values())
    trials = _trials(sweep / "optuna.db")
    lrs = {OmegaConf.load(run / "config.yaml").trainer.lr: summaries[run.name]["val_loss"] for run in runs}
    # Each trial is named by what it tries, not by the sizes every trial shares (which made a hash of the name).
    assert sorted(run.name for run in runs) == sorted(f"uvb-synthetic-sigma1.0-lr{lr!r}" for lr in lrs)
    assert all(OmegaConf.load(run / "config.yaml").run.name == run.name for run in runs)
    assert sorted(trials) == sorted(lrs.items())  # each trial's value is its run's final validation loss
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best["best_value"] == min(lrs.values()) and lrs[best["best_params"]["trainer.lr"]] == best["best_value"]
    assert "3 runs in" in stderr and "(3 finished)" in stderr

    # A relaunch (another sampler seed: the same seed proposes the same first values) continues the study:
    # one more trial in a folder of its own, the runs already made untouched.
    before = {run.name: (run / "summary.json").read_bytes() for run in runs}
    code, stderr = run_uvb_train_in_process([*search[:-1], "hydra.sweeper.n_trials=1", "hydra.sweeper.sampler.seed=1"], capsys)
    assert code == 0, stderr
    assert len(_trials(sweep / "optuna.db")) == 4
    assert len([path for path in sweep.iterdir() if (path / "summary.json").is_file()]) == 4
    assert all((sweep / name / "summary.json").read_bytes() == content for name, content in before.items())
    # The trials saw the validation split only (the search's config), and the report reads the folder as a search.
    assert all(s.get("test_loss") is None for s in summaries.values())
    from uvb_lab.report import main as report

    assert report(["--out", str(tmp_path / "report"), str(sweep)]) == 0
    markdown = capsys.readouterr().out
    best_name = min(summaries, key=lambda name: summaries[name]["val_loss"])
    assert f"4 trials, best val_loss first. The best: {best_name} (trainer.lr=" in markdown
    assert markdown.split("## The search in", 1)[1].count("| finished |") == 4

    # Other shared settings into the same folder would mix two searches in one study: refused, nothing written.
    files = sorted(str(path) for path in sweep.rglob("*"))
    deen = ["-m", "+hparams_search=uvb_lr_mnist", "model=deen", *QUICK, *TINY["deen"], "logger=none"]
    code, stderr = run_uvb_train_in_process([*deen, f"hydra.sweep.dir={sweep}"], capsys, stdout)
    assert code == 2, stderr
    assert "holds a search of other settings (model._target_: uvb_lab.models.UVB -> uvb_lab.models.DEEN" in stdout[-1]
    assert sorted(str(path) for path in sweep.rglob("*")) == files
    # Left to its own folder, a search of another model or data goes where its name says.
    for other, folder in ((deen, "deen_lr_synthetic"), ([*search[:-1], "data=gmm"], "uvb_lr_gmm")):
        code, stderr = run_uvb_train_in_process([*other, "--dry-run"], capsys, stdout)
        assert code == 0 and f"a search in {tmp_path / 'multirun' / 'hparams_search' / folder}:" in stdout[-1], stdout[-1]


def test_the_search_report_ranks_by_validation_labels_test_numbers_as_tuning_runs_and_flags_a_best_at_the_grids_edge(tmp_path, capsys):
    from hand_made_runs import table_identity, write_run
    from uvb_lab.report import main as report

    def search(folder, losses):  # trainer.lr -> (validation loss, test loss) of its trial
        (folder / "search.json").parent.mkdir(parents=True)
        (folder / "search.json").write_text(json.dumps({"format": 1, "searched_by": "OptunaSweeper", "shared": {}}))
        for lr, (val_loss, test_loss) in losses.items():
            write_run(folder, f"uvb-lr{lr}", 100.0, table_identity("uvb", "mnist", 1.0, **{"trainer.lr": lr}), model="uvb", sigma=1.0,
                      val_loss=val_loss, test_loss=test_loss)
        assert report([str(folder), "--out", str(tmp_path / folder.name / "report")]) == 0
        return capsys.readouterr().out.split("## The search in", 1)[1].split("###", 1)[0]

    # The best on validation is the largest rate tried; another is best on the test set, which chose nothing.
    section = search(tmp_path / "edge", {1e-4: (5.0, 5.1), 1e-3: (4.0, 4.2), 1e-2: (3.0, 9.0)})
    assert ("3 trials, best val_loss first. The best: uvb-lr0.01 (trainer.lr=0.01), val_loss 3.00. ⚠ at the grid's edge "
            "(trainer.lr=0.01 is the largest value tried): widen the grid.") in section
    assert "A trial's test loss is that of a tuning run (the search chose its setting on the validation split), not of a fresh seed" in section
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    assert rows[0][:3] == ["| trainer.lr", "val_loss", "test loss (a tuning run's)"]
    assert [row[1:3] for row in rows[1:]] == [["3.00", "9.00"], ["4.00", "4.20"], ["5.00", "5.10"]]
    # Inside the grid: no flag.
    section = search(tmp_path / "inside", {1e-4: (5.0, 5.1), 1e-3: (3.0, 3.2), 1e-2: (4.0, 4.1)})
    assert "The best: uvb-lr0.001 (trainer.lr=0.001), val_loss 3.00." in section and "grid's edge" not in section

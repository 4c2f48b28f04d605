"""Comparing runs: runs.csv / runs.jsonl read into numbers, seeds aggregated into mean ± 95% t-interval (n), the UVB -
DEEN row with Welch's interval and the comparisons table beside it (paired only where both fingerprints match), a paper
cell that takes only the table's settings and counts one run once, the figures, and load_run / load_runs for notebooks.
Run folders are written by hand: nothing is trained."""

import csv
import json
import math
import shutil
import statistics
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from scipy import stats as scipy_stats

import uvb_lab
from conftest import run_python
from hand_made_runs import table_identity, write_run
from uvb_lab.report import main
from uvb_lab.report.learning_curves import evaluation_curve
from uvb_lab.report.runs import read_run
from uvb_lab.report.stats import bootstrap_interval, seeds_for_power, seeds_text

FIXTURE = Path(__file__).parent / "fixtures" / "run_made_by_v0.1.0"
PROVENANCE = {"git_commit": "0123abc", "package_versions": {"torch": "2.13.0", "hydra-core": "1.3.2", "numpy": "2.1.3", "uvb-lab": "0.1.0"},
              "precision": "tf32", "threads": 16, "device": "cuda:0", "wall_time_s": 3600.5, "samples_per_s": 16660.0}
# Columns that hold text (or JSON text) by design; every other non-empty cell of runs.csv is a number.
TEXT_COLUMNS = {"folder", "status", "model", "dataset", "git_commit", "precision", "device", "device_name", "python_version",
                "identity_digest", "settings_digest", "test_noise_fingerprint"}


def curve(final: float, epochs: int = 3, steps_per_epoch: int = 469) -> list[dict]:
    """metrics.jsonl in the new format: training rows every 100 steps, an evaluation row at each epoch end."""
    rows = []
    for epoch in range(1, epochs + 1):
        end = epoch * steps_per_epoch
        rows += [{"step": step, "epoch": step / steps_per_epoch, "train_loss": final + 1.0, "samples_per_s": 9000.0}
                 for step in range(end - steps_per_epoch + 100, end, 100)]
        rows.append({"step": end, "epoch": float(epoch), "eval": "epoch_end", "test_loss": final + 2.0 / epoch,
                     "test_denoising_loss": final + 2.0 / epoch, "train_loss": final + 1.0, "epoch_time_s": 30.0})
    return rows


def seeds(root: Path, model: str, sigma: float, test_losses: list[float], mtime: float = 100, stream: str | None = None) -> None:
    """Runs of seeds 0, 1, ... of one cell; stream: their training streams' fingerprints are stream0, stream1, ... (two
    models trained on the same batches share them), None: made before uvb-lab recorded one."""
    for seed, loss in enumerate(test_losses):
        identity = table_identity(model, "mnist", sigma, **{"trainer.seed": seed})
        recorded = {} if stream is None else {"train_stream_fingerprint": f"{stream}{seed}"}
        write_run(root, f"{model}-mnist-sigma{sigma}-seed{seed}", mtime + seed, identity=identity, metrics=curve(loss),
                  model=model, sigma=sigma, train_loss=loss - 0.5, test_loss=loss, steps_done=187_600, **PROVENANCE, **recorded)


def rows_of(markdown: str, title_start: str) -> dict[str, list[str]]:
    section = markdown.split(f"### {title_start}", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    return {row[0]: row[1:] for row in rows}


def test_three_seeds_aggregate_into_mean_95_interval_n_and_uvb_minus_deen_has_welchs_interval(tmp_path, capsys):
    root = tmp_path / "runs"
    seeds(root, "uvb", 0.5, [6.0, 6.2, 6.7])
    seeds(root, "deen", 0.5, [6.5, 6.6, 6.7])
    seeds(root, "uvb", 1.0, [15.5])
    seeds(root, "deen", 1.0, [19.0])
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out)]) == 0
    markdown = capsys.readouterr().out
    t2 = rows_of(markdown, "Table 2")
    column = {"0.5": 2, "1.0": 7}
    # mean 6.3; sample std sqrt(((-0.3)^2 + (-0.1)^2 + 0.4^2) / 2) = sqrt(0.13) = 0.3606, t(0.975, 2) 0.3606 / sqrt(3) = 0.90;
    # delta (6.3 - 5.94) / 5.94.
    assert t2["UVB test"][column["0.5"]] == "6.30 ± 0.90 (n=3) / 5.94 (+6.1%)"
    assert t2["DEEN test"][column["0.5"]] == "6.60 ± 0.25 (n=3) / 6.47 (+2.0%)"
    # -0.3, standard error sqrt(0.13/3 + 0.01/3) = 0.216 on Welch-Satterthwaite's 2.31 degrees of freedom: ± 0.82; the
    # paper's 5.94 - 6.47.
    assert t2["UVB - DEEN test"][column["0.5"]] == "-0.30 ± 0.82 / -0.53"
    assert t2["UVB test"][column["1.0"]] == "15.5 / 15.0 (+3.3%)"  # n = 1: no ±, no n
    assert t2["UVB - DEEN test"][column["1.0"]] == "-3.5 / -4.9"  # n = 1 on both sides: no standard error

    rows = list(csv.DictReader((out / "table2_mnist.csv").open()))
    uvb = next(r for r in rows if r["row"] == "UVB test" and r["sigma"] == "0.5")
    assert float(uvb["value"]) == pytest.approx(6.3)
    assert float(uvb["std"]) == pytest.approx(statistics.stdev([6.0, 6.2, 6.7])) == pytest.approx(math.sqrt(0.13))
    assert float(uvb["half_width_95"]) == pytest.approx(4.302652729911275 * math.sqrt(0.13 / 3))
    assert int(uvb["n"]) == 3 and float(uvb["paper"]) == 5.94
    difference = next(r for r in rows if r["row"] == "UVB - DEEN test" and r["sigma"] == "0.5")
    assert float(difference["value"]) == pytest.approx(-0.3)
    se, df = math.sqrt(0.13 / 3 + 0.01 / 3), (0.14 / 3) ** 2 / ((0.13 / 3) ** 2 / 2 + (0.01 / 3) ** 2 / 2)
    assert float(difference["se"]) == pytest.approx(se)
    assert float(difference["half_width_95"]) == pytest.approx(scipy_stats.t.ppf(0.975, df) * se)
    assert float(difference["paper"]) == pytest.approx(-0.53)
    assert difference["std"] == difference["n"] == difference["delta_percent"] == ""

    # The figures: a loss-vs-sigma with error bars and the learning curves, on a log axis too.
    for name in ("loss_vs_sigma.png", "learning_curves.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert main([str(root), "--out", str(tmp_path / "log"), "--log-y"]) == 0
    assert (tmp_path / "log" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def captions_say_what_plus_minus_is(markdown: str) -> None:
    """Every table of the report whose cells hold a ± says in its caption or header what the ± is: one meaning per table."""
    for section in markdown.split("\n### ")[1:]:
        table = "\n".join(line for line in section.splitlines() if line.startswith("| "))
        above = section.split("\n| ", 1)[0] + table.splitlines()[0]
        if "±" in table:
            assert ("95% t-interval" in above or "95% interval" in above) and "sample std)" not in above, section[:300]


def comparisons_of(markdown: str) -> dict[str, list[str]]:
    """The comparisons table's rows (header first, as '_header') by their 'at' column, each from its 'A − B' on."""
    section = markdown.split("### Comparisons", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    return {"_header": rows[0], **{row[1]: row for row in rows[1:]}}


def test_an_ordinary_seed_sweep_gets_95_intervals_and_differences_paired_only_where_both_fingerprints_match(tmp_path, capsys):
    # uvb-train -m model=uvb,deen sigma=0.5,1.0 trainer.seed=0,1,2: one noisy test set per sigma. At sigma 0.5 both models
    # trained on one training stream per seed; at 1.0 DEEN ran at another batch size, so its batches were others.
    root = tmp_path / "runs"
    seeds(root, "uvb", 0.5, [6.0, 6.2, 6.7], stream="batch128-seed")
    seeds(root, "deen", 0.5, [6.5, 6.6, 6.7], stream="batch128-seed")
    seeds(root, "uvb", 1.0, [15.5, 15.9, 16.4], stream="batch128-seed")
    seeds(root, "deen", 1.0, [19.0, 18.0, 18.6], stream="batch64-seed")
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out)]) == 0
    markdown = capsys.readouterr().out
    captions_say_what_plus_minus_is(markdown)
    rows = comparisons_of(markdown)
    assert rows["_header"] == ["A − B", "at", "Welch: difference of the means ± 95%", "paired: mean per-seed difference ± 95%", "seeds",
                               "p", "Holm p", "seeds for 80% power"]
    paired, unpaired = (rows[f"Table 2, MNIST, σ = {sigma}"][1:] for sigma in (0.5, 1.0))
    # sigma 0.5, paired: differences -0.5, -0.4, 0.0: mean -0.30, sd 0.265, t(0.975, 2) 0.265 / sqrt(3) = 0.66; Welch's ± 0.82 beside.
    assert paired[1:4] == ["-0.30 ± 0.82", "-0.30 ± 0.66 (n=3)", "paired: same test noise and training stream, seed by seed (0, 1, 2)"]
    # sigma 1.0: the same test noise, but not the same batches: Welch's interval alone, not called paired.
    assert unpaired[2] == "—" and unpaired[3] == "same test noise, seeds not paired: other training streams at seed 0, 1, 2 (another dataset, batch size or device)"
    # The p of each row's own test, and Holm's adjustment over the two.
    p_paired = scipy_stats.ttest_rel([6.0, 6.2, 6.7], [6.5, 6.6, 6.7]).pvalue
    p_welch = scipy_stats.ttest_ind([15.5, 15.9, 16.4], [19.0, 18.0, 18.6], equal_var=False).pvalue
    assert p_welch < p_paired
    assert paired[4] == f"{p_paired:.2g} (paired t)" and unpaired[4] == f"{p_welch:.2g} (Welch)"
    assert paired[5] == f"{max(2 * p_welch, p_paired):.2g}" and unpaired[5] == f"{2 * p_welch:.2g}"
    assert paired[6] == seeds_text(seeds_for_power(-0.3, statistics.stdev([-0.5, -0.4, 0.0])))
    records = {r["sigma"]: r for r in csv.DictReader((out / "comparisons.csv").open())}
    assert records["0.5"]["paired"] == "True" and records["1.0"]["paired"] == "False" and records["1.0"]["paired_difference"] == ""
    assert float(records["0.5"]["holm_p_value"]) == pytest.approx(max(2 * p_welch, p_paired))
    assert float(records["1.0"]["welch_p_value"]) == pytest.approx(p_welch) and records["0.5"]["bootstrap_low_95"] == ""

    # --bootstrap: a BCa interval column, the paired row's of its per-seed differences, the other's of the two sets.
    assert main([str(root), "--out", str(tmp_path / "bootstrapped"), "--bootstrap"]) == 0
    markdown = capsys.readouterr().out
    assert comparisons_of(markdown)["_header"][-1] == "bootstrap 95% (BCa)"
    records = {r["sigma"]: r for r in csv.DictReader((tmp_path / "bootstrapped" / "comparisons.csv").open())}
    differences = [6.0 - 6.5, 6.2 - 6.6, 6.7 - 6.7]
    assert (float(records["0.5"]["bootstrap_low_95"]), float(records["0.5"]["bootstrap_high_95"])) == pytest.approx(bootstrap_interval(differences))
    assert (float(records["1.0"]["bootstrap_low_95"]), float(records["1.0"]["bootstrap_high_95"])) == pytest.approx(
        bootstrap_interval([15.5, 15.9, 16.4], [19.0, 18.0, 18.6]))
    low, high = bootstrap_interval([15.5, 15.9, 16.4], [19.0, 18.0, 18.6])
    assert comparisons_of(markdown)["Table 2, MNIST, σ = 1.0"][-1] == f"{low:.1f} to {high:.1f}"


def test_a_table2_cell_takes_only_its_settings_and_counts_a_run_in_two_folders_once(tmp_path, capsys):
    multirun = tmp_path / "multirun"
    # Table 2's sigma = 1 UVB and Table 4/5's UVB are one run (same identity, same seed), trained in two folders.
    write_run(multirun / "table2_mnist", "uvb-mnist-sigma1.0", 100, model="uvb", sigma=1.0, train_loss=14.0, test_loss=15.1,
              test_kl_on_y=690.0, test_recon_on_x=51.0, **PROVENANCE)
    write_run(multirun / "table45_mnist", "uvb-mnist-sigma1.0", 200, model="uvb", sigma=1.0, train_loss=14.1, test_loss=15.3,
              test_kl_on_y=700.0, test_recon_on_x=52.0, **PROVENANCE)
    write_run(multirun / "table2_mnist", "uvb-mnist-sigma1.0-trainer.seed1", 100, identity=table_identity("uvb", "mnist", 1.0, **{"trainer.seed": 1}),
              model="uvb", sigma=1.0, train_loss=14.2, test_loss=15.5)
    # Not Table 2's settings: another lr; the table's settings but 2 epochs instead of 400.
    write_run(multirun / "lr", "uvb-mnist-sigma1.0-lr0.001", 100, identity=table_identity("uvb", "mnist", 1.0, **{"trainer.lr": 0.001}),
              model="uvb", sigma=1.0, train_loss=30.0, test_loss=31.0)
    write_run(multirun / "short", "uvb-mnist-sigma1.0", 100, model="uvb", sigma=1.0, epochs=2, epochs_done=2, train_loss=40.0, test_loss=41.0)
    out = tmp_path / "report"
    assert main([str(multirun), "--out", str(out)]) == 0
    markdown = capsys.readouterr().out

    # In the cell: the seed-0 run once (its newest folder, 15.3) and seed 1 (15.5): n = 2, not 3, 4 or 5; t(0.975, 1) 0.141 / sqrt(2)
    cell = rows_of(markdown, "Table 2")["UVB test"][-1]
    assert cell.startswith(f"15.4 ± 1.3 (n=2) / 15.0 ({100 * (15.4 - 15.0) / 15.0:+.1f}%)[")
    notes = markdown.split("### Table 2", 1)[1].split("###", 1)[0]
    assert (f"one run (same settings and seed) in 2 folders, counted once: {multirun / 'table45_mnist' / 'uvb-mnist-sigma1.0'} (shown); "
            f"also {multirun / 'table2_mnist' / 'uvb-mnist-sigma1.0'}") in notes
    assert (f"2 runs with other settings are in runs.csv, not in this cell: {multirun / 'lr' / 'uvb-mnist-sigma1.0-lr0.001'} "
            f"(trainer.lr=0.001, the cell's 0.0001); {multirun / 'short' / 'uvb-mnist-sigma1.0'} (2 epochs, the cell's 400)") in notes
    # Table 4 reads the same runs through Table 4/5's settings: KL on y of seed 0's newest folder and of seed 1 (none).
    assert rows_of(markdown, "Table 4")["UVB"][0].startswith("700 / 692 (+1.2%)[")

    # Every folder is a row of runs.csv, the refused ones too, with what tells them apart.
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert sorted(Path(r["folder"]).relative_to(multirun).parts[0] for r in runs) == ["lr", "short", "table2_mnist", "table2_mnist", "table45_mnist"]
    short = next(r for r in runs if "short" in r["folder"])
    assert (short["epochs"], short["trainer.lr"], short["trainer.seed"]) == ("2", "0.0001", "0")
    assert {r["trainer.lr"] for r in runs} == {"0.0001", "0.001"}
    # One identity and seed in three folders (the 2-epoch one too: epochs are not identity); seeds share their settings.
    assert len({r["identity_digest"] for r in runs if Path(r["folder"]).name == "uvb-mnist-sigma1.0"}) == 1
    assert len({r["settings_digest"] for r in runs if r["trainer.lr"] == "0.0001"}) == 1


def test_runs_csv_reads_into_numbers_and_load_runs_gives_its_rows(tmp_path):
    root = tmp_path / "runs"
    seeds(root, "uvb", 0.3, [3.1, 3.2])
    write_run(root, "deen-0.3-failed", 50, model="deen", sigma=0.3, status="failed", epochs_done=3, steps_done=1407, train_loss=None,
              test_loss=None, **PROVENANCE)
    write_run(root, "deen-0.3-old", 60, model="deen", sigma=0.3, train_loss=2.8, test_loss=2.9)  # written before provenance existed
    small = table_identity("uvb", "mnist", 0.4, **{"model.conv_channels": [4, 8]})
    write_run(root, "uvb-0.4-small", 70, identity=small, model="uvb", sigma=0.4, train_loss=5.0, test_loss=5.5, best_test_loss=5.4)
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out)]) == 0

    text = (out / "runs.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    header = text.splitlines()[0].split(",")
    assert len(rows) == 5
    # The identity keys that differ between these runs, and only those: model, widths, seed; not lr or batch size.
    assert {"trainer.seed", "model.conv_channels", "model._target_"} <= set(header)
    assert not {"trainer.lr", "trainer.batch_size", "run.model", "model.sigma"} & set(header)
    assert header[:5] == ["folder", "status", "model", "dataset", "sigma"]
    for column in ("num_params", "epochs", "epochs_done", "steps_done", "train_loss", "test_loss", "best_test_loss",
                   "wall_time_s", "samples_per_s", "threads", "version_torch", "version_hydra-core", "version_numpy", "version_uvb-lab"):
        assert column in header, column
    # Settings that are text (model._target_, model.likelihood._target_), lists ([4, 8], as JSON) or booleans (model.quadratic,
    # as JSON's false) by nature; all else is a number.
    settings = {**table_identity("uvb", "mnist", 0.3), **table_identity("deen", "mnist", 0.3)}
    text = TEXT_COLUMNS | {key for key, value in settings.items() if isinstance(value, str | list | bool)}
    numeric = [column for column in header if column not in text and not column.startswith("version_")]
    assert {"sigma", "trainer.seed", "num_params", "test_loss", "wall_time_s", "threads"} <= set(numeric)
    for row in rows:
        for column in numeric:
            if row[column] != "":
                float(row[column])  # raises for a display string or a footnote
    assert json.loads(next(r for r in rows if r["folder"].endswith("uvb-0.4-small"))["model.conv_channels"]) == [4, 8]
    failed = next(r for r in rows if r["folder"].endswith("deen-0.3-failed"))
    assert (failed["status"], failed["epochs_done"], failed["test_loss"], failed["version_torch"]) == ("failed", "3", "", "2.13.0")
    old = next(r for r in rows if r["folder"].endswith("deen-0.3-old"))
    assert old["git_commit"] == old["version_torch"] == old["threads"] == ""  # not recorded: empty, not "None"
    seeded = [r for r in rows if r["model"] == "uvb" and r["sigma"] == "0.3"]
    assert sorted(r["trainer.seed"] for r in seeded) == ["0", "1"] and float(seeded[0]["wall_time_s"]) == 3600.5
    assert seeded[0]["settings_digest"] == seeded[1]["settings_digest"] != seeded[0]["identity_digest"]

    # runs.jsonl holds the same rows as JSON; load_runs computes them without any report.
    from_jsonl = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert uvb_lab.load_runs(root) == uvb_lab.load_runs([str(root)]) == from_jsonl
    assert [str(r["folder"]) for r in from_jsonl] == [r["folder"] for r in rows]
    small_row = next(r for r in from_jsonl if r["folder"].endswith("uvb-0.4-small"))
    assert small_row["model.conv_channels"] == [4, 8] and small_row["test_loss"] == 5.5 and small_row["git_commit"] is None


def test_load_runs_as_a_frame_is_the_same_rows_or_one_line_without_pandas(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    seeds(root, "uvb", 0.3, [3.1, 3.2])
    rows = uvb_lab.load_runs(root)
    try:
        import pandas  # noqa: F401 - the optional extra, uvb-lab[frame]
    except ImportError:
        pass
    else:
        frame = uvb_lab.load_runs(root, as_frame=True)
        assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows)
        assert frame["folder"].tolist() == [r["folder"] for r in rows] and frame["test_loss"].tolist() == [r["test_loss"] for r in rows]
    monkeypatch.setitem(sys.modules, "pandas", None)  # as on a machine without the extra
    with pytest.raises(ImportError) as missing:
        uvb_lab.load_runs(root, as_frame=True)
    assert str(missing.value) == "load_runs(..., as_frame=True) needs pandas: pip install 'uvb-lab[frame]' (or pandas)"


def test_learning_curves_read_old_and_new_metrics(tmp_path):
    old = write_run(tmp_path, "old", 100, model="uvb", sigma=0.5, metrics=[
        {"epoch": 1, "step": 469, "train_loss": 9.0, "test_loss": 8.0}, {"epoch": 2, "step": 938, "train_loss": 7.0, "test_loss": 6.5}])
    new = write_run(tmp_path, "new", 100, model="uvb", sigma=0.5, metrics=[
        {"step": 50, "epoch": 50 / 469, "train_loss": 20.0, "samples_per_s": 900.0},
        {"step": 100, "epoch": 100 / 469, "eval": "eval_every_steps", "test_loss": 12.0, "test_denoising_loss": 12.0},
        {"step": 120, "epoch": 120 / 469, "eval": "preempted", "test_loss": 11.0, "test_denoising_loss": 11.0},
        {"step": 469, "epoch": 1.0, "eval": "epoch_end", "test_loss": 8.5, "train_loss": 10.0, "epoch_time_s": 30.0},
    ])
    assert evaluation_curve(read_run(old / "summary.json")) == ([469, 938], [8.0, 6.5])
    # The evaluation made only because the run was preempted is not a point of the curve an uninterrupted run draws.
    assert evaluation_curve(read_run(new / "summary.json")) == ([100, 469], [12.0, 8.5])


def test_load_run_round_trips_a_run_folder_and_its_model(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    run = uvb_lab.load_run(run_dir)
    assert run.config == OmegaConf.load(FIXTURE / "config.yaml") and run.config.trainer.lr == 0.0001
    assert run.summary == json.loads((FIXTURE / "summary.json").read_text())
    assert run.metrics == [json.loads(line) for line in (FIXTURE / "metrics.jsonl").read_text().splitlines()]
    assert run.identity["model.hidden"] == 16 and run.model is None and run.data is None

    run = uvb_lab.load_run(str(run_dir), model=True, device="cpu")
    weights = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert type(run.model).__name__ == "UVB" and not run.model.training
    assert all(torch.equal(value, weights[name]) for name, value in run.model.state_dict().items())
    assert next(run.model.parameters()).device.type == "cpu" and run.data.test.shape[1:] == (1, 16, 16)

    with pytest.raises(FileNotFoundError, match="is not a uvb-train run folder"):
        uvb_lab.load_run(tmp_path)


def test_a_fresh_python_loads_a_run_with_its_trained_model():
    # As a notebook's first cell: nothing of uvb_lab imported before (uvb_lab/trained_run.py first, then figures/).
    run_dir = Path(__file__).parent / "fixtures" / "run_folder_format_2_laplace"
    code = f"import uvb_lab; run = uvb_lab.load_run({str(run_dir)!r}, model=True); print(type(run.model).__name__)"
    done = run_python(["-c", code], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "UVB"


def test_import_uvb_lab_and_its_notebook_functions_load_no_torch():
    code = ("import sys, uvb_lab; uvb_lab.load_run, uvb_lab.load_runs; "
            "print(sorted({'torch', 'matplotlib', 'wandb'} & set(sys.modules)))")
    done = run_python(["-c", code], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_reduced_table2_is_reported_beside_the_papers_values_with_its_other_settings_named(tmp_path, capsys):
    runs = tmp_path / "multirun" / "table2_mnist_cpu"
    for model, sigma, loss in (("uvb", 0.3, 3.5), ("deen", 0.3, 3.9), ("uvb", 1.0, 17.0), ("deen", 1.0, 21.0)):
        decoder = {"test_decoder_denoising_loss": 4 * loss} if model == "uvb" else {}
        write_run(runs, f"{model}-mnist-sigma{sigma}", 100, identity=table_identity(model, "mnist", sigma, "table2_mnist_cpu"),
                  metrics=curve(loss, epochs=5), model=model, sigma=sigma, train_loss=loss - 0.5, test_loss=loss, epochs=5, epochs_done=5,
                  **decoder)
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out)]) == 0
    markdown = capsys.readouterr().out
    assert "### Table 2, MNIST: denoising" not in markdown  # the paper's settings: no run, so no table of dashes
    assert "### Table 4" not in markdown  # its sigma = 1 UVB is not at the settings of Tables 4 and 5
    table = rows_of(markdown, "Table 2, MNIST, at +experiment=table2_mnist_cpu")
    assert table["σ"] == ["0.3", "1.0"]  # the sigmas it ran, not the paper's eight
    assert table["UVB test"] == ["3.50 / 3.01 (+16.3%)", "17.0 / 15.0 (+13.3%)"]
    assert table["UVB - DEEN test"] == ["-0.40 / 0.12", "-4.0 / -4.9"]
    assert table["UVB decoder test[2]"] == ["14.0", "68.0"]  # the same runs' mu_y(z ~ q(z|y)); the paper has no such row
    assert "[2] not in the paper: the same UVB runs' test_decoder_denoising_loss" in markdown
    note = markdown.split("[1] other settings than the paper's", 1)[1].splitlines()[0]
    assert "UVB: model.conv_channels [8, 16, 32] (paper [32, 64, 128]), model.hidden 32 (paper 200)" in note
    assert "DEEN: model.conv_channels [8, 16, 32] (paper [128, 256, 512]), model.hidden 179 (paper 100)" in note
    assert "5 epochs (paper 400)" in note and "trainer.lr 0.001 (paper 0.0001)" in note
    assert (out / "table2_table2_mnist_cpu.csv").exists() and (out / "loss_vs_sigma.png").exists()

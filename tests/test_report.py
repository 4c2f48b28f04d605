"""uvb-report on hand-made run folders: paper layout, deltas, and runs that are missing, failed,
running, stopped early or duplicated shown as such; Table 1 from the configs equals the exact counts."""

import csv
from pathlib import Path

import pytest

from hand_made_runs import table_identity, write_run
from uvb_lab import paper
from uvb_lab.report import main
from uvb_lab.report.table1 import count_parameters


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    write_run(root, "uvb-0.3", 100, model="uvb", sigma=0.3, train_loss=2.7, test_loss=3.01)
    write_run(root, "deen-0.3", 100, model="deen", sigma=0.3, status="failed", epochs_done=3, train_loss=9.5, test_loss=9.9)
    write_run(root, "uvb-0.4", 100, model="uvb", sigma=0.4, status="running", epochs_done=12, train_loss=4.0, test_loss=4.5)
    write_run(root, "deen-0.4", 100, model="deen", sigma=0.4, epochs_done=1, train_loss=5.0, test_loss=5.5)
    write_run(root, "old/uvb-0.5", 100, model="uvb", sigma=0.5, train_loss=99.0, test_loss=99.0)
    write_run(root, "new/uvb-0.5", 200, model="uvb", sigma=0.5, train_loss=5.2, test_loss=6.0)
    # Tables 4/5 at sigma = 1: recon_on_x is ||x - mu_y||^2 / (2 sigma^2), so 2 sigma^2 * 25.75 = 51.5.
    write_run(root, "vae-1.0", 100, model="vae", sigma=1.0, train_loss=400.0, test_loss=401.0, test_kl_on_x=3.7,
              test_recon_on_x=25.75, test_kl_on_y=4.0, test_recon_on_y=380.0)
    write_run(root, "uvb_laplace-1.0", 100, model="uvb_laplace", sigma=1.0, train_loss=58.4, test_loss=60.0)
    return root


def table(markdown: str, title_start: str) -> dict[str, list[str]]:
    """The rows of one Markdown table of the report, by first cell; '_header' holds the header."""
    section = markdown.split(f"### {title_start}", 1)[1].split("###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") or line.startswith("|---")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if not line.startswith("| ---")]
    return {"_header": rows[0], **{row[0]: row[1:] for row in rows[1:]}}


def test_report_shows_every_run_state_and_picks_the_newest(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out)]) == 0
    markdown = capsys.readouterr().out
    assert markdown == (out / "report.md").read_text() + "\n"

    t2 = table(markdown, "Table 2, MNIST")
    assert t2["_header"] == ["σ", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]
    assert t2["UVB train"][0] == "2.70 / 2.60 (+3.8%)"  # finished: no marker
    assert t2["UVB test"][0] == "3.01 / 3.01 (+0.0%)"
    assert t2["DEEN train"][3] == "— / 8.87"  # missing
    notes = markdown.split("### Table 2", 1)[1].split("###", 1)[0]
    # Unfinished runs are footnoted, never averaged into the cell: it shows no number of theirs.
    for cell, words in (
        (t2["DEEN train"][0], "not counted: failed (3 of 400 epochs done)"),
        (t2["UVB train"][1], "not counted: still running or killed (12 of 400 epochs done)"),
        (t2["DEEN test"][1], "not counted: stopped early (1 of 400 epochs done"),
        (t2["UVB test"][2], "one run (same settings and seed) in 2 folders, counted once"),
    ):
        marker = cell[cell.index("[") :]
        assert f"{marker} {words}" in notes
    assert t2["DEEN train"][0].startswith("— / 2.77[")
    assert t2["UVB train"][1].startswith("— / 3.84[")
    assert t2["UVB train"][2].startswith("5.20 / 5.09")  # the newer of the two folders of one sigma = 0.5 run
    assert f"counted once: {runs / 'new' / 'uvb-0.5'} (shown); also {runs / 'old' / 'uvb-0.5'}" in notes
    assert t2["UVB - DEEN test"][0] == "— / 0.12"  # DEEN at 0.3 failed: no difference of ours

    # Table 4 compares the KL on y (the paper's KL[q(z|y), p(z)]), the KL on x beside it.
    assert table(markdown, "Table 4")["_header"] == ["model", "ours on y / paper (Δ) [1]", "ours on x [1]"]
    assert table(markdown, "Table 4")["VAE"][:2] == ["4.00 / 3.70 (+8.1%)", "3.70"]
    assert table(markdown, "Table 5")["VAE"][:2] == ["51.5 / 51.5 (+0.0%)", "380"]
    assert table(markdown, "Table 4")["UVB"] == ["— / 692", "—"]
    assert table(markdown, "Remark 4")["UVB (Laplace decoder)"] == ["58.4 / 58.4 (+0.0%)"]
    assert "Not in these runs: Table 3 (CIFAR-10)" in markdown

    assert sorted(p.name for p in out.iterdir()) == [  # no learning_curves.png: these runs have no metrics.jsonl
        "loss_vs_sigma.png", "notes.csv", "remark4.csv", "report.md", "report.tex", "runs.csv", "runs.jsonl",
        "table2_mnist.csv", "table4.csv", "table5.csv",
    ]
    assert (out / "loss_vs_sigma.png").read_bytes()[:4] == b"\x89PNG"
    latex = (out / "report.tex").read_text()
    assert "2.70 / 2.60 (+3.8\\%)" in latex
    # Everything TeX reads (comments aside) is ASCII, with the characters special to TeX escaped.
    body = [line for line in latex.splitlines() if not line.startswith("%")]
    assert all(line.isascii() for line in body), [line for line in body if not line.isascii()]
    assert r"$\sigma$" in latex and r"$\Delta$" in latex and r"\textbar{}" in latex and r"$\pm$" in latex
    assert not any(ch in line.replace(r"\^{}", "").replace(r"\~{}", "") for line in body for ch in "^~")

    # The CSVs are tidy: a row per cell, numbers in columns of their own, the footnotes in notes.csv.
    rows = list(csv.DictReader((out / "table2_mnist.csv").open()))
    uvb_train = next(r for r in rows if r["row"] == "UVB train" and r["sigma"] == "0.3")
    assert uvb_train == {
        "table": "table2_mnist", "row": "UVB train", "model": "uvb", "split": "train", "dataset": "mnist", "sigma": "0.3",
        "metric": "train_loss", "value": "2.7", "std": "", "se": "", "half_width_95": "", "n": "1", "paper": "2.6",
        "delta_percent": uvb_train["delta_percent"], "note_ids": "",
    }
    assert float(uvb_train["delta_percent"]) == pytest.approx(100 * (2.7 - 2.6) / 2.6)
    failed = next(r for r in rows if r["row"] == "DEEN train" and r["sigma"] == "0.3")
    assert failed["value"] == "" and failed["n"] == "" and failed["paper"] == "2.77"
    notes_rows = {(r["table"], r["note_id"]): r["note"] for r in csv.DictReader((out / "notes.csv").open())}
    assert notes_rows[("table2_mnist", failed["note_ids"])].startswith("not counted: failed (3 of 400 epochs done)")


def test_report_refuses_paths_without_runs(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err


def test_table1_from_the_configs_equals_the_exact_counts(capsys):
    assert len(paper.TABLE1_EXACT) == 4  # uvb and deen on mnist and cifar10 (docs/reproduction.md)
    for (model, dataset), count in paper.TABLE1_EXACT.items():
        assert count_parameters(model, dataset) == count
    assert main(["--table1"]) == 0
    t1 = table(capsys.readouterr().out, "Table 1")
    assert t1["UVB"] == ["26,777,528 / 2.7e7 (-0.8%)", "41,187,368 / 4.1e7 (+0.5%)"]
    assert t1["DEEN"] == ["26,257,609 / 2.6e7 (+1.0%)", "36,090,313 / 3.6e7 (+0.3%)"]


def test_a_short_or_small_run_is_not_in_the_papers_cell(tmp_path, capsys):
    root = tmp_path / "runs"
    small = table_identity("uvb", "mnist", 1.0, **{"model.conv_channels": [4, 8], "model.hidden": 16})
    write_run(root, "uvb", 100, identity=small, model="uvb", sigma=1.0, epochs=2, epochs_done=2, num_params=2_583_120,
              train_loss=24.8, test_loss=23.6)
    write_run(root, "deen", 100, model="deen", sigma=1.0, num_params=26_257_609, train_loss=20.0, test_loss=19.9)
    assert main([str(root), "--out", str(tmp_path / "out")]) == 0
    markdown = capsys.readouterr().out
    rows = table(markdown, "Table 2")
    assert rows["UVB test"][-1] == "— / 15.0[1]"
    assert rows["DEEN test"][-1] == "19.9 / 19.9 (+0.0%)"  # the paper's settings and epochs: no note
    assert (f"[1] 1 run with other settings is in runs.csv, not in this cell: {root / 'uvb'} "
            "(model.conv_channels=[4, 8], the cell's [32, 64, 128]; model.hidden=16, the cell's 200; 2 epochs, the cell's 400)") in markdown


@pytest.mark.parametrize(
    ("name", "fields", "says"),
    [
        ("bad", {"train_loss": "2.7"}, "'train_loss' is '2.7', not a int or float or NoneType"),
        ("worse", {"sigma": "high"}, "'sigma' is 'high', not a int or float"),
        ("odd", {"threads": "16"}, "'threads' is '16', not a int or NoneType"),
        ("odder", {"package_versions": {"torch": 2.13}}, "'package_versions' gives 'torch' as 2.13, not a version string"),
    ],
)
def test_a_summary_with_wrong_typed_fields_is_refused_naming_the_file_and_field(tmp_path, capsys, name, fields, says):
    # A report that skipped the run would show a table without it and exit 0: the damage must be seen (issue 31).
    root = tmp_path / "runs"
    write_run(root, "good", 100, model="uvb", sigma=0.3, train_loss=2.7, test_loss=3.01)
    write_run(root, name, 100, identity=None, **{"model": "deen", "sigma": 0.3, "test_loss": 3.0, **fields})
    assert main([str(root), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err == f"uvb-report: error: {root / name / 'summary.json'}: {says}\n"
    assert not (tmp_path / "report").exists()


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(runs, tmp_path, capsys):
    blocked = tmp_path / "a file"
    blocked.write_text("mine")
    assert main([str(runs), "--out", str(blocked / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the report into" in err and f"{blocked} is a file" in err
    assert blocked.read_text() == "mine"


def test_a_report_whose_write_fails_halfway_leaves_the_earlier_report_byte_identical_and_is_one_line(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out)]) == 0
    earlier = {path.name: path.read_bytes() for path in out.iterdir()}
    write_run(runs, "deen-1.0", 300, model="deen", sigma=1.0, train_loss=20.0, test_loss=19.9)  # a new report differs
    real_write_text = Path.write_text

    def disk_full_at_runs_csv(path, text, *args, **kwargs):  # half of runs.csv, then no space
        if path.name == "runs.csv":
            real_write_text(path, text[: len(text) // 2])
            raise OSError(28, "No space left on device")
        return real_write_text(path, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full_at_runs_csv)
    capsys.readouterr()
    assert main([str(runs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write the report into {out}: No space left on device" in err, err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == earlier  # no 0-byte file, no half a set of figures


def test_an_unscored_run_fills_no_cell_and_is_footnoted_as_not_scored(tmp_path, capsys):
    root = tmp_path / "runs"
    write_run(root, "uvb", 100, model="uvb", sigma=1.0, status="unscored", train_loss=20.0, test_loss=None, best_test_loss=18.0)
    assert main([str(root), "--out", str(tmp_path / "out")]) == 0
    markdown = capsys.readouterr().out
    cell = table(markdown, "Table 2")["UVB test"][-1]
    assert cell.startswith("— / 15.0[") and f"{cell[cell.index('['):]} not counted: not scored: its last loss is not finite" in markdown


def test_a_protocols_tuning_run_is_never_one_of_the_seeds_rows(tmp_path, capsys):
    # A protocol folder: test seeds 1 and 2 of the chosen setting, and the tuning run of that setting (seed 0, scored on the
    # validation split alone: trainer.evaluate_test=false), whose training loss is another seed's.
    import json

    sweep = tmp_path / "protocol"
    runs = {}
    for seed, loss in ((1, 6.0), (2, 6.4)):
        identity = table_identity("uvb", "mnist", 0.5, **{"trainer.seed": seed})
        runs[str(seed)] = write_run(sweep, f"uvb-seed{seed}", 100 + seed, identity=identity, model="uvb", sigma=0.5, train_loss=loss - 1,
                                    test_loss=loss, test_denoising_loss=loss).name
    tuning = table_identity("uvb", "mnist", 0.5, **{"trainer.seed": 0})
    write_run(sweep, "uvb-seed0", 103, identity=tuning, model="uvb", sigma=0.5, train_loss=1.0, test_loss=None, val_loss=4.0)
    cells = {"model=uvb sigma=0.5": {"cell": ["model=uvb", "sigma=0.5"], "chosen": "trainer.lr=0.0001", "val_loss": {}, "test_runs": runs}}
    (sweep / "protocol.json").write_text(json.dumps({"format": 1, "cells": cells, "grid": ["trainer.lr=0.0001"], "seeds": [1, 2]}))
    assert main([str(sweep), "--out", str(tmp_path / "report")]) == 0
    markdown = capsys.readouterr().out
    t2 = table(markdown, "Table 2, MNIST")
    column = t2["_header"].index("0.5") - 1
    # 5.0 and 5.4 over the two test seeds: t(0.975, 1) 0.283 / sqrt(2) = 2.5; the tuning run's 1.0 is in neither row.
    assert t2["UVB train"][column].startswith("5.20 ± 2.54 (n=2) / 5.09") and t2["UVB test"][column].startswith("6.20 ± 2.54 (n=2) / 5.94")
    marker = t2["UVB train"][column].split(")")[-1]
    notes = markdown.split("### Table 2", 1)[1].split("###", 1)[0]
    assert f"{marker} not counted: a tuning run (trainer.evaluate_test=false: it scored the validation split alone), not one of the seeds: {sweep / 'uvb-seed0'}" in notes
    # The protocol's section leads the report, its ± named in its header; the tables' in their captions.
    assert markdown.index("## Tune, then test") < markdown.index("### Table 2")
    assert "| test loss (mean ± 95% CI) |" in (tmp_path / "report" / "protocol.md").read_text()
    assert "± the half-width of its 95% t-interval" in notes.split("|", 1)[0]

"""The report's baselines and pairing: the linear (Wiener) and training-set prior rows beside the models, a flag on a
model above the linear one, and UVB - DEEN test differences only between runs scored on the same noisy test images.
Run folders are hand-made."""

import csv
import json

from hand_made_runs import table_identity, write_run
from uvb_lab.report import main
from uvb_lab.report.tables import ABOVE_LINEAR_NOTE, EMPIRICAL_PRIOR_ROW, LINEAR_ROW

COLUMN = 2  # sigma = 0.5 in Table 2's columns 0.3, 0.4, 0.5, ...


def run(root, model, sigma, test_loss, seed=0, **summary):
    identity = table_identity(model, "mnist", sigma, **{"trainer.seed": seed})
    write_run(root, f"{model}-{sigma}-seed{seed}", 100 + seed, identity=identity, model=model, sigma=sigma,
              train_loss=test_loss, test_loss=test_loss, test_denoising_loss=test_loss, **summary)


def table2(tmp_path, capsys) -> tuple[dict[str, list[str]], list[str]]:
    """Table 2's rows by label (footnote markers left out of the labels) and its footnotes."""
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    section = capsys.readouterr().out.split("### Table 2", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    notes = [line for line in section.splitlines() if line.startswith("[")]
    return {row[0].split("[")[0]: row[1:] for row in rows}, notes


def marked_with(cell: str, notes: list[str], text: str) -> bool:
    return any(f"[{i}]" in cell for i, note in enumerate(notes, 1) if text in note)


def test_a_model_above_the_linear_row_is_flagged_and_one_below_is_not(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, test_linear_risk=15.5)
    run(root, "deen", 0.5, 16.0, test_linear_risk=15.5)  # worse than the Wiener filter on the same noisy images
    rows, notes = table2(tmp_path, capsys)
    assert rows[LINEAR_ROW][COLUMN] == "15.5"
    assert marked_with(rows["DEEN test"][COLUMN], notes, ABOVE_LINEAR_NOTE[:40])
    assert not marked_with(rows["UVB test"][COLUMN], notes, ABOVE_LINEAR_NOTE[:40])
    assert not marked_with(rows["DEEN train"][COLUMN], notes, ABOVE_LINEAR_NOTE[:40])  # a training loss is not on those images


def test_runs_without_a_linear_risk_get_no_linear_row_and_no_flag(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9)
    run(root, "deen", 0.5, 16.0)
    rows, notes = table2(tmp_path, capsys)
    assert LINEAR_ROW not in rows and not any(ABOVE_LINEAR_NOTE[:40] in note for note in notes)


def test_the_training_set_prior_row_stands_beside_the_linear_row_with_a_dash_for_runs_made_before_it(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, test_linear_risk=15.5, test_empirical_prior_loss=9.25)
    run(root, "deen", 0.5, 6.5, test_linear_risk=15.5, test_empirical_prior_loss=9.25)
    run(root, "uvb", 0.3, 3.0, test_linear_risk=7.5)  # made before uvb-lab recorded it
    rows, notes = table2(tmp_path, capsys)
    labels = list(rows)
    assert labels.index(EMPIRICAL_PRIOR_ROW) == labels.index(LINEAR_ROW) + 1
    assert rows[EMPIRICAL_PRIOR_ROW][COLUMN] == "9.25" and rows[EMPIRICAL_PRIOR_ROW][0] == "—"
    assert any("training set's Bayes denoiser" in note for note in notes)
    with open(tmp_path / "report" / "runs.csv") as runs_csv:
        assert sorted(row["test_empirical_prior_loss"] for row in csv.DictReader(runs_csv)) == ["", "9.25", "9.25"]
    table2_csv = (tmp_path / "report" / "table2_mnist.csv").read_text()
    assert f"{EMPIRICAL_PRIOR_ROW},,test,mnist,0.5,test_empirical_prior_loss,9.25" in table2_csv


def test_runs_without_a_training_set_prior_get_no_such_row(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, test_linear_risk=15.5)
    rows, _ = table2(tmp_path, capsys)
    assert LINEAR_ROW in rows and EMPIRICAL_PRIOR_ROW not in rows


def test_a_difference_of_runs_scored_on_different_noisy_images_is_refused_and_says_why(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, test_noise_fingerprint="aaaa")
    run(root, "deen", 0.5, 6.5, test_noise_fingerprint="bbbb")
    rows, notes = table2(tmp_path, capsys)
    difference = rows["UVB - DEEN test"][COLUMN]
    assert difference.startswith("—") and marked_with(difference, notes, "not paired")
    assert any("aaaa" in note and "bbbb" in note for note in notes)
    assert rows["UVB - DEEN train"][COLUMN].startswith("-0.6")  # training losses are not on the test noise


def test_a_difference_with_runs_made_before_paired_evaluation_names_them(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, test_noise_fingerprint=None)  # made before: no fingerprint
    run(root, "deen", 0.5, 6.5)
    rows, notes = table2(tmp_path, capsys)
    difference = rows["UVB - DEEN test"][COLUMN]
    assert difference.startswith("-0.6") and marked_with(difference, notes, "unpaired noise")
    old = next(note for note in notes if "unpaired noise" in note)
    assert "uvb-0.5-seed0" in old and "deen-0.5-seed0" not in old


def test_the_bayes_gap_table_has_linear_and_training_set_prior_rows_and_flags_a_model_above_the_linear_one(tmp_path):
    root = tmp_path / "runs"
    for model, loss in (("uvb", 1.2), ("deen", 1.6)):
        identity = {"run.model": model, "sigma": 0.5, "data._target_": "uvb_lab.data.gmm.gmm"}
        write_run(root, model, 1000.0, identity, model=model, dataset="gmm", sigma=0.5, epochs=3, epochs_done=3,
                  test_bayes_risk=1.0, test_linear_risk=1.5, test_empirical_prior_loss=1.2, test_loss=loss, test_denoising_loss=loss)
    assert main([str(root), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    section = markdown.split("### Distance to the Bayes risk", 1)[1].split("###", 1)[0]
    rows = {line.split("|")[1].strip().split("[")[0]: line.split("|")[2].strip() for line in section.splitlines() if line.startswith("| ")}
    notes = [line for line in section.splitlines() if line.startswith("[")]
    assert rows["Linear (Wiener)"] == "1.50"
    assert rows["Training-set prior"] == "1.20"  # a denoiser like the others: above the exact Bayes risk
    assert marked_with(rows["DEEN x̂(y)"], notes, ABOVE_LINEAR_NOTE[:40])
    assert not marked_with(rows["UVB x̂(y)"], notes, ABOVE_LINEAR_NOTE[:40])


def test_a_difference_names_the_parameter_counts_and_flags_a_pair_more_than_ten_percent_apart(tmp_path, capsys):
    root = tmp_path / "runs"
    run(root, "uvb", 0.5, 5.9, num_params=870_872)
    run(root, "deen", 0.5, 6.5, num_params=75_041)
    rows, notes = table2(tmp_path, capsys)
    assert marked_with(rows["UVB - DEEN test"][COLUMN], notes, "not at equal parameter count: UVB 870,872 against DEEN 75,041")
    root2 = tmp_path / "matched"
    run(root2 / "runs", "uvb", 0.5, 5.9, num_params=1_025_432)
    run(root2 / "runs", "deen", 0.5, 6.5, num_params=1_051_233)
    rows, notes = table2(root2, capsys)
    assert marked_with(rows["UVB - DEEN test"][COLUMN], notes, "at equal parameter count (within 10%): UVB 1,025,432 against DEEN 1,051,233")
    assert not any("not at equal" in note for note in notes)


def test_a_protocol_on_mnist_shows_the_papers_test_loss_beside_each_cell_with_its_footnote(tmp_path):
    sweep = tmp_path / "table2_mnist_tuned"
    cells = {}
    for model, sigma, loss in (("uvb", 1.0, 18.0), ("deen", 1.0, 26.0), ("uvb", 0.35, 5.0)):  # 0.35: no paper column value
        name = f"model={model} sigma={sigma}"
        runs = {str(seed): f"{model}-{sigma}-seed{seed}" for seed in (1, 2)}
        for seed, run_name in runs.items():
            write_run(sweep, run_name, 100.0, None, model=model, sigma=sigma, test_loss=loss + int(seed), test_denoising_loss=loss + int(seed))
        cells[name] = {"cell": [f"model={model}", f"sigma={sigma}"], "chosen": "trainer.lr=0.001", "val_loss": {}, "test_runs": runs}
    (sweep / "protocol.json").write_text(json.dumps({"format": 1, "cells": cells, "grid": ["trainer.lr=0.001"], "seeds": [1, 2]}))
    assert main(["--out", str(tmp_path / "out"), str(sweep)]) == 0
    table = (tmp_path / "out" / "protocol.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| model=")}
    assert rows["model=uvb sigma=1.0"].endswith("| 15.0 |") and rows["model=deen sigma=1.0"].endswith("| 19.9 |")  # Table 2, σ = 1
    assert rows["model=uvb sigma=0.35"].endswith("| — |")
    assert "¹ The paper's Table 2: its own widths (Table 1) after 400 epochs" in table


def test_a_protocol_shows_the_training_set_prior_beside_the_linear_column_and_a_dash_where_a_run_has_none(tmp_path):
    sweep = tmp_path / "tuned"
    cells = {}
    for model, prior in (("uvb", 21.36), ("deen", None)):  # the DEEN runs were made before uvb-lab recorded it
        runs = {str(seed): f"{model}-seed{seed}" for seed in (1, 2)}
        for seed, run_name in runs.items():
            recorded = {} if prior is None else {"test_empirical_prior_loss": prior}
            write_run(sweep, run_name, 100.0, None, model=model, sigma=0.6, test_loss=10.0 + int(seed), test_denoising_loss=10.0 + int(seed),
                      test_linear_risk=18.5, **recorded)
        cells[f"model={model}"] = {"cell": [f"model={model}"], "chosen": "trainer.lr=0.001", "val_loss": {}, "test_runs": runs}
    (sweep / "protocol.json").write_text(json.dumps({"format": 1, "cells": cells, "grid": ["trainer.lr=0.001"], "seeds": [1, 2]}))
    assert main(["--out", str(tmp_path / "out"), str(sweep)]) == 0
    lines = (tmp_path / "out" / "protocol.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| cell |")).strip("|").split("|")
    column = [name.strip() for name in header].index("training-set prior")
    assert header[column - 1].strip() == "linear (Wiener)"
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("|").split("|") for line in lines if line.startswith("| model=")}
    assert rows["model=uvb"][column].strip() == "21.4" and rows["model=deen"][column].strip() == "—"
    assert "model=uvb,trainer.lr=0.001,,empirical_prior_loss,21.36,,2" in (tmp_path / "out" / "protocol.csv").read_text()

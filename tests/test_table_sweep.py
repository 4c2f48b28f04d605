"""The smoke table end to end: `uvb-train -m +experiment=smoke` with each launcher, then `uvb-report` on it."""

import json
import re
from pathlib import Path

import pytest

from conftest import run_uvb_train, uvb_train_here
from uvb_lab.report import main as report

RUNS = {"uvb-synthetic-sigma0.5", "uvb-synthetic-sigma1.0", "deen-synthetic-sigma0.5", "deen-synthetic-sigma1.0"}


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def report_cells(sweep_dir: Path, capsys) -> dict[str, list[str]]:
    assert report([str(sweep_dir)]) == 0
    markdown = capsys.readouterr().out
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("| ")]
    return {row[0].strip(): [c.strip() for c in row[1:]] for row in rows}


def test_basic_launcher_runs_the_whole_table_and_the_report_matches_the_summaries(tmp_path, capsys):
    sweep_dir = tmp_path / "smoke"
    result = uvb_train_here(["-m", "+experiment=smoke", f"hydra.sweep.dir={sweep_dir}", "logger=none"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = summaries(sweep_dir)
    assert set(runs) == RUNS and {s["status"] for s in runs.values()} == {"finished"}
    assert all(s["epochs_done"] == s["epochs"] == 2 for s in runs.values())

    cells = report_cells(sweep_dir, capsys)
    assert cells["σ"] == ["0.5", "1.0"]
    def shown(summary, key):
        return f"{summary[key]:#.3g}".rstrip(".")

    for model in ("uvb", "deen"):
        for split in ("train", "test"):
            expected = [shown(runs[f"{model}-synthetic-sigma{s}"], f"{split}_loss") for s in ("0.5", "1.0")]
            assert [re.sub(r"\[\d+\]", "", cell) for cell in cells[f"{model.upper()} {split}"]] == expected
            # Two epochs of a tiny model: a test cell is flagged (a footnote marker) where it is above the linear row.
            if split == "test":
                above = [runs[f"{model}-synthetic-sigma{s}"]["test_loss"] > runs[f"{model}-synthetic-sigma{s}"]["test_linear_risk"]
                         for s in ("0.5", "1.0")]
                assert ["[" in cell for cell in cells[f"{model.upper()} test"]] == above
    linear = next(cells[label] for label in cells if label.startswith("Linear (Wiener) test"))
    assert linear == [shown(runs[f"deen-synthetic-sigma{s}"], "test_linear_risk") for s in ("0.5", "1.0")]
    assert (sweep_dir / "report" / "loss_vs_sigma.png").is_file()


def test_submitit_local_launcher_runs_the_jobs(tmp_path):
    """The submitit path that SLURM uses, with local processes (13 s here: CPU, 2 cores, idle)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "smoke"
    args = ["-m", "+experiment=smoke", f"hydra.sweep.dir={sweep_dir}", "sigma=1.0", "logger=none",
            "hydra/launcher=submitit_local"]
    result = run_uvb_train(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = summaries(sweep_dir)
    assert set(runs) == {"uvb-synthetic-sigma1.0", "deen-synthetic-sigma1.0"}
    assert {s["status"] for s in runs.values()} == {"finished"}

"""`uvb-bench` on the CPU at tiny widths: the JSON report has every field, with consistent values."""

import json
import math
import os
import subprocess
import sys

import torch
from torch import nn

from conftest import REPO
from uvb_lab.bench import main
from uvb_lab.flop_count import FlopCount


def test_uvb_bench_writes_a_consistent_report(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--device", "cpu", "--models", "uvb,deen", "--datasets", "mnist", "--width-scale", "0.03",
            "--batch-size", "16", "--steps", "3", "--warmup", "1", "--peak-size", "256", "--json", str(out)]
    # One intra-op thread: on a busy 2-core machine two threads made tiny steps up to 50x slower.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "uvb_lab.bench", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ours/naive" in result.stdout and "Tables 2 and 3" in result.stdout

    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["batch_size"] == 16 and report["precision"] == "tf32"
    assert set(report["matmul_peak_flop_per_s"]) == {"tf32", "fp32"}
    assert [(r["model"], r["dataset"]) for r in report["results"]] == [("uvb", "mnist"), ("deen", "mnist")]
    for r in report["results"]:
        assert r["num_params"] > 0 and r["flop_per_step"] > 0
        for side in (r["ours"], r["naive"]):
            assert side["step_time_s"] > 0
            assert side["samples_per_s"] == 16 / side["step_time_s"]
            assert side["achieved_flop_per_s"] == r["flop_per_step"] / side["step_time_s"]
            assert 0 < side["fraction_of_peak"] and math.isfinite(side["fraction_of_peak"])
            assert side["peak_memory_bytes"] is None  # only the CUDA allocator keeps a peak
        assert r["speedup_ours_over_naive"] == r["naive"]["step_time_s"] / r["ours"]["step_time_s"]
        # 8 sigmas x 400 epochs x ceil(60000 / 16) steps at our median step time
        assert math.isclose(r["projected_hours_8_sigmas_400_epochs"], 8 * 400 * 3750 * r["ours"]["step_time_s"] / 3600)
    tables = report["tables_2_3"]
    assert not tables["complete"] and "width-scale 1" in tables["why_partial"]
    assert math.isclose(tables["projected_hours"], sum(r["projected_hours_8_sigmas_400_epochs"] for r in report["results"]))


def test_flop_count_of_a_matrix_product():
    layer = nn.Linear(30, 20)
    with FlopCount() as counter:
        layer(torch.randn(8, 30))
    assert counter.flop == 2 * 8 * 30 * 20  # one multiply and one add per term of the (8x30)(30x20) product


def test_an_unknown_model_is_a_clear_error(capsys):
    code = main(["--device", "cpu", "--models", "nosuch", "--datasets", "mnist", "--peak-size", "32", "--steps", "1"])
    assert code == 2
    assert "conf/model" in capsys.readouterr().err

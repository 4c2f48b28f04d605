"""`uvb-bench` on the CPU at tiny widths: the JSON report has every field, with consistent values."""

import json
import math
import statistics

import torch
from torch import nn

from conftest import run_python
from uvb_lab.bench.benchmark import main
from uvb_lab.bench.flop_count import FlopCount
from uvb_lab.train_step import resolve_precision


def test_uvb_bench_writes_a_consistent_report(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--device", "cpu", "--models", "uvb,deen", "--datasets", "mnist", "--width-scale", "0.03",
            "--batch-size", "16", "--steps", "2", "--rounds", "3", "--warmup", "1", "--peak-size", "256", "--json", str(out)]
    result = run_python(["-m", "uvb_lab.bench", *args], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "speedup_ours_over_naive" in result.stdout and "Tables 2 and 3" in result.stdout

    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["batch_size"] == 16 and report["precision"] == "auto"
    assert report["precision_used"] == resolve_precision("auto", torch.device("cpu"))  # what uvb-train would use
    for load in (report["load_average_before"], report["load_average_after"]):
        assert len(load) == 3 and all(value >= 0 for value in load)
    assert [(r["model"], r["dataset"]) for r in report["results"]] == [("uvb", "mnist"), ("deen", "mnist")]
    for r in report["results"]:
        assert r["num_params"] > 0 and r["flop_per_step"] > 0
        peaks = r["matmul_peak_flop_per_s"]
        assert set(peaks) == {"fp32", "bf16"} and all(0 < p["min"] <= p["median"] <= p["max"] for p in peaks.values())
        assert r["ours"]["precision"] == report["precision_used"] and r["naive"]["precision"] == "fp32"
        for side in (r["ours"], r["naive"]):
            rounds = side["round_step_time_s"]
            assert len(rounds) == 3 and all(s > 0 for s in rounds)
            assert side["step_time_s"] == {"min": min(rounds), "median": statistics.median(rounds), "max": max(rounds)}
            assert side["samples_per_s"]["median"] == statistics.median(16 / s for s in rounds)
            peak = peaks[side["precision"]]["median"]
            assert math.isclose(side["fraction_of_peak"]["median"], r["flop_per_step"] / side["step_time_s"]["median"] / peak)
            assert side["setup_s"] > 0
            assert side["peak_memory_bytes"] is None  # only the CUDA allocator keeps a peak
        # ours/naive within each round, then min / median / max of those
        ratios = [n / o for n, o in zip(r["naive"]["round_step_time_s"], r["ours"]["round_step_time_s"])]
        assert r["speedup_ours_over_naive"] == {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)}
        # 8 sigmas x 400 epochs x ceil(60000 / 16) steps at our median step time
        assert math.isclose(r["projected_hours_8_sigmas_400_epochs"], 8 * 400 * 3750 * r["ours"]["step_time_s"]["median"] / 3600)
    tables = report["tables_2_3"]
    assert not tables["complete"] and "width-scale 1" in tables["why_partial"]
    assert math.isclose(tables["projected_hours"], sum(r["projected_hours_8_sigmas_400_epochs"] for r in report["results"]))


def test_flop_count_of_a_matrix_product():
    layer = nn.Linear(30, 20)
    with FlopCount() as counter:
        layer(torch.randn(8, 30))
    assert counter.flop == 2 * 8 * 30 * 20  # one multiply and one add per term of the (8x30)(30x20) product


def test_an_unknown_model_is_a_clear_error(capsys):
    code = main(["--device", "cpu", "--models", "nosuch", "--datasets", "mnist", "--peak-size", "32", "--steps", "1", "--rounds", "1"])
    assert code == 2
    assert "conf/model" in capsys.readouterr().err

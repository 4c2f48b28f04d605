"""`uvb-bench` on the CPU at tiny widths: the JSON report has every field; its times fit in the time the command took,
and with a clock whose steps take known times, it reports exactly those."""

import json
import math
import time

import pytest
import torch
from torch import nn

from conftest import run_python
from uvb_lab.bench import benchmark
from uvb_lab.bench.benchmark import main
from uvb_lab.bench.flop_count import FlopCount
from uvb_lab.training.train_step import resolve_precision


def test_uvb_bench_writes_a_report_whose_times_fit_in_the_time_it_took(tmp_path):
    out = tmp_path / "bench.json"
    steps, rounds = 2, 3
    args = ["--device", "cpu", "--models", "uvb,deen", "--datasets", "mnist", "--width-scale", "0.03", "--batch-size", "16",
            "--steps", str(steps), "--rounds", str(rounds), "--warmup", "1", "--peak-size", "256", "--json", str(out)]
    start = time.perf_counter()
    result = run_python(["-m", "uvb_lab.bench", *args], cwd=tmp_path, timeout=120)
    wall = time.perf_counter() - start  # measured here, apart from the bench's own clock
    assert result.returncode == 0, result.stderr
    assert "speedup_ours_over_naive" in result.stdout and "Tables 2 and 3" in result.stdout

    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["batch_size"] == 16 and report["precision"] == "auto"
    assert report["precision_used"] == resolve_precision("auto", torch.device("cpu"))  # what uvb-train would use
    for load in (report["load_average_before"], report["load_average_after"]):
        assert len(load) == 3 and all(value >= 0 for value in load)
    assert [(r["model"], r["dataset"]) for r in report["results"]] == [("uvb", "mnist"), ("deen", "mnist")]
    timed = 0.0
    for r in report["results"]:
        assert r["num_params"] > 0 and r["flop_per_step"] > 0
        assert set(r["matmul_peak_flop_per_s"]) == {"fp32", "bf16"}
        assert r["ours"]["precision"] == report["precision_used"] and r["naive"]["precision"] == "fp32"
        for side in (r["ours"], r["naive"]):
            assert len(side["round_step_time_s"]) == rounds and all(s > 0 for s in side["round_step_time_s"])
            assert side["peak_memory_bytes"] is None  # only the CUDA allocator keeps a peak
            # A round's median step time: at least half its steps took as long, so a round took >= ceil(steps/2) of it.
            timed += sum(side["round_step_time_s"]) * math.ceil(steps / 2) + side["setup_s"]
    assert timed < wall  # a clock that ran fast (or counted in ms) would claim more time than the command took
    tables = report["tables_2_3"]
    assert not tables["complete"] and "width-scale 1" in tables["why_partial"]


class SteppedClock:
    """The bench's clock in a test: time passes only when a contender steps, by the cost set for its kind."""

    def __init__(self, costs):
        self.costs, self.now = costs, 0.0

    def perf_counter(self):
        return self.now

    def strftime(self, *args):
        return time.strftime(*args)

    def timing(self, warmed_up):
        def costed(contender, *args):
            step, cost = contender.step, self.costs[contender.name]

            def step_that_takes_its_cost():
                step()
                self.now += cost

            contender.step = step_that_takes_its_cost
            return warmed_up(contender, *args)

        return costed


def test_the_report_says_what_a_known_clock_measured(tmp_path, monkeypatch):
    # Ours takes 10 ms a step, the naive loop 40 ms; the matrix products run at 1 GFLOP/s.
    clock = SteppedClock({"ours": 0.010, "naive": 0.040})
    monkeypatch.setattr(benchmark, "time", clock)
    monkeypatch.setattr(benchmark, "warmed_up", clock.timing(benchmark.warmed_up))
    monkeypatch.setattr(benchmark, "matmul_peak", lambda *_: 1e9)
    out = tmp_path / "bench.json"
    assert benchmark.main(["--device", "cpu", "--models", "deen", "--datasets", "mnist", "--width-scale", "0.03", "--batch-size", "16",
                           "--steps", "3", "--rounds", "2", "--warmup", "2", "--json", str(out)]) == 0
    (r,) = json.loads(out.read_text())["results"]
    ours, naive = r["ours"], r["naive"]
    assert ours["round_step_time_s"] == pytest.approx([0.010, 0.010]) and naive["round_step_time_s"] == pytest.approx([0.040, 0.040])
    assert ours["step_time_s"]["median"] == pytest.approx(0.010) and naive["step_time_s"]["max"] == pytest.approx(0.040)
    assert ours["samples_per_s"]["median"] == pytest.approx(1600) and naive["samples_per_s"]["min"] == pytest.approx(400)
    assert ours["setup_s"] == pytest.approx(0.020) and naive["setup_s"] == pytest.approx(0.080)  # its 2 warm-up steps
    assert r["speedup_ours_over_naive"] == pytest.approx({"min": 4.0, "median": 4.0, "max": 4.0})
    assert ours["fraction_of_peak"]["median"] == pytest.approx(r["flop_per_step"] / 0.010 / 1e9)
    # The paper's Tables 2 and 3 for DEEN on MNIST: 8 sigmas x 400 epochs x 3750 steps of batch 16 at 10 ms.
    assert r["projected_hours_8_sigmas_400_epochs"] == pytest.approx(33.3333, rel=1e-5)


def test_flop_count_of_a_matrix_product():
    layer = nn.Linear(30, 20)
    with FlopCount() as counter:
        layer(torch.randn(8, 30))
    assert counter.flop == 2 * 8 * 30 * 20  # one multiply and one add per term of the (8x30)(30x20) product


def test_an_unknown_model_is_a_clear_error(capsys):
    code = main(["--device", "cpu", "--models", "nosuch", "--datasets", "mnist", "--peak-size", "32", "--steps", "1", "--rounds", "1"])
    assert code == 2
    assert "conf/model" in capsys.readouterr().err

"""scripts/replay_sweepers.py: the sweepers' choices replayed on recorded learning curves, against the whole grid."""

import json
import resource

from conftest import REPO, run_python

SCRIPT = str(REPO / "scripts" / "replay_sweepers.py")
GRID = REPO / "tests" / "fixtures" / "replay_grid.csv"
HEADER = "cell,setting,role,seed,epoch,step,val_loss,test_loss,epoch_time_s,samples_per_s,run"


def replay(*args: str):
    result = run_python([SCRIPT, *map(str, args)], timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_grid(path, curves: dict[str, dict[str, list[list[float]]]]):
    """cell -> setting -> one curve per seed (the loss at epochs 1, 2, ...), as scripts/learning_curves.py writes them."""
    rows = [HEADER]
    for cell, settings in curves.items():
        for setting, by_seed in settings.items():
            rows += [f"{cell},{setting},tuning,{seed},{epoch},{epoch},{loss!r},,,,run"
                     for seed, curve in enumerate(by_seed) for epoch, loss in enumerate(curve, 1)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_replay_of_a_tiny_grid_gives_each_strategy_its_known_pick_rate_regret_and_cost():
    # tests/fixtures/replay_grid.csv, 4 rates x 3 seeds x 4 epochs. At epoch 4 (means over the seeds): 0.03 1.04,
    # 0.001 1.00 (the winner, 3.0 at epoch 1), 0.003 1.005 (0.99, 1.02, 1.005 by seed), 0.1 diverges in seed 2 (1.03 in
    # seeds 0 and 1; the best at epochs 1 and 2). A test seed's validation loss of 0.5 for 0.1 is not read.
    out = replay(GRID, "--etas", "2", "--first-budgets", "1,2")
    assert "| model=uvb sigma=1.0 | 4 | 3 (0, 1, 2) | 1, 2, 3, 4 | trainer.lr=0.001 | 1 | trainer.lr=0.003, +0.50% |" in out
    table = [line.strip("| ").split(" | ") for line in out.splitlines() if line.startswith("| ")]
    # (strategy, tuning seeds): share ... worst regret, of each row of the strategies' table (10 columns, the winners' has 7)
    rows = {(cells[0], cells[2]): " | ".join(cells[3:]) for cells in table if len(cells) == 10 and cells[0] != "strategy"}
    expected = {
        # one seed: seed 0 picks 0.003 (0.99 < 1.00), +0.5%, within 1%; seeds 1 and 2 pick the winner
        ("exhaustive grid", "1"): "100% | 3 | 2/3 | 3/3 | 3/3 | +0.17% | +0.50%",
        # two seeds by their mean: seeds {0, 2} give 0.003 0.9975; by the worse: never
        ("exhaustive grid", "2 (mean)"): "200% | 3 | 2/3 | 3/3 | 3/3 | +0.17% | +0.50%",
        ("exhaustive grid", "2 (worst)"): "200% | 3 | 3/3 | 3/3 | 3/3 | +0.00% | +0.00%",
        # epoch 1 keeps 0.1 and 0.03, epoch 2 keeps 0.1: the winner is gone; 0.1 diverged in seed 2 (its mean inf), or,
        # halving on seed 2 alone, nothing is left with a finite loss: the cell chooses nothing
        ("halving: 4 to 1, 2 to 2, 1 to 4", "1"): "50% | 3 | 0/3 | 0/3 | 0/3 | inf | inf",
        ("halving: 4 to 1, 2 to 2, 1 to 4", "2 (worst)"): "100% | 3 | 0/3 | 0/3 | 0/3 | inf | inf",
        # epoch 2 keeps 0.1 and 0.001, which beats 0.1 at epoch 4 on every seed: (4 x 2 + 2 x 2) / (4 x 4) = 75%
        ("halving: 4 to 2, 2 to 4", "1"): "75% | 3 | 3/3 | 3/3 | 3/3 | +0.00% | +0.00%",
        # Hyperband: both brackets, the better of their choices at epoch 4; the cost is the sum, 50% + 75%
        ("Hyperband: [4 to 1, 2 to 2, 1 to 4] + [4 to 2, 2 to 4]", "1"): "125% | 3 | 3/3 | 3/3 | 3/3 | +0.00% | +0.00%",
    }
    for strategy, numbers in expected.items():
        assert strategy in rows, (strategy, out)
        assert rows[strategy] == numbers, (strategy, rows[strategy])
    assert len(rows) == 12  # 4 strategies x (1 seed, 2 by the mean, 2 by the worse)
    assert ("Recommendation: no strategy is within 1% of the winner in 90% of the replays at no more than 33% of the grid's steps; "
            "none replayed costs that little (the cheapest: 50%); the cheapest to get there at any cost: halving: 4 to 2, 2 to 4, "
            "1 tuning seed (within 1% in 100% of the replays at 75% of the grid's steps).") in out


def test_the_recommendation_is_the_cheapest_strategy_within_one_percent_at_a_third_of_the_steps(tmp_path):
    # curves that never cross, 0.001 the best from epoch 1: halving 4 to 1 then 1 to 12 costs (4 + 11) / 48 = 31%;
    # with eta 2 (4 to 1, 2 to 2, 1 to 12) 16 / 48 = 33.3%, within the budget too but dearer
    rates = {"trainer.lr=0.01": 1.3, "trainer.lr=0.001": 1.0, "trainer.lr=0.003": 1.1, "trainer.lr=0.03": 1.2}
    curves = {cell: {rate: [[end + 1 / epoch + 0.001 * seed for epoch in range(1, 13)] for seed in range(3)] for rate, end in rates.items()}
              for cell in ("model=uvb sigma=0.3", "model=deen sigma=0.3")}
    out = replay(write_grid(tmp_path / "curves.csv", curves))
    assert "| halving: 4 to 1, 1 to 12 | 3, 4 | 1 | 31% | 6 | 6/6 | 6/6 | 3/3 | +0.00% | +0.00% |" in out  # 2 cells x 3 seeds
    assert ("Recommendation: halving: 4 to 1, 1 to 12, 1 tuning seed (within 1% in 100% of the replays at 31% of the grid's "
            "steps), the cheapest to get there.") in out


def test_a_format_1_record_becomes_the_grid_it_is_replayed_from(tmp_path):
    record = {"format": 1, "budget_key": "trainer.epochs", "full_budget": 4, "eta": 4, "rungs": [[3, 1], [1, 4]],
              "grid": ["trainer.lr=0.001", "trainer.lr=0.01", "trainer.lr=0.1"], "seeds": [1, 2, 3],
              "cells": {"model=deen sigma=0.3": {"cell": ["model=deen", "sigma=0.3"], "val_loss": {
                  "trainer.lr=0.001": {"1": 9.0, "4": 4.5}, "trainer.lr=0.01": {"1": 5.6, "4": 4.4},
                  "trainer.lr=0.1": {"1": 4.8, "4": None}}}}}
    (tmp_path / "protocol.json").write_text(json.dumps(record))
    curves = replay("--from-protocol", tmp_path / "protocol.json")
    # the one tuning seed is the seed before the first test seed; a loss that was not finite is empty, as learning_curves.py writes it
    assert curves.splitlines() == [HEADER] + [f"model=deen sigma=0.3,trainer.lr={rate},tuning,0,{epoch},,{loss},,,,"
                                              for rate, epoch, loss in (("0.001", 1, "9.0"), ("0.001", 4, "4.5"), ("0.01", 1, "5.6"),
                                                                        ("0.01", 4, "4.4"), ("0.1", 1, "4.8"), ("0.1", 4, ""))]
    (tmp_path / "curves.csv").write_text(curves)
    out = replay(tmp_path / "curves.csv")
    # halving 1 -> 4 keeps 0.1, the best at epoch 1, which diverged: no choice; the exhaustive grid is the reference
    assert "| halving: 3 to 1, 1 to 4 | 2, 3, 4 | 1 | 50% | 1 | 0/1 | 0/1 | 0/1 | inf | inf |" in out
    assert "| exhaustive grid (the reference) | — | 1 | 100% | 1 | 1/1 | 1/1 | 1/1 | +0.00% | +0.00% |" in out  # on its one seed
    assert "Not replayable on this grid: 2 tuning seeds (a cell has 1)" in out


def test_a_record_or_file_that_cannot_make_a_whole_grid_is_refused_in_one_line(tmp_path):
    record = {"format": 1, "full_budget": 4, "rungs": [[2, 1], [1, 4]], "grid": ["trainer.lr=0.001", "trainer.lr=0.01"], "seeds": [1],
              "cells": {"model=uvb sigma=1.0": {"val_loss": {"trainer.lr=0.001": {"1": 9.0, "4": 4.5}, "trainer.lr=0.01": {"1": 9.5}}}}}
    (tmp_path / "protocol.json").write_text(json.dumps(record))  # halving alone: 0.01 never trained to 4 epochs
    bad_loss = tmp_path / "curves.csv"
    bad_loss.write_text(f"{HEADER}\nmodel=uvb sigma=1.0,trainer.lr=0.001,tuning,0,1,1,import os,,,,run\n")
    for args, says in (([ "--from-protocol", tmp_path / "protocol.json"], "trainer.lr=0.01, seed 0 has no result at trainer.epochs=4"),
                       ([bad_loss], "line 2: val_loss is 'import os', not a number")):
        result = run_python([SCRIPT, *map(str, args)], timeout=120)
        assert result.returncode == 2 and result.stdout == "", result.stdout
        assert result.stderr.startswith("replay_sweepers: error: ") and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def test_a_grid_the_size_of_the_10x10_mixtures_replays_in_under_a_minute(tmp_path):
    # 4 cells x 5 rates x 3 seeds x 20 epochs, every default strategy (45 of them): CPU time, as the machine may be busy
    rates = ["trainer.lr=0.0003", "trainer.lr=0.001", "trainer.lr=0.003", "trainer.lr=0.01", "trainer.lr=0.03"]
    curves = {f"model={model} sigma={sigma}": {rate: [[1 + 1 / (epoch * (i + 1)) + 0.01 * ((seed * 7 + i * 3 + epoch) % 5) for epoch in range(1, 21)]
                                                     for seed in range(3)] for i, rate in enumerate(rates)}
              for model in ("uvb", "deen") for sigma in (0.3, 1.0)}
    path = write_grid(tmp_path / "curves.csv", curves)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = replay(path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.count("| Hyperband:") == 24 and "Recommendation:" in out
    assert (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) < 60

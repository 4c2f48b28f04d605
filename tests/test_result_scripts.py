"""The scripts that regenerate docs/results.md's numbers: each reads what it says and writes what the page shows."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from conftest import QUICK, REPO, TINY, run_python, uvb_train_here
from hand_made_runs import table_identity, write_run
from uvb_lab import paper

SCRIPTS = REPO / "scripts"


def test_tables45_progress_shows_every_evaluation_against_the_papers_numbers(tmp_path):
    sweep = tmp_path / "table45_mnist"
    evaluations = [{"step": 469 * e, "epoch": float(e), "eval": "epoch_end", "test_loss": 400.0, "test_kl_on_x": 2.0 + e, "test_kl_on_y": 5.0 + e,
                    "test_recon_on_x": 30.0 - e}
                   for e in (1, 2)]
    stopped = {"step": 1000, "epoch": 1000 / 469, "eval": "preempted", "test_loss": 400.0, "test_kl_on_x": 99.0, "test_recon_on_x": 99.0}
    write_run(sweep, "vae-mnist-sigma1.0", 1000.0, None, metrics=[*evaluations, stopped], model="vae", sigma=1.0, status="preempted")
    curve = [{"step": 50 * i, "epoch": 50 * i / 469, "train_loss": 500.0 - i} for i in (1, 2, 3)]
    write_run(sweep, "uvb_laplace-mnist-sigma1.0", 1000.0, None, metrics=curve, model="uvb_laplace", sigma=1.0, status="running")
    result = run_python([str(SCRIPTS / "tables45_progress.py"), str(sweep), "--out", str(tmp_path / "out")], timeout=120)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "out" / "progress.md").read_text().splitlines()
    kl = [line for line in table if "KL of q(z\\|x)" in line]
    assert [line.split(" | ")[4] for line in kl] == ["3.000", "4.000"]  # the preemption's evaluation is not a point
    assert all(line.endswith("| — |") for line in kl)  # the paper's KL is on y, not on x
    table4 = [line for line in table if "KL of q(z\\|y), test (Table 4)" in line]
    assert [line.split(" | ")[4] for line in table4] == ["6.000", "7.000"] and table4[0].endswith(f"| {paper.TABLE4_KL['vae']} |")
    squared = [line for line in table if "μ_y(z)" in line]
    assert squared[0].split(" | ")[4] == "58.000" and squared[0].endswith(f"| {paper.TABLE5_RECONSTRUCTION['vae']} |")  # 2 σ² recon
    assert [line.split(" | ")[4] for line in table if "training loss" in line] == ["499.000", "498.000", "497.000"]
    assert (tmp_path / "out" / "progress.png").read_bytes()[:4] == b"\x89PNG"


def test_tables45_progress_says_where_the_vaes_path_crosses_the_papers_pair(tmp_path):
    # error 2 sigma^2 recon_on_x from 60 to 50 while the KL of q(z|y) goes from 3.0 to 4.0: the paper's (51.5, 3.70)
    # is passed at KL 3.85 (85% of the way) and error 53.0 (70% of the way)
    assert (paper.TABLE5_RECONSTRUCTION["vae"], paper.TABLE4_KL["vae"]) == (51.5, 3.70)
    rows = [{"step": 100 * i, "epoch": i / 4.69, "eval": "eval_every_steps", "test_loss": 400.0, "test_kl_on_y": kl, "test_kl_on_x": 1.0,
             "test_recon_on_x": error / 2} for i, (kl, error) in enumerate(((3.0, 60.0), (4.0, 50.0)), start=1)]
    write_run(tmp_path / "early", "vae-mnist-sigma1.0", 1.0, None, metrics=rows, model="vae", sigma=1.0)
    result = run_python([str(SCRIPTS / "tables45_progress.py"), str(tmp_path / "early"), "--out", str(tmp_path / "out")], timeout=120)
    assert result.returncode == 0, result.stderr
    assert ("the error crosses the paper's 51.5 with the KL at 3.85; the KL crosses the paper's 3.7 with the error at 53.00"
            in (tmp_path / "out" / "progress.md").read_text())


def test_tables45_progress_gives_the_seeds_of_one_cell_their_interval_per_epoch(tmp_path):
    sweep = tmp_path / "table2_mnist_tuned"
    for seed, kl in ((1, 80.0), (2, 90.0), (3, 100.0)):
        rows = [{"step": 422 * e, "epoch": float(e), "eval": "epoch_end", "test_loss": 20.0, "test_kl_on_y": kl + e, "test_kl_on_x": 1.0,
                 "test_recon_on_x": 40.0} for e in (1, 2)]
        write_run(sweep, f"uvb-mnist-sigma1.0-lr0.003-seed{seed}", 20.0, None, metrics=rows, model="uvb", sigma=1.0)
    write_run(sweep, "uvb-mnist-sigma0.3-lr0.003-seed1", 4.0, None, metrics=[{**rows[0], "test_kl_on_y": 1e6}], model="uvb", sigma=0.3)
    result = run_python([str(SCRIPTS / "tables45_progress.py"), str(sweep), "--runs", "uvb-mnist-sigma1.0-*seed*", "--seeds",
                         "--out", str(tmp_path / "out")], timeout=120)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "out" / "progress.md").read_text()
    assert "1000000" not in table  # the other sigma's run is not among --runs
    over_runs = [line for line in table.splitlines() if line.startswith("| UVB") and "(95% CI, n=3)" in line and "KL of q(z\\|y)" in line]
    # 81, 91, 101 at epoch 1: mean 91, t(0.975, 2) 10 / sqrt(3) = 24.8
    assert [line.split(" | ")[2:4] for line in over_runs] == [["1", "91.0 ± 24.8 (95% CI, n=3)"], ["2", "92.0 ± 24.8 (95% CI, n=3)"]]


def test_paired_seeds_compares_two_sets_seed_by_seed_beside_welch_pairs_only_on_both_fingerprints_and_refuses_other_noise(tmp_path):
    for seed, (a, b) in enumerate(((4.0, 5.0), (4.2, 5.1), (3.9, 5.2)), start=1):
        write_run(tmp_path / "check", f"uvb-seed{seed}", 1.0, table_identity("uvb", "mnist", 0.3, **{"trainer.seed": seed}), model="uvb", sigma=0.3,
                  test_loss=a, train_stream_fingerprint=f"stream{seed}")
        write_run(tmp_path / "protocol", f"deen-seed{seed}", 1.0, table_identity("deen", "mnist", 0.3, **{"trainer.seed": seed}), model="deen", sigma=0.3,
                  test_loss=b, train_stream_fingerprint=f"stream{seed}")
        write_run(tmp_path / "batch64", f"deen-seed{seed}", 1.0, table_identity("deen", "mnist", 0.3, **{"trainer.seed": seed}), model="deen", sigma=0.3,
                  test_loss=b, train_stream_fingerprint=f"batch64-stream{seed}")
    write_run(tmp_path / "other", "deen-seed1", 1.0, table_identity("deen", "mnist", 0.6, **{"trainer.seed": 1}), model="deen", sigma=0.6, test_loss=1.0)
    script = str(SCRIPTS / "paired_seeds.py")
    protocol_seeds = [str(path) for path in sorted((tmp_path / "protocol").iterdir())]
    result = run_python([script, "--a", str(tmp_path / "check" / "*"), "--b", *protocol_seeds, "--out", str(tmp_path / "paired.md")])
    assert result.returncode == 0, result.stderr
    # differences -1.0, -0.9, -1.3: mean -1.067, t(0.975, 2) 0.208 / sqrt(3) = 0.517; Welch's interval of the means beside it
    welch = scipy_stats.ttest_ind([4.0, 4.2, 3.9], [5.0, 5.1, 5.2], equal_var=False)
    half = (welch.confidence_interval().high - welch.confidence_interval().low) / 2
    assert f"- A − B, Welch's 95% interval (unpaired): -1.07 ± {half:.2f} (the interval excludes 0; Welch p = {welch.pvalue:.2g})" in result.stdout
    p_paired = scipy_stats.ttest_rel([4.0, 4.2, 3.9], [5.0, 5.1, 5.2]).pvalue
    assert ("- A − B, paired: same test noise and training stream, seed by seed (1, 2, 3): -1.07 ± 0.52 (95% CI, n=3) "
            f"(the interval excludes 0; paired t-test p = {p_paired:.2g})") in result.stdout
    assert "- seeds per set that would detect A − B with 80% power (paired t, α = 0.05): 3" in result.stdout
    assert "| 2 | 4.20 | 5.10 | -0.900 |" in (tmp_path / "paired.md").read_text()
    # The same noisy test images, but DEEN trained at another batch size: other batches, so the seeds are not paired.
    result = run_python([script, "--a", str(tmp_path / "check" / "*"), "--b", str(tmp_path / "batch64" / "*")])
    assert result.returncode == 0, result.stderr
    assert "- A − B, same test noise, seeds not paired: other training streams at seed 1, 2, 3" in result.stdout
    assert "no paired interval, Welch's alone" in result.stdout and "paired: same test noise and training stream" not in result.stdout
    result = run_python([script, "--a", str(tmp_path / "check" / "*"), "--b", str(tmp_path / "other" / "*")])
    assert result.returncode == 2 and "scored on different noisy test images" in result.stderr and len(result.stderr.splitlines()) == 1


def test_gmm_risks_prints_the_default_mixtures_bayes_and_linear_risks(tmp_path):
    result = run_python([str(SCRIPTS / "gmm_risks.py"), "--sigmas", "0.5", "--samples", "4000"], timeout=120)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 0.5 |"))
    bayes, linear, ratio = float(row.split(" | ")[1].split(" ± ")[0]), float(row.split(" | ")[2]), float(row.split(" | ")[3])
    assert ratio == round(bayes / linear, 3) or abs(ratio - bayes / linear) < 1e-3
    assert ratio < 0.7  # the mixture's best denoiser is far from linear (conf/data/gmm.yaml's promise)
    assert "% of training pixels in [0, 1]" in result.stdout
    ranked = run_python([str(SCRIPTS / "gmm_risks.py"), "--sigmas", "1.0", "--samples", "4000", "data.component_rank=4"], timeout=120)
    assert ranked.returncode == 0, ranked.stderr
    assert "'component_rank': 4" in ranked.stdout and next(line for line in ranked.stdout.splitlines() if line.startswith("| 1 |"))
    assert run_python([str(SCRIPTS / "gmm_risks.py"), "model=deen"]).returncode == 2  # only the mixture's settings


def test_compare_samplers_counts_the_mixing_of_each_sampler_on_each_run(tmp_path):
    run_dir = tmp_path / "run"
    args = [*QUICK, *TINY["deen"], "model=deen", "data=gmm", "data.image_size=8", "data.n_train=1000", "data.n_test=200",
            "logger=none", "figures.jumps=4", "figures.images=2", "figures.classifier_epochs=10", f"figures.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"]
    assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    result = run_python([str(SCRIPTS / "compare_samplers.py"), str(run_dir), "--out", str(tmp_path / "out"), "--frictions", "2",
                         "--chains", "3", "--seeds", "0,1"], timeout=240)
    assert result.returncode == 0, result.stderr
    numbers = json.loads((tmp_path / "out" / "samplers.json").read_text())
    assert sorted(numbers) == ["overdamped", "underdamped, friction 2"]
    for rows in numbers.values():
        assert [row["seed"] for row in rows] == [0, 1]  # one row per sampler seed
        for row in rows:
            assert 1 <= row["mean_num_classes_visited"] <= 4  # 4 jumps see at most 4 classes
            assert len(row["jump_all_classes_seen"]) == 3  # one per chain: a jump number or None (not all seen)
    assert "| overdamped |" in (tmp_path / "out" / "samplers.md").read_text()


def test_the_gpu_first_look_runs_its_three_steps_on_the_cpu_with_dry_run(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO), "OUT": str(tmp_path / "look"), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu_first_look.sh"), "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    look = tmp_path / "look"
    for precision in ("tf32", "bf16"):
        assert json.loads((look / f"bench_{precision}.json").read_text())
    assert "agree (within 1%)" in (look / "agreement.txt").read_text()
    cell = [p for p in (tmp_path / "multirun" / "smoke").iterdir() if (p / "summary.json").is_file()]
    assert sorted(p.name.split("-")[0] for p in cell) == ["deen", "uvb"] and all("sigma1.0" in p.name for p in cell)


def test_compute_matched_reads_every_model_at_the_smallest_training_flop_of_its_group(tmp_path):
    """Both models are read at the smaller of their total training FLOP, the other one interpolated in log FLOP."""
    sweep = tmp_path / "sweep"
    losses = {"deen": [8.0, 4.0, 2.0, 1.0], "uvb": [6.0, 3.0]}  # at 10, 20, ... steps; seed s adds s
    cells = {}
    for model, curve in losses.items():
        runs = {}
        for seed in (1, 2):
            rows = [{"step": 10 * (e + 1), "epoch": e + 1.0, "eval": "epoch_end", "epoch_time_s": 60.0, "test_loss": loss + seed}
                    for e, loss in enumerate(curve)]
            write_run(sweep, f"{model}-seed{seed}", 100.0, None, metrics=rows, model=model, sigma=1.0, test_loss=rows[-1]["test_loss"])
            runs[str(seed)] = f"{model}-seed{seed}"
        overrides = [f"model={model}", "sigma=1.0", "data=synthetic", *TINY[model]]
        cells[f"model={model} sigma=1.0"] = {"cell": overrides, "chosen": None, "chosen_overrides": [], "val_loss": {}, "test_runs": runs}
    (sweep / "protocol.json").write_text(json.dumps({"format": 1, "cells": cells}))
    result = run_python([str(SCRIPTS / "compute_matched.py"), str(sweep), "--out", str(tmp_path / "out")], timeout=120)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "out" / "compute_matched.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| ").split(" ")[0][6:]: line.split(" | ") for line in table.splitlines() if line.startswith("| model=")}
    flop = {model: float(rows[model][1]) * 1e9 for model in losses}
    assert flop["uvb"] > flop["deen"] > 0  # the double backward through two encoders and a decoder costs more
    budget = min(10 * len(curve) * flop[model] for model, curve in losses.items())
    for model, curve in losses.items():
        assert abs(float(rows[model][5]) - budget) < 0.01 * budget
        steps = budget / flop[model]
        expected = np.interp(np.log(steps), np.log(10 * np.arange(1, len(curve) + 1)), curve) + 1.5  # the seeds' mean
        assert abs(float(rows[model][6].split(" ± ")[0]) - expected) < 0.02 * expected
    assert "deen − uvb at sigma=1.0" in table or "uvb − deen at sigma=1.0" in table
    # Welch's interval beside the paired one; these runs record no training stream, so their seeds are not called paired.
    (row,) = [line.split(" | ") for line in table.splitlines() if "− uvb at sigma=1.0 |" in line or "− deen at sigma=1.0 |" in line]
    assert " ± " in row[2] and row[3] == "—" and row[4] == "same test noise, seeds not paired: no train_stream_fingerprint (runs made before uvb-lab recorded it)"
    assert (tmp_path / "out" / "compute_matched.png").read_bytes()[:4] == b"\x89PNG"


def test_halving_vs_exhaustive_names_halvings_own_choice_when_the_seeds_trained_the_whole_grids(tmp_path):
    # A record whose test seeds trained the exhaustive grid's choice (choose_by=exhaustive): `chosen` is the grid's,
    # and halving's choice (3e-2 for DEEN at sigma 0.3, which blew up by the full budget) must not be read from it.
    sweep = tmp_path / "table2_mnist_tuned"
    sweep.mkdir()
    record = json.loads((REPO / "docs" / "results" / "table2_mnist_tuned" / "protocol.json").read_text())
    (sweep / "protocol.json").write_text(json.dumps(record))
    result = run_python([str(SCRIPTS / "halving_vs_exhaustive.py"), str(sweep)])
    assert result.returncode == 0, result.stderr
    (deen,) = [line for line in result.stdout.splitlines() if line.startswith("| model=deen sigma=0.3 |")]
    assert deen.startswith("| model=deen sigma=0.3 | trainer.lr=0.03 | trainer.lr=0.01 | 100.1 / 4.458 | +2146.08% |")
    (uvb,) = [line for line in result.stdout.splitlines() if line.startswith("| model=uvb sigma=0.6 |")]
    assert "| trainer.lr=0.003 | trainer.lr=0.001 |" in uvb and "+2.68%" in uvb
    assert "their trials' run folders are not in this folder" in result.stdout  # no time columns made up


def test_learning_curves_lists_every_epoch_of_every_tuning_trial_and_test_seed(tmp_path):
    sweep = tmp_path / "sweep"
    command = ["-m", "hydra/sweeper=tune_then_test", "model=deen", *TINY["deen"], *QUICK, "trainer.max_steps=null", "logger=none",
               "data.n_train=64", "data.n_test=16", "data.val_fraction=0.25", "trainer.batch_size=16", "trainer.epochs=2",
               "trainer.lr=1e-3,1e-2", "hydra.sweeper.tuning_seeds=2", "hydra.sweeper.seeds=1", "hydra.sweeper.min_budget=2",
               f"hydra.sweep.dir={sweep}"]
    assert uvb_train_here(command, cwd=tmp_path).returncode == 0
    result = run_python([str(SCRIPTS / "learning_curves.py"), str(sweep)])
    assert result.returncode == 0, result.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    tuning = [row for row in rows if row["role"] == "tuning"]
    # 2 rates x 2 tuning seeds x 2 epochs; the record's loss at the budget is its trial's epoch-2 row
    assert len(tuning) == 8 and {row["seed"] for row in tuning} == {"0", "1"} and {row["epoch"] for row in tuning} == {"1", "2"}
    record = json.loads((sweep / "protocol.json").read_text())
    (cell,) = record["cells"].values()
    for row in tuning:
        if row["epoch"] == "2":
            assert float(row["val_loss"]) == cell["trials"][row["setting"]][row["seed"]]["at"]["2"]
    (seed,) = {row["seed"] for row in rows if row["role"] == "test"}
    assert seed == "2" and all(row["test_loss"] for row in rows if row["role"] == "test")
    (sweep / "protocol.json").write_text(json.dumps({**record, "cells": [1]}))  # a damaged record: one line, exit 2
    result = run_python([str(SCRIPTS / "learning_curves.py"), str(sweep)])
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "learning_curves: error:" in result.stderr


# -- docs/results/ is written only with --publish, and only for the experiment itself (issue 34 item 3) ----------------


def run_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_script_refuses_to_publish_a_run_whose_overrides_change_the_experiment_before_it_trains(tmp_path):
    # `scripts/tune_then_test.sh bayes_gap_tuned_10x10 data.n_train=600 trainer.epochs=2` rewrote six tracked files of
    # docs/results/bayes_gap_tuned_10x10/ with a 2-epoch toy.
    published = REPO / "docs" / "results" / "bayes_gap_tuned_10x10"
    before = files_under(published)
    done = run_script([str(SCRIPTS / "tune_then_test.sh"), "bayes_gap_tuned_10x10", "--publish", "data.n_train=600", "trainer.epochs=2"], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("publishable: error: data.n_train=600 trainer.epochs=2 change the experiment"), done.stderr
    assert list(tmp_path.iterdir()) == [] and files_under(published) == before  # nothing trained, nothing published


def test_without_publish_a_script_writes_its_report_into_the_sweep_folder_alone(tmp_path):
    from test_untrusted_records import tuned_sweep

    experiment = f"unpublished-{uuid.uuid4().hex[:8]}"  # a name of its own: no published folder to confuse it with
    sweep = tuned_sweep(tmp_path / "multirun" / experiment)
    published = REPO / "docs" / "results" / experiment
    try:
        done = run_script([str(SCRIPTS / "tune_then_test.sh"), experiment, "--report-only"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (sweep / "report" / "protocol.md").is_file() and not published.exists()
        assert f"wrote multirun/{experiment}/report (--publish copies it into docs/results/{experiment}/)" in done.stdout
        # --publish reads the sweep folder's last launch too: a toy launched earlier into it is not published.
        # (Hydra writes multirun.yaml unresolved: its interpolations are read as text, not refused.)
        (sweep / "multirun.yaml").write_text("hydra:\n  run:\n    dir: outputs/${run.name}\n  overrides:\n"
                                             f"    task: ['+experiment={experiment}', 'trainer.epochs=2']\n")
        done = run_script([str(SCRIPTS / "tune_then_test.sh"), experiment, "--report-only", "--publish"], tmp_path)
        assert done.returncode == 2 and "had trainer.epochs=2, which changes the experiment" in done.stderr, done.stderr
        assert not published.exists()
    finally:
        if published.is_dir():  # made by this test alone, by the code before the fix
            shutil.rmtree(published)

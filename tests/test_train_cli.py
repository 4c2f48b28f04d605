"""`uvb-train` end to end, as a user runs it: the files every run leaves, for every model."""

import json
import math

import pytest
import torch
import yaml

from conftest import MODELS, QUICK, TINY, uvb_train_here
from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.training import build as build_module
from uvb_lab.training.train_step import resolve_precision

SUMMARY_KEYS = {"model", "dataset", "sigma", "num_params", "epochs_done", "steps_done", "train_loss", "test_loss", "wall_time_s"}


@pytest.mark.parametrize("model", MODELS)
def test_uvb_train_writes_a_complete_run_folder(model, tmp_path):
    run_dir = tmp_path / "run"
    args = [f"model={model}", *QUICK, *TINY[model], "trainer.max_steps=null", "trainer.epochs=2", "sigma=0.8",
            f"hydra.run.dir={run_dir}"]
    result = uvb_train_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    summary = json.loads((run_dir / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert (summary["status"], summary["model"], summary["dataset"], summary["sigma"]) == ("finished", model, "synthetic", 0.8)
    steps_per_epoch = math.ceil(512 / 128)  # conf/data/synthetic.yaml: 512 training images
    assert (summary["epochs_done"], summary["steps_done"]) == (2, 2 * steps_per_epoch)
    assert all(math.isfinite(summary[k]) and summary[k] > 0 for k in ("train_loss", "test_loss", "wall_time_s"))
    if model in ("uvb", "vae"):
        assert all(summary[f"test_{term}_on_{v}"] >= 0 for term in ("kl", "recon") for v in ("x", "y"))

    rows = run_files.evaluations(run_files.read_metrics(run_dir))
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[-1]["test_loss"] == summary["test_loss"]
    assert all(row["samples_per_s"] > 0 for row in rows)

    state = checkpoint.read(run_dir / checkpoint.LAST)
    assert state["epochs_done"] == 2 and state["step"] == summary["steps_done"]
    assert sum(t.numel() for t in state["model"].values()) == summary["num_params"]

    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["sigma"] == 0.8 and resolved["model"]["sigma"] == 0.8
    assert resolved["run"]["name"].startswith(f"{model}-synthetic-sigma0.8-")  # then the tiny widths
    assert json.loads((run_dir / "identity.json").read_text())["identity"]["sigma"] == 0.8
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and any(offline_runs[0].glob("*.wandb"))


def test_epochs_zero_evaluates_the_untrained_model_and_writes_the_summary(tmp_path):
    run_dir = tmp_path / "run"
    result = uvb_train_here(["model=deen", *QUICK, *TINY["deen"], "trainer.epochs=0", "logger=none", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = run_summary.read(run_dir)
    assert (summary["epochs_done"], summary["steps_done"], summary["train_loss"]) == (0, 0, None)
    assert summary["test_loss"] > 0 and summary["status"] == "finished"
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert [(row["step"], row["eval"]) for row in run_files.read_metrics(run_dir)] == [(0, "untrained")]


def test_max_steps_caps_the_run_mid_epoch(tmp_path):
    run_dir = tmp_path / "run"
    args = ["model=deen", *QUICK, *TINY["deen"], "trainer.epochs=5", "trainer.max_steps=6", "logger=none", f"hydra.run.dir={run_dir}"]
    assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    summary = run_summary.read(run_dir)
    # 4 steps per epoch: one full epoch, then 2 steps of the second.
    assert (summary["steps_done"], summary["epochs_done"], summary["epochs"]) == (6, 1, 5)
    assert [(row["epoch"], row["eval"]) for row in run_files.evaluations(run_files.read_metrics(run_dir))] == [(1, "epoch_end"), (1.5, "max_steps")]


def test_the_test_loss_uses_fixed_noise_so_reruns_agree(tmp_path):
    losses = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        args = ["model=uvb", *QUICK, *TINY["uvb"], "logger=none", "trainer.epochs=0", f"hydra.run.dir={run_dir}"]
        assert uvb_train_here(args, cwd=tmp_path).returncode == 0
        losses.append(run_summary.read(run_dir)["test_loss"])
    assert losses[0] == losses[1]


def test_curves_have_a_training_row_every_log_every_steps_and_an_evaluation_every_eval_every_steps(tmp_path):
    run_dir = tmp_path / "run"
    args = ["model=deen", *QUICK, *TINY["deen"], "trainer.max_steps=null", "trainer.epochs=2", "logger=none",
            "trainer.log_every_steps=2", "trainer.eval_every_steps=3", f"hydra.run.dir={run_dir}"]
    assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    rows = run_files.read_metrics(run_dir)
    # 512 images at batch 128: 4 steps an epoch, 8 in all.
    assert [(row["step"], row["epoch"]) for row in rows if "test_loss" not in row] == [(2, 0.5), (4, 1.0), (6, 1.5), (8, 2.0)]
    assert all(math.isfinite(row["train_loss"]) and row["samples_per_s"] > 0 for row in rows if "test_loss" not in row)
    evaluations = run_files.evaluations(rows)
    assert [(row["step"], row["eval"]) for row in evaluations] == [(3, "eval_every_steps"), (4, "epoch_end"), (6, "eval_every_steps"), (8, "epoch_end")]
    summary = run_summary.read(run_dir)
    assert summary["test_loss"] == evaluations[-1]["test_loss"]
    assert summary["best_test_loss"] == min(row["test_loss"] for row in evaluations)
    assert summary["precision"] == resolve_precision("auto", torch.device("cpu"))  # trainer.precision=auto, the default
    assert summary["device"] == "cpu" and summary["threads"] >= 1
    assert summary["package_versions"]["torch"].startswith("2.")


def test_the_progress_bar_stays_out_of_a_log_that_is_not_a_terminal(tmp_path):
    from conftest import run_uvb_train

    quick = [arg for arg in QUICK if not arg.startswith("trainer.progress")]
    done = run_uvb_train([*quick, *TINY["deen"], "model=deen", "logger=none", "trainer.progress=true",
                          "trainer.max_steps=null", "data.n_train=256", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout + done.stderr and "epoch 1/1" in done.stdout


# 128 images at batch 32, 3 steps: every model's run sees its first 3 training batches.
PAIRED = [*QUICK, "data.n_train=128", "data.n_test=32", "trainer.batch_size=32", "logger=none"]


def batches_trained_on(model: str, seed: int, tmp_path, monkeypatch) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], str]:
    """The (x, y) of each training step of a tiny run of `model` at trainer.seed=`seed`, and its train_stream_fingerprint."""
    seen, make_step = [], build_module.make_train_step

    def recording(*args, **kwargs):
        step = make_step(*args, **kwargs)

        def recorded_step(x, y):
            seen.append((x.clone(), y.clone()))
            return step(x, y)

        return recorded_step

    run_dir = tmp_path / f"{model}-{seed}"
    with monkeypatch.context() as patch:
        patch.setattr(build_module, "make_train_step", recording)
        done = uvb_train_here([*PAIRED, f"model={model}", *TINY[model.replace("sigma_", "")], f"trainer.seed={seed}",
                               f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return seen, run_summary.read(run_dir)["train_stream_fingerprint"]


def test_every_model_at_one_seed_trains_on_the_same_batches_and_shares_their_fingerprint(tmp_path, monkeypatch):
    deen, deen_fingerprint = batches_trained_on("deen", 0, tmp_path, monkeypatch)
    assert len(deen) == 3 and isinstance(deen_fingerprint, str) and len(deen_fingerprint) == 16
    for model in ("uvb", "vae", "sigma_vae"):  # other widths, other init draws, z draws between the batches
        batches, fingerprint = batches_trained_on(model, 0, tmp_path, monkeypatch)
        assert fingerprint == deen_fingerprint, model
        assert all(torch.equal(x, x_deen) and torch.equal(y, y_deen) for (x, y), (x_deen, y_deen) in zip(batches, deen, strict=True)), model
    other_seed, other_fingerprint = batches_trained_on("deen", 1, tmp_path, monkeypatch)
    assert other_fingerprint != deen_fingerprint
    assert not torch.equal(other_seed[0][1], deen[0][1])


def test_a_clipped_run_trains_otherwise_and_is_named_by_its_clip(tmp_path):
    args = ["model=deen", *QUICK, *TINY["deen"], "logger=none", "trainer.lr=0.01"]
    assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    clipped = uvb_train_here([*args, "trainer.grad_clip=0.001"], cwd=tmp_path)
    assert clipped.returncode == 0, clipped.stderr
    plain_dir = tmp_path / "outputs" / "deen-synthetic-sigma1.0-conv_channels4_8-hidden16-lr0.01"  # as before grad_clip existed
    clipped_dir = tmp_path / "outputs" / "deen-synthetic-sigma1.0-conv_channels4_8-hidden16-grad_clip0.001-lr0.01"
    assert set((tmp_path / "outputs").iterdir()) == {plain_dir, clipped_dir}
    assert "trainer.grad_clip" not in json.loads((plain_dir / "identity.json").read_text())["identity"]
    assert json.loads((clipped_dir / "identity.json").read_text())["identity"]["trainer.grad_clip"] == 0.001
    assert run_summary.read(clipped_dir)["train_loss"] != run_summary.read(plain_dir)["train_loss"]

def test_a_posterior_mean_target_trains_on_the_mixture_and_is_still_scored_against_x(tmp_path):
    from uvb_lab import load_run
    from uvb_lab.evaluate import evaluate
    from uvb_lab.loss import DenoisingLoss

    run_dir = tmp_path / "run"
    mixture = ["data=gmm", "data.image_size=8", "data.n_train=256", "data.n_test=64", "data.component_rank=2"]
    args = ["model=denoiser", *QUICK, "model.conv_channels=[4]", "model.hidden=64", *mixture, "loss.target=posterior_mean",
            "logger=none", f"hydra.run.dir={run_dir}"]
    result = uvb_train_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "identity.json").read_text())["identity"]["loss.target"] == "posterior_mean"
    run = load_run(run_dir, model=True)
    trainer = run.config["trainer"]
    against_x = evaluate(run.model, DenoisingLoss(target="x"), run.data.test, trainer["eval_seed"], trainer["eval_batch_size"],
                         ground_truth=run.data.ground_truth)
    # The recorded test loss is the trained weights' ||x - x_hat||^2 on the paired noise, as for every run (in the training's
    # precision where it agrees with fp32's to 0.1%, uvb_lab/evaluate.py), never the distance to E[x|y] it trained on.
    assert run.summary["test_loss"] == pytest.approx(against_x["test_loss"], rel=2e-3)
    assert run.summary["test_bayes_risk"] == pytest.approx(against_x["test_bayes_risk"])


def test_loss_target_is_part_of_a_runs_identity_only_away_from_x():
    from conftest import compose_config
    from uvb_lab import compose
    from uvb_lab.run import identity as run_identity

    plain = compose_config(["model=deen", "data=gmm"])
    assert plain.run.name == "deen-gmm-sigma1.0" and plain.loss.target == "x"
    current, defaults = run_identity.identity(plain), compose.defaults_identity({"model": "deen", "data": "gmm"})[0]
    made_before = {key: value for key, value in current.items() if key != "loss.target"}  # a folder made before the key
    assert run_identity.differences(made_before, current, defaults) == []
    aimed = compose_config(["model=deen", "data=gmm", "loss.target=posterior_mean"])
    assert aimed.run.name == "deen-gmm-sigma1.0-targetposterior_mean"
    assert run_identity.differences(made_before, run_identity.identity(aimed), defaults) != []


def test_help_lists_the_sweepers_and_launchers_each_with_an_example():
    shown = uvb_train_here(["--help"])
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    for name in ("successive_halving", "tune_then_test", "optuna", "joblib", "slurm, slurm_cpu"):
        (line,) = [line for line in lines if line.strip().startswith(name + " ")]
        assert "uvb-train -m " in line, line


def test_every_dry_run_shows_each_runs_epochs_steps_parameters_and_a_labelled_time(tmp_path):
    # Issue 34 item 5: the plain --dry-run showed no epochs, parameters or cost.
    args = ["--dry-run", "-m", *QUICK, *TINY["deen"], "model=deen", "logger=none", "data.n_train=64", "data.n_test=16",
            "trainer.batch_size=16", "trainer.max_steps=null", "trainer.epochs=2", "hydra.sweep.dir=sweep", "sigma=0.3,1.0"]
    planned = uvb_train_here(args, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert "; training ~" in lines[0] and "in all (estimated: each job's rate below)" in lines[0], lines[0]
    costs = [lines[i + 1].strip() for i, line in enumerate(lines) if line.startswith("  start")]
    assert len(costs) == 2 and all(cost.startswith("2 epochs, 8 steps, 18,801 parameters, training ~") for cost in costs), costs
    assert all("samples/s over 3 steps here, just now)" in cost and "(timed: " in cost for cost in costs), costs
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing
    # Once a run of the same model, data and size has finished, its recorded rate is the estimate.
    assert uvb_train_here([arg for arg in args if arg != "--dry-run"][:-1] + ["sigma=0.3"], cwd=tmp_path).returncode == 0
    planned = uvb_train_here(args, cwd=tmp_path)
    (sigma_03, sigma_1) = [i for i, line in enumerate(planned.stdout.splitlines()) if line.startswith(("  skip", "  start"))]
    lines = planned.stdout.splitlines()
    assert lines[sigma_03 + 1].strip() == "2 epochs, 8 steps (8 done), 18,801 parameters"  # finished: nothing to train
    assert "(measured: " in lines[sigma_1 + 1] and "samples/s by deen-synthetic-sigma0.3-" in lines[sigma_1 + 1], lines[sigma_1 + 1]

"""Runs on data whose distribution is known exactly: each records the best possible denoiser's risk on its own
test pairs, and a small model gets close to it. Models with a decoder also record the decoder-mean denoiser."""

import csv
import math

import pytest

from conftest import QUICK, SMALL, TINY, compose_config, gmm_settings
from hand_made_runs import write_run
from uvb_lab.data.gmm import bayes_risk, gmm
from uvb_lab.paired_noise import noisy
from uvb_lab.report import main as report
from uvb_lab.train import train

# A mixture small enough to learn in seconds, still one whose best denoiser is not linear (Bayes risk 20% lower).
EASY_MIXTURE = ["data=gmm", "data.image_size=8", "data.n_train=4096", "data.n_test=1024", "data.components=4", "data.std=0.15"]
RUN = ["logger=none", "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false"]


def test_a_run_on_the_mixture_records_the_exact_bayes_risk_of_its_own_test_pairs(tmp_path):
    overrides = [*QUICK, *RUN, *EASY_MIXTURE, "model=deen", *TINY["deen"], "sigma=0.5", "trainer.epochs=0",
                 "trainer.eval_batch_size=1024", "trainer.eval_seed=7"]
    summary = train(compose_config(overrides), tmp_path)
    data = gmm(**gmm_settings(image_size=8, n_train=4096, n_test=1024, components=4, std=0.15))
    y = noisy(data.test, 0.5, 7, "test")  # the paired test noise of eval_seed 7 (uvb_lab/paired_noise.py)
    assert summary["test_bayes_risk"] == pytest.approx(bayes_risk(data.ground_truth, data.test, y, 0.5).mean().item(), rel=1e-5)
    assert summary["test_risk_ratio"] == pytest.approx(summary["test_denoising_loss"] / summary["test_bayes_risk"])
    mc, se = summary["bayes_risk_monte_carlo"], summary["bayes_risk_monte_carlo_se"]
    assert abs(mc - summary["test_bayes_risk"]) < 4 * se + 0.05 * mc  # fresh pairs and the test pairs agree


def test_a_small_uvb_gets_within_10_percent_of_the_bayes_risk_and_beats_the_best_linear_denoiser(tmp_path):
    overrides = [*RUN, *EASY_MIXTURE, "model=uvb", *SMALL["uvb"], "sigma=0.5", "trainer.lr=3e-3", "trainer.epochs=8",
                 "trainer.batch_size=64"]
    summary = train(compose_config(overrides), tmp_path)
    linear = gmm(**gmm_settings(image_size=8, n_train=1, n_test=1, components=4, std=0.15)).ground_truth.linear_risk(0.5)
    assert summary["test_bayes_risk"] < 0.85 * linear  # the mixture is a real test: its best denoiser is not linear
    assert 0.98 <= summary["test_risk_ratio"] <= 1.10  # nothing beats E[x|y] (up to the test set's noise)
    assert summary["test_denoising_loss"] < linear


def test_the_sigma_vae_is_judged_by_its_decoder_and_every_decoder_model_records_that_denoiser(tmp_path):
    base = [*QUICK, *RUN, *EASY_MIXTURE, "sigma=0.5", "trainer.epochs=0"]
    sigma_vae = train(compose_config([*base, "model=sigma_vae", *TINY["uvb"]]), tmp_path / "sigma_vae")
    uvb = train(compose_config([*base, "model=uvb", *TINY["uvb"]]), tmp_path / "uvb")
    deen = train(compose_config([*base, "model=deen", *TINY["deen"]]), tmp_path / "deen")
    # The sigma-VAE's own denoiser is mu_y(z ~ q(z|y)): its denoising loss and the decoder one are the same estimator.
    assert sigma_vae["test_denoising_loss"] == pytest.approx(sigma_vae["test_decoder_denoising_loss"], rel=0.05)
    assert sigma_vae["test_loss"] != sigma_vae["test_denoising_loss"]  # its objective is the clean ELBO
    # UVB denoises by x_hat(y) and records the decoder's estimate beside it; DEEN has no decoder.
    assert uvb["test_loss"] == uvb["test_denoising_loss"] and "test_decoder_denoising_loss" in uvb
    assert "test_decoder_denoising_loss" not in deen
    assert sigma_vae["decoder"] == uvb["decoder"] == "gaussian" and deen["decoder"] is None


def test_the_report_shows_each_models_risk_ratio_and_excess_risk_per_sigma(tmp_path):
    runs = tmp_path / "runs"
    for model, loss, decoder in (("uvb", 1.2, 1.8), ("deen", 1.5, None), ("sigma_vae", 2.0, 2.0)):
        for seed, wobble in enumerate((-0.1, 0.1)):
            identity = {"run.model": model, "sigma": 0.5, "trainer.seed": seed, "data._target_": "uvb_lab.data.gmm.gmm"}
            summary = {"model": model, "dataset": "gmm", "sigma": 0.5, "epochs": 3, "epochs_done": 3, "test_bayes_risk": 1.0,
                       "test_loss": loss + wobble, "test_denoising_loss": loss + wobble}
            if decoder is not None:
                summary["test_decoder_denoising_loss"] = decoder + wobble
            write_run(runs, f"{model}-{seed}", 1000.0 + seed, identity, **summary)
    assert report([str(runs), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Distance to the Bayes risk, Gaussian mixture" in markdown and (tmp_path / "report" / "risk_ratio_vs_sigma.png").is_file()
    rows = list(csv.DictReader((tmp_path / "report" / "bayes_gap_gmm.csv").open()))
    value = {(r["row"], r["metric"]): (float(r["value"]), float(r["std"]), r["n"]) for r in rows}
    assert value[("UVB x̂(y)", "risk_ratio")] == pytest.approx((1.2, math.sqrt(0.02), "2"))
    assert value[("UVB decoder", "decoder_risk_ratio")][0] == pytest.approx(1.8)
    assert value[("DEEN x̂(y)", "excess_risk")][0] == pytest.approx(0.5)
    assert ("DEEN decoder", "decoder_risk_ratio") not in value  # no decoder, no row
    assert value[("σ-VAE μ_y(z)", "risk_ratio")][0] == pytest.approx(2.0) and ("σ-VAE decoder", "decoder_risk_ratio") not in value


def test_the_report_says_how_much_each_cell_still_fell_over_its_last_epoch(tmp_path):
    runs = tmp_path / "runs"
    # UVB's seeds fell 10% and 2% in their last epoch (a stop mid-epoch adds no epoch end); DEEN has one epoch end only.
    curves = {("uvb", 0): [2.0, 1.0, 0.9], ("uvb", 1): [1.5, 1.0, 0.98], ("deen", 0): [3.0]}
    for (model, seed), losses in curves.items():
        metrics = [{"step": 10 * (i + 1), "epoch": i + 1.0, "eval": "epoch_end", "test_loss": loss, "test_denoising_loss": loss}
                   for i, loss in enumerate(losses)] + [{"step": 35, "epoch": 3.5, "eval": "preempted", "test_loss": 0.1, "test_denoising_loss": 0.1}]
        identity = {"run.model": model, "sigma": 0.5, "trainer.seed": seed, "data._target_": "uvb_lab.data.gmm.gmm"}
        write_run(runs, f"{model}-{seed}", 1000.0 + seed, identity, metrics, model=model, dataset="gmm", sigma=0.5,
                  epochs=len(losses), epochs_done=len(losses), test_bayes_risk=0.5, test_loss=losses[-1], test_denoising_loss=losses[-1])
    assert report([str(runs), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| UVB x̂(y) | -6.0% (-10.0 to -2.0) |" in markdown and "| DEEN x̂(y) | — |" in markdown
    rows = list(csv.DictReader((tmp_path / "report" / "bayes_gap_gmm_last_epoch.csv").open()))
    change = {r["row"]: r["value"] for r in rows}
    assert float(change["UVB x̂(y)"]) == pytest.approx(-0.06) and change["DEEN x̂(y)"] == ""
    per_run = {r["folder"].rsplit("/", 1)[-1]: r["test_denoising_loss_last_epoch_change"]
               for r in csv.DictReader((tmp_path / "report" / "runs.csv").open())}
    assert float(per_run["uvb-1"]) == pytest.approx(-0.02) and per_run["deen-0"] == ""

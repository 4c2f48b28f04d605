"""Evaluation at training speed: in the training's bf16 where it agrees with fp32 to 0.1%, else in fp32."""

import pytest
import torch
from hydra.utils import instantiate

from conftest import SMALL, compose_config
from uvb_lab import evaluate as evaluation
from uvb_lab.data.gmm import gmm


@pytest.fixture(scope="module")
def mixture():
    return gmm(n_train=64, n_test=600, channels=1, image_size=8, components=3, std=0.05, spread=0.4, seed=0, val_fraction=0.0,
               component_rank=0, component_scale=1.0)


@pytest.mark.parametrize("name", ["deen", "uvb"])
def test_a_bf16_evaluation_agrees_with_fp32_and_keeps_the_exact_bayes_risk(name, mixture):
    torch.manual_seed(0)
    cfg = compose_config([f"model={name}", *SMALL[name], "data=gmm", "data.image_size=8", "sigma=0.5"])
    model, loss_fn = instantiate(cfg.model), instantiate(cfg.loss)
    args = (model, loss_fn, mixture.test, 1234, 200, "test", mixture.ground_truth)
    exact = evaluation.evaluate(*args)
    fast = evaluation.evaluate_checked(*args, autocast_dtype=torch.bfloat16)
    assert fast["test_precision_check"] <= evaluation.AGREEMENT
    assert fast["test_loss"] == pytest.approx(exact["test_loss"], rel=2e-3) and fast["test_loss"] != exact["test_loss"]
    assert fast["test_bayes_risk"] == exact["test_bayes_risk"]  # the exact denoiser is never autocast
    assert all(p.requires_grad for p in model.parameters())  # evaluation froze them only while it ran


def test_a_bf16_evaluation_that_disagrees_is_redone_in_fp32(mixture, monkeypatch, caplog):
    torch.manual_seed(0)
    cfg = compose_config(["model=deen", *SMALL["deen"], "data=gmm", "data.image_size=8", "sigma=0.5"])
    args = (instantiate(cfg.model), instantiate(cfg.loss), mixture.test, 1234, 200, "test", mixture.ground_truth)
    monkeypatch.setattr(evaluation, "AGREEMENT", 0.0)
    with caplog.at_level("INFO", logger="uvb_lab.evaluate"):
        fallback = evaluation.evaluate_checked(*args, autocast_dtype=torch.bfloat16)
    assert "test evaluation in fp32" in caplog.text
    assert {k: v for k, v in fallback.items() if k != "test_precision_check"} == evaluation.evaluate(*args)

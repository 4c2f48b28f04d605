"""summary.json holds only the fields uvb_lab/run/summary.py declares: every reader (uvb-report, the launcher, the
figures' titles, the trackers) may rely on TYPES, and a field a run writes without declaring it is refused."""

import json

import pytest

from conftest import QUICK, TINY, compose_config
from uvb_lab.run import summary as run_summary
from uvb_lab.run.summary import RunSummary
from uvb_lab.train import train

# Every kind of number an evaluation writes: a decoder's terms (UVB), the Bayes risk and its ratio (a mixture whose
# distribution is known), a held-out validation split, and a bf16 evaluation's check against fp32.
EVERYTHING = ["data=gmm", "data.image_size=8", "data.n_train=64", "data.n_test=32", "data.components=2", "data.val_fraction=0.25",
              "model=uvb", *TINY["uvb"], "trainer.precision=bf16", "trainer.batch_size=16", "trainer.eval_batch_size=32",
              "logger=none", "figures.after_training=false"]


def test_every_field_of_an_evaluated_runs_summary_json_is_declared_with_its_type(tmp_path):
    overrides = [*QUICK, *EVERYTHING]
    overrides.remove("data=synthetic")
    train(compose_config(overrides), tmp_path)
    written = json.loads((tmp_path / "summary.json").read_text())
    for key in ("test_decoder_denoising_loss", "test_risk_ratio", "val_loss", "val_bayes_risk", "test_precision_check"):
        assert key in written  # the run wrote every kind of field this test is about
    unlisted = sorted(set(written) - set(run_summary.TYPES))
    assert not unlisted, f"summary.json fields missing from uvb_lab/run/summary.py's TYPES: {unlisted}"
    for key, value in written.items():
        assert value is None or isinstance(value, run_summary.TYPES[key]), key
    run_summary.read(tmp_path)  # and the reader takes it whole


def test_a_field_the_summary_does_not_declare_is_refused_before_it_is_written(tmp_path):
    summary = RunSummary({run_summary.MODEL: "deen", run_summary.DATASET: "mnist", run_summary.SIGMA: 1.0})
    summary.attach(tmp_path)
    with pytest.raises(KeyError, match="test_made_up"):
        summary.write({"test_made_up": 1.0})
    assert not (tmp_path / "summary.json").exists()


def test_an_evaluation_of_a_users_own_model_keeps_its_own_test_terms(tmp_path):
    summary = RunSummary(run_summary.start("running", "mine", "mnist", 1.0, None, 10, 1))
    summary.attach(tmp_path)
    summary.evaluated({"test_loss": 2.0, "test_my_term": 0.5, "val_my_term": 0.25}, step=3, wall_time_s=1.0, candidate=True)
    summary.write()
    assert run_summary.read(tmp_path)["test_my_term"] == 0.5 and run_summary.read(tmp_path)["best_test_loss"] == 2.0
    with pytest.raises(KeyError, match="test_label"):
        summary.evaluated({"test_label": "not a number"}, step=3, wall_time_s=1.0, candidate=True)

"""A search's trials score the validation split only: the test set stays unseen until the chosen setting is scored."""

import json

from conftest import QUICK, TINY, run_uvb_train_in_process
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary

TUNING = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "data.val_fraction=0.25", "trainer.epochs=2", "trainer.max_steps=null",
          "data.n_train=64", "data.n_test=16", "trainer.batch_size=16"]


def test_a_run_that_does_not_evaluate_the_test_set_records_no_test_number_and_continues_as_the_same_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = run_uvb_train_in_process([*TUNING, "trainer.evaluate_test=false", f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, err
    summary = run_summary.read(run_dir)
    assert summary["val_loss"] is not None and not [key for key, value in summary.items() if key.startswith("test_") and value is not None]
    rows = run_files.read_metrics(run_dir)
    assert len(run_files.evaluations(rows)) == 2 and not any(key.startswith("test_") for row in rows for key in row)
    assert "test" not in (run_dir / "train.log").read_text().split("parameters", 1)[1].replace("test images", "")
    # Scoring the same run on the test set later is the same run (evaluate_test is not identity): it continues.
    code, err = run_uvb_train_in_process([*TUNING, "trainer.epochs=3", f"hydra.run.dir={run_dir}"], capsys)
    assert code == 0, err
    assert run_summary.read(run_dir)["test_loss"] is not None
    assert json.loads((run_dir / "identity.json").read_text())["identity"].get("trainer.evaluate_test") is None

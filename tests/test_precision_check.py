"""scripts/precision_check.py, the check behind trainer.precision=auto: it reads two sweeps, one per precision,
and passes bf16 only within max(1%, 2 standard errors of fp32) of the fp32 mean final test loss."""

import json

from conftest import QUICK, REPO, TINY, run_python, uvb_train_here


def check(tmp_path, fp32, bf16):
    script = str(REPO / "scripts" / "precision_check.py")
    return run_python([script, "--fp32", str(fp32), "--bf16", str(bf16), "--out", str(tmp_path / "out")], tmp_path, timeout=120)


def test_the_precision_check_compares_the_seeds_of_two_sweeps(tmp_path):
    for precision in ("fp32", "bf16"):
        args = ["-m", "model=deen", *QUICK, *TINY["deen"], "logger=none", "trainer.seed=0,1",
                f"trainer.precision={precision}", f"hydra.sweep.dir={tmp_path / precision}"]
        assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    done = check(tmp_path, tmp_path / "fp32", tmp_path / "bf16")
    result = json.loads((tmp_path / "out" / "precision_check.json").read_text())
    assert set(result["test_loss_by_seed"]["fp32"]) == set(result["test_loss_by_seed"]["bf16"]) == {"0", "1"}
    assert result["fp32"]["n"] == result["bf16"]["n"] == 2 and result["steps"] == 3
    gap = result["bf16"]["mean"] - result["fp32"]["mean"]
    assert result["gap_bf16_minus_fp32"] == gap
    assert result["tolerance"] == max(0.01 * result["fp32"]["mean"], 2 * result["fp32"]["standard_error"])
    assert result["passes"] == (abs(gap) <= result["tolerance"])
    assert done.returncode == (0 if result["passes"] else 1), done.stderr
    assert (tmp_path / "out" / "precision_check.png").stat().st_size > 0

    # The same sweep on both sides is no comparison: refused.
    assert check(tmp_path, tmp_path / "fp32", tmp_path / "fp32").returncode == 2

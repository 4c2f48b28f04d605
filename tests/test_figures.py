"""uvb-figures end to end on quick runs' folders, and the figures of a model without a decoder."""

import dataclasses
import json
import logging

import matplotlib.image
import pytest
import torch

from conftest import QUICK, TINY, uvb_train_here
from uvb_lab import figures
from uvb_lab.data.synthetic import shapes
from uvb_lab.models import DEEN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Small figures settings: the same code paths as the paper's, in a fraction of the time.
SMALL = ["figures.jumps=4", "figures.chains=2", "figures.z_samples=20", "figures.prior_samples=8", "figures.images=4"]



def assert_valid_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 20 and pixels.shape[1] > 20


def test_training_makes_figures_and_uvb_figures_remakes_them(tmp_path, capsys):
    # One sweep (one process) gives two finished runs: a UVB and a VAE, each with its figures from the hook.
    sweep = tmp_path / "sweep"
    args = ["-m", "model=uvb,vae", *QUICK, *TINY["uvb"], "data.n_train=128", "data.n_test=32", "trainer.max_steps=null", "logger=none"]
    args += ["figures.after_training=true", *SMALL, f"hydra.sweep.dir={sweep}"]
    result = uvb_train_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (uvb_dir,), (vae_dir,) = sweep.glob("uvb-synthetic-sigma1.0-*"), sweep.glob("vae-synthetic-sigma1.0-*")
    for run_dir in (uvb_dir, vae_dir):
        for name in ("fig2_denoising", "fig3_walk_jump", "fig4_decoder", "vae_failure"):
            assert_valid_png(run_dir / "figures" / f"{name}.png")
    assert "walk-jump chain 0 visited" in result.stdout

    # The command on a finished run's folder, with the other run's x_hat(y) as Fig. 2's last row.
    (uvb_dir / "figures" / "fig2_denoising.png").unlink()
    assert figures.main([str(uvb_dir), "--compare", str(vae_dir), "--device", "cpu", "--jumps", "3"]) == 0
    out = capsys.readouterr().out
    assert "max |x_hat(y) with 1 z draw - with K=20|" in out
    assert_valid_png(uvb_dir / "figures" / "fig2_denoising.png")
    numbers = json.loads((uvb_dir / "figures" / "numbers.json").read_text())
    assert numbers["run"] == uvb_dir.name and numbers["K"] == 20  # the run's own settings...
    assert numbers["mixing"]["chains"][0]["jumps"] == 3  # ...with the command line's on top
    assert 0 <= numbers["x_hat_max_abs_diff_1_vs_K"] < 1
    assert 1 <= numbers["mixing"]["mean_num_classes_visited"] <= 2

    assert figures.main([str(tmp_path), "--device", "cpu"]) == 2
    assert "not a uvb-train run folder" in capsys.readouterr().err


def test_figures_of_a_model_without_decoder_and_the_hook_that_only_warns(tmp_path, caplog):
    torch.manual_seed(0)
    data = shapes(n_train=64, n_test=16, image_size=8)
    model = DEEN(sigma=0.5, channels=1, image_size=8, conv_channels=(4,), hidden=8)
    pngs, numbers = figures.make_figures(tmp_path, model, data, name="deen", jumps=3, chains=2, images=3, mixing=False)
    assert sorted(pngs) == ["fig2_denoising", "fig3_walk_jump"]  # no decoder: no Fig. 4, no K draws
    for path in pngs.values():
        assert_valid_png(path)
    assert "x_hat_max_abs_diff_1_vs_K" not in numbers and "mixing" not in numbers

    class Recorder:
        def __init__(self):
            self.images, self.metrics = {}, {}

        def log_images(self, images, step):
            self.images.update(images)

        def log(self, metrics, step):
            self.metrics.update(metrics)

    logger = Recorder()
    settings = {"after_training": True, "jumps": 2, "chains": 1, "images": 2, "mixing": True, "cache_dir": str(tmp_path)}
    figures.figures_after_training(tmp_path / "run", model, data, "deen", settings, logger, step=1)
    assert sorted(logger.images) == ["figures/fig2_denoising", "figures/fig3_walk_jump"]
    assert "figures/mean_num_classes_visited" in logger.metrics
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        figures.figures_after_training(tmp_path, model, data, "deen", {"jumps": 0}, logger, step=1)
    assert "figures failed" in caplog.text and "uvb-figures" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        figures.figures_after_training(tmp_path, model, data, "deen", {"jumps": 2, "mixing": False}, logger, step=1)
    assert caplog.text == ""  # a good call warns about nothing


def test_a_classifier_that_fails_costs_only_the_mixing_numbers(tmp_path, caplog):
    torch.manual_seed(0)
    data = dataclasses.replace(shapes(n_train=64, n_test=16, image_size=8), test_labels=None)  # cannot be scored
    model = DEEN(sigma=0.5, channels=1, image_size=8, conv_channels=(4,), hidden=8)
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        pngs, numbers = figures.make_figures(tmp_path, model, data, name="deen", jumps=3, chains=2, images=3, cache_dir=str(tmp_path))
    assert "no mixing numbers" in caplog.text and "mixing" not in numbers
    assert sorted(pngs) == ["fig2_denoising", "fig3_walk_jump"]
    assert json.loads((tmp_path / "figures" / "numbers.json").read_text())["run"] == "deen"


@pytest.mark.parametrize("option", [["--jumps", "0"], ["--delta", "-0.2"], ["--z-samples", "0"]])
def test_uvb_figures_refuses_options_that_cannot_work(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        figures.main([str(tmp_path), *option])
    assert exit_.value.code == 2 and "must be > 0" in capsys.readouterr().err

"""uvb-figures end to end on quick runs' folders, the figures of a model without a decoder, and what the figures show."""

import dataclasses
import json
import logging

import matplotlib.image
import pytest
import torch
import yaml
from torch import nn

import disk_faults
from conftest import QUICK, TINY, uvb_train_here
from uvb_lab.data.images import ImageData
from uvb_lab.figures import cli, paper_figures
from uvb_lab.figures.after_training import figures_after_training, trained_for
from uvb_lab.figures.image_grid import save_grid
from uvb_lab.figures.mixing import MIN_ACCURACY
from uvb_lab.figures.paper_figures import make_figures
from uvb_lab.models import DEEN, EnergyModel

read_only = disk_faults.read_only  # a fixture: a folder made read-only

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Small figures settings: the same code paths as the paper's, in a fraction of the time.
SMALL = ["figures.jumps=4", "figures.chains=2", "figures.z_samples=20", "figures.prior_samples=8", "figures.images=4"]


def settings(**changes):
    """conf/config.yaml's `figures:` with these changes: what make_figures is given by uvb-train and uvb-figures."""
    return {**cli.default_settings(), **changes}



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
    # Two classes of rectangles: nothing to count mixing with, and the run says so in a line.
    assert "no mixing numbers: synthetic has 2 classes, fewer than 10" in result.stdout

    # The command on a finished run's folder, with the other run's x_hat(y) as Fig. 2's last row.
    (uvb_dir / "figures" / "fig2_denoising.png").unlink()
    assert cli.main([str(uvb_dir), "--compare", str(vae_dir), "--device", "cpu", "--images", "3"]) == 0
    out = capsys.readouterr().out
    assert "max |x_hat(y) with 1 z draw - with K=20| over 3 test images" in out  # the run's K, the command's images
    assert_valid_png(uvb_dir / "figures" / "fig2_denoising.png")
    numbers = json.loads((uvb_dir / "figures" / "numbers.json").read_text())
    assert numbers["run"] == uvb_dir.name and numbers["K"] == 20
    assert numbers["mixing_skipped"] == "synthetic has 2 classes, fewer than 10" and "mixing" not in numbers
    assert 0 <= numbers["x_hat_max_abs_diff_1_vs_K"] < 1

    # --out: the figures go elsewhere and the run's own are left as they are.
    own = {p.name: p.read_bytes() for p in (uvb_dir / "figures").iterdir()}
    assert cli.main([str(uvb_dir), "--device", "cpu", "--seed", "1", "--out", str(tmp_path / "elsewhere")]) == 0
    assert {p.name: p.read_bytes() for p in (uvb_dir / "figures").iterdir()} == own
    assert_valid_png(tmp_path / "elsewhere" / "fig3_walk_jump.png")

    assert cli.main([str(tmp_path), "--device", "cpu"]) == 2
    assert "not a uvb-train run folder" in capsys.readouterr().err


def test_figures_of_a_model_without_decoder_and_the_hook_that_only_warns(tmp_path, caplog):
    data, model = ten_classes(), tiny_deen()
    pngs, numbers = make_figures(tmp_path, model, data, settings(jumps=3, chains=2, images=3, mixing=False), name="deen")
    assert sorted(pngs) == ["fig2_denoising", "fig3_walk_jump"]  # no decoder: no Fig. 4, no K draws
    for path in pngs.values():
        assert_valid_png(path)
    assert "x_hat_max_abs_diff_1_vs_K" not in numbers and "mixing" not in numbers
    assert numbers["sampler"] == "overdamped" and "friction" not in numbers  # the paper's walk by default
    _, numbers = make_figures(tmp_path / "underdamped", model, data, settings(jumps=3, chains=2, images=3, mixing=False,
                                                                              sampler="underdamped", friction=2.0), name="deen")
    assert (numbers["sampler"], numbers["friction"]) == ("underdamped", 2.0)
    assert (tmp_path / "underdamped" / "fig3_walk_jump.png").read_bytes() != (tmp_path / "fig3_walk_jump.png").read_bytes()

    class Recorder:
        def __init__(self):
            self.images, self.metrics = {}, {}

        def log_images(self, images, step):
            self.images.update(images)

        def log(self, metrics, step):
            self.metrics.update(metrics)

    logger = Recorder()
    good = settings(after_training=True, jumps=2, chains=1, images=2, mixing=True, cache_dir=str(tmp_path), classifier_epochs=4)
    figures_after_training(tmp_path / "run", model, data, "deen", good, logger, step=1)
    assert sorted(logger.images) == ["figures/fig2_denoising", "figures/fig3_walk_jump"]
    assert "figures/mean_num_classes_visited" in logger.metrics
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        figures_after_training(tmp_path, model, data, "deen", settings(jumps=0), logger, step=1)
    assert "figures failed" in caplog.text and "uvb-figures" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        figures_after_training(tmp_path, model, data, "deen", settings(jumps=2, mixing=False), logger, step=1)
    assert caplog.text == ""  # a good call warns about nothing


def ten_classes(shuffled_labels: bool = False) -> ImageData:
    """8x8 images of ten classes a classifier tells apart in a few epochs (class k: a bright 2x2 block at the
    k-th of 16 places, a little noise); with shuffled_labels, the labels say nothing about the images."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(100)
    images = 0.1 + 0.05 * torch.rand(len(labels), 1, 8, 8, generator=generator)
    for i, k in enumerate(labels.tolist()):
        row, column = divmod(k, 4)
        images[i, 0, 2 * row : 2 * row + 2, 2 * column : 2 * column + 2] = 0.9
    if shuffled_labels:
        labels = labels[torch.randperm(len(labels), generator=generator)]
    name = "ten-shuffled" if shuffled_labels else "ten"  # the classifier cache is per dataset name
    return ImageData(name, images[:800], images[800:], labels[:800], labels[800:])


def tiny_deen() -> DEEN:
    torch.manual_seed(0)
    return DEEN(sigma=0.5, channels=1, image_size=8, conv_channels=(4,), hidden=8, quadratic=False)


class PixelWiener(EnergyModel):
    """f(y) = sum_i (y_i - m_i)^2 / (2 (v_i + sigma^2)): the noisy data's energy if each pixel were Gaussian with the
    training set's mean m_i and variance v_i; x_hat(y) = m + v / (v + sigma^2) (y - m), the per-pixel Wiener filter,
    whose expected error v sigma^2 / (v + sigma^2) per pixel is below the noisy image's sigma^2."""

    def __init__(self, x_train: torch.Tensor, sigma: float):
        super().__init__(sigma)
        self.m = nn.Parameter(x_train.mean(0))
        self.register_buffer("v", x_train.var(0))

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        return ((y - self.m).pow(2) / (2 * (self.v + self.sigma**2))).flatten(1).sum(1)


def drawn_rows(monkeypatch) -> dict[str, list]:
    """The (label, images) rows of every figure make_figures draws, by file name, as they go to the PNG."""
    drawn = {}

    def recording(path, rows, *args, **kwargs):
        drawn[path.stem] = [(label, images.detach().cpu()) for label, images in rows]
        return save_grid(path, rows, *args, **kwargs)

    monkeypatch.setattr(paper_figures, "save_grid", recording)
    return drawn


def test_fig2_shows_x_its_noisy_y_and_a_denoised_row_closer_to_x_than_y_is(tmp_path, monkeypatch):
    drawn, data = drawn_rows(monkeypatch), ten_classes()
    model = PixelWiener(data.train, sigma=0.5)
    pngs, _ = make_figures(tmp_path, model, data, settings(images=4, jumps=6, chains=2, mixing=False), name="wiener")
    (x_label, x), (y_label, y), (hat_label, x_hat), (nebula_label, _) = drawn["fig2_denoising"]
    assert (x_label, y_label, hat_label, nebula_label) == ("x", "y", "x_hat(y)", f"NEBULA {settings()['nebula_steps']} steps")
    assert torch.equal(x, data.test[:4])  # the test images, in order
    assert 0.4 < (y - x).std().item() < 0.6  # y = x + sigma eps at sigma 0.5
    assert (x_hat - x).pow(2).sum() < 0.2 * (y - x).pow(2).sum()  # the denoiser's row, not another copy of y
    assert torch.allclose(x_hat, model.x_hat(y.clone().requires_grad_(True)).detach(), atol=1e-5)
    # Fig. 3: chain 0's 6 jumps, 4 to a row, each a jump x_hat(y): near the mean image, as this model's jumps are.
    rows = drawn["fig3_walk_jump"]
    assert [label for label, _ in rows] == ["jumps 1-4", "jumps 5-6"] and [len(images) for _, images in rows] == [4, 2]
    jumps = torch.cat([images for _, images in rows])
    assert (jumps - model.m.detach()).abs().max() < (jumps - data.test[:6]).abs().max()
    # And the PNG is a picture of them: dark background images with bright blocks, on a white canvas, not blank.
    pixels = matplotlib.image.imread(pngs["fig2_denoising"])[..., :3]
    assert pixels.std() > 0.1 and (pixels < 0.3).mean() > 0.05


def test_mixing_numbers_come_from_a_classifier_that_tells_the_classes_apart(tmp_path, capsys):
    _, numbers = make_figures(
        tmp_path, tiny_deen(), ten_classes(), settings(jumps=5, chains=2, images=3, cache_dir=str(tmp_path), classifier_epochs=4), name="deen"
    )
    mixing = numbers["mixing"]
    assert mixing["classifier_test_accuracy"] >= MIN_ACCURACY and mixing["num_classes"] == 10
    assert [chain["jumps"] for chain in mixing["chains"]] == [5, 5]
    assert "not all 10 seen in 5 jumps" in capsys.readouterr().out  # a sentence, not "by jump None"

    # Labels that say nothing: the classifier cannot reach 90%, and its counts are not written.
    _, numbers = make_figures(
        tmp_path / "b", tiny_deen(), ten_classes(shuffled_labels=True),
        settings(jumps=5, chains=2, images=3, cache_dir=str(tmp_path / "b"), classifier_epochs=4), name="deen",
    )
    assert "mixing" not in numbers and numbers["mixing_skipped"].startswith("the classifier reached")


def test_a_classifier_that_fails_costs_only_the_mixing_numbers(tmp_path, caplog):
    data = dataclasses.replace(ten_classes(), test_labels=None)  # cannot be scored
    with caplog.at_level(logging.WARNING, logger="uvb_lab.figures"):
        pngs, numbers = make_figures(tmp_path, tiny_deen(), data, settings(jumps=3, chains=2, images=3, cache_dir=str(tmp_path)), name="deen")
    assert "no mixing numbers" in caplog.text and "mixing" not in numbers
    assert sorted(pngs) == ["fig2_denoising", "fig3_walk_jump"]
    assert json.loads((tmp_path / "numbers.json").read_text())["run"] == "deen"


@pytest.mark.parametrize("option", [["--jumps", "0"], ["--delta", "-0.2"], ["--z-samples", "0"]])
def test_uvb_figures_refuses_options_that_cannot_work(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(tmp_path), *option])
    assert exit_.value.code == 2 and "must be > 0" in capsys.readouterr().err


def test_figure_titles_say_how_far_the_model_was_trained():
    assert trained_for({"steps_done": 469, "test_loss": 25.8544}) == "step 469, test loss 25.85"
    assert trained_for({"steps_done": 0, "test_loss": None}) == "step 0"
    assert trained_for(None) == ""


def test_a_kill_while_the_figures_are_drawn_leaves_a_run_whose_same_command_draws_them(tmp_path, monkeypatch):
    import uvb_lab.figures.after_training

    run_dir = tmp_path / "run"
    args = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "figures.after_training=true", *SMALL, f"hydra.run.dir={run_dir}"]

    def killed(*_, **__):
        raise SystemExit(143)  # as a SIGTERM while drawing (outside training, no handler): the run is finished, its figures not

    monkeypatch.setattr(uvb_lab.figures.after_training, "figures_after_training", killed)
    assert uvb_train_here(args, cwd=tmp_path).returncode != 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["figures_done"] is False and not (run_dir / "figures").exists()
    monkeypatch.undo()
    # A field an older uvb-lab wrote is the run's record: the relaunch keeps it as it changes figures_done.
    (run_dir / "summary.json").write_text(json.dumps({**summary, "a_field_of_an_older_uvb_lab": 1}))
    metrics = (run_dir / "metrics.jsonl").read_bytes()
    result = uvb_train_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_valid_png(run_dir / "figures" / "fig2_denoising.png")
    assert json.loads((run_dir / "summary.json").read_text()) == {**summary, "a_field_of_an_older_uvb_lab": 1, "figures_done": True}
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics  # nothing was trained again
    # The figures name their own run (the folder is hydra.run.dir's, so only the run's record knows its name).
    name = yaml.safe_load((run_dir / "config.yaml").read_text())["run"]["name"]
    assert name.startswith("deen-synthetic-sigma1.0") and json.loads((run_dir / "figures" / "numbers.json").read_text())["run"] == name


@pytest.fixture
def drawn_run(tmp_path):
    """A finished run folder with its figures drawn."""
    run_dir = tmp_path / "run"
    args = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "figures.after_training=true", *SMALL, f"hydra.run.dir={run_dir}"]
    assert uvb_train_here(args, cwd=tmp_path).returncode == 0
    return run_dir


def files(folder):
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None for path in sorted(folder.rglob("*"))}


def test_uvb_figures_into_a_run_folder_it_cannot_write_is_one_line_and_exit_2(drawn_run, read_only, capsys):
    before = files(drawn_run)
    read_only(drawn_run)
    assert cli.main([str(drawn_run), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write the figures into {drawn_run / 'figures'}" in err and "--out DIR" in err, err
    assert files(drawn_run) == before


def test_uvb_figures_that_cannot_write_leaves_the_figures_there_as_they_were(drawn_run, tmp_path, capsys, monkeypatch):
    (tmp_path / "a file").write_text("mine")
    assert cli.main([str(drawn_run), "--device", "cpu", "--out", str(tmp_path / "a file" / "figures")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'a file'} is a file" in err, err

    before, drawn = files(drawn_run), []

    def disk_full_at_the_second_figure(path, *args, **kwargs):  # half a PNG, then no space
        drawn.append(path)
        if len(drawn) == 2:
            path.write_bytes(b"\x89PNG half")
            raise OSError(28, "No space left on device", str(path))
        return save_grid(path, *args, **kwargs)

    monkeypatch.setattr(paper_figures, "save_grid", disk_full_at_the_second_figure)
    assert cli.main([str(drawn_run), "--device", "cpu", "--seed", "1"]) == 2  # other figures than those there
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write the figures into {drawn_run / 'figures'}: No space left on device" in err, err
    assert files(drawn_run) == before  # every earlier figure byte for byte, and nothing half-written beside them

"""Bad input: one clear line before anything is built or written, exit code 2, and no run folder left."""

import numpy as np
import pytest

from conftest import QUICK, TINY, run_uvb_train_in_process

TINY_UVB = ["model=uvb", *QUICK, *TINY["uvb"], "logger=none"]


@pytest.fixture
def fails_cleanly(tmp_path, capsys):
    def check(args, message, exit_code=2):
        run_dir = tmp_path / "run"
        code, stderr = run_uvb_train_in_process([*args, f"hydra.run.dir={run_dir}"], capsys)
        assert code == exit_code, stderr
        assert message in stderr
        assert "Traceback" not in stderr
        assert not run_dir.exists()
        return stderr

    return check


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=resnet", "Could not find 'model/resnet'"),
        ("data=imagenet", "Could not find 'data/imagenet'"),
        ("model/likelihood=cauchy", "Could not find 'model/likelihood/cauchy'"),
    ],
)
def test_unknown_names_list_the_options(override, message, fails_cleanly):
    stderr = fails_cleanly([*TINY_UVB, override], message)
    assert "Available options" in stderr


@pytest.mark.parametrize("plus", ["", "+"])
@pytest.mark.parametrize(("key", "meant"), [
    ("trainer.lrr", "trainer.lr"), ("model.hiden", "model.hidden"), ("data.n_trian", "data.n_train"), ("loss.targt", "loss.target"),
    ("logger.wandb.mod", "logger.wandb.mode"), ("figures.imags", "figures.images"), ("sigmaa", "sigma"),
])
def test_an_unknown_key_is_one_line_naming_the_closest_known_one_with_or_without_plus(key, meant, plus, fails_cleanly):
    # Hydra's own answer to `trainer.lrr=1e-3` was "To append to your config use +trainer.lrr=1e-3" (after a stray ".;"),
    # and `+trainer.lrr=1e-3` then trained at the default rate in a folder named `...-lrr0.001`.
    stderr = fails_cleanly([*TINY_UVB, "logger=default", f"{plus}{key}=1"], f"uvb-train: error: {key} is not a setting")
    assert f"did you mean {meant}?" in stderr and stderr.count("\n") == 1 and ".;" not in stderr, stderr


def test_sizes_is_the_one_open_group_and_a_key_of_it_is_the_models_own(fails_cleanly):
    fails_cleanly([*TINY_UVB, "sizes.uvb.hidden=8"], "sizes holds per-model settings, added with ++ (++sizes.<model>.<key>=VALUE")
    fails_cleanly([*TINY_UVB, "++sizes.uvb.hiden=8"], "sizes.uvb.hiden: uvb has no setting hiden (did you mean sizes.uvb.hidden?)")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sigma=0", "sigma must be finite and > 0"),
        ("sigma=-0.5", "sigma must be finite and > 0"),
        ("trainer.batch_size=0", "trainer.batch_size must be > 0"),
        ("trainer.epochs=-1", "trainer.epochs must be >= 0"),
        ("trainer.preemption_signals=[SIGKILL]", "trainer.preemption_signals"),
        ("sigma=abc", "Value 'abc' of type 'str' could not be converted to Float"),
        ("trainer.batch_size=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
        ("trainer.batch_size=2.5", "Value '2.5' of type 'float' could not be converted to Integer"),
        ("model.latent_dim=0", "model.latent_dim must be a positive integer"),
        ("model.hidden=0", "model.hidden must be a positive integer"),
        ("trainer.device=meta", "trainer.device=meta: uvb-lab trains on auto, cpu, cuda or cuda:N"),
        ("trainer.bach_size=3", "trainer.bach_size is not a setting: did you mean trainer.batch_size or trainer.eval_batch_size?"),
        ("+model.dropout=0.1", "model.dropout is not a setting of uvb_lab.models.UVB"),
        ("trainer.keep_checkpoints=some", "trainer.keep_checkpoints must be one of both, last, none"),
        ("data.val_fraction=1", "data.val_fraction must be >= 0 and < 1"),
        ("data.val_fraction=0.0001", "data.val_fraction=0.0001 holds out 0 of synthetic's 512 training images"),
        # One noise level: training at sigma = 1 and scoring at 0.5 gave a risk ratio of 101 (issue 24).
        ("model.sigma=0.5", "model.sigma=0.5 differs from sigma=1.0: set sigma alone"),
        ("sigma=inf", "sigma must be finite and > 0"),
        ("trainer.evaluate_test=false", "trainer.evaluate_test=false scores nothing: set data.val_fraction"),
        ("trainer.grad_clip=-1", "trainer.grad_clip must be finite and > 0, or null, got -1.0"),
        ("trainer.grad_clip=0", "trainer.grad_clip must be finite and > 0, or null, got 0.0"),
        ("trainer.grad_clip=abc", "Value 'abc' of type 'str' could not be converted to Float"),
        ("trainer.warmup_steps=-1", "trainer.warmup_steps must be >= 0, got -1"),
        ("trainer.warmup_steps=2.5", "Value '2.5' of type 'float' could not be converted to Integer"),
    ],
)
def test_bad_values_are_refused_before_training(override, message, fails_cleanly):
    fails_cleanly([*TINY_UVB, override], message)


def test_missing_mnist_files_are_named_with_how_to_get_them(tmp_path, fails_cleanly):
    stderr = fails_cleanly(["model=uvb", "data=mnist", f"data.root={tmp_path / 'nowhere'}"], "MNIST files not found")
    assert str(tmp_path / "nowhere" / "MNIST" / "raw" / "train-images-idx3-ubyte") in stderr
    assert "data.download=true" in stderr
    assert "t10k-labels-idx1-ubyte. Get them with" in stderr  # the listing ends before the advice, as a sentence


def test_missing_cifar10_files_are_named(tmp_path, fails_cleanly):
    stderr = fails_cleanly(["model=deen", "data=cifar10", f"data.root={tmp_path}"], "CIFAR-10 files not found")
    assert "cifar-10-batches-py" in stderr and "data_batch_1" in stderr


def test_mnist_with_the_wrong_md5_is_refused(tmp_path, fails_cleanly):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    fails_cleanly(["model=uvb", "data=mnist", f"data.root={tmp_path}"], "expected 6bbc9ace898e44ae57da46a324031adb")


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_without_the_expected_keys_is_refused(tmp_path, fails_cleanly):
    path = write_npz(tmp_path / "bad.npz", images=np.zeros((4, 8, 8), np.uint8))
    fails_cleanly(["model=uvb", "data=npz", f"data.path={path}"], "lacks the keys")


def test_npz_whose_labels_do_not_match_its_images_is_refused(tmp_path, fails_cleanly):
    images = np.zeros((4, 8, 8), np.uint8)
    path = write_npz(tmp_path / "short.npz", x_train=images, y_train=np.zeros(3, np.uint8), x_test=images, y_test=np.zeros(4, np.uint8))
    fails_cleanly(["model=uvb", "data=npz", f"data.path={path}", "data.channels=1", "data.image_size=8"],
                  "y_train holds 3 labels for the 4 images of x_train")


def test_a_mixture_of_odd_image_size_is_refused(fails_cleanly):
    fails_cleanly(["model=deen", "data=gmm", "data.image_size=7", "data.n_train=64", "data.n_test=16"],
                  "image_size must be even (the means are made of 2x2-pixel blocks), got 7")


def test_data_of_the_wrong_shape_is_refused(tmp_path, fails_cleanly):
    images = np.zeros((4, 8, 8), np.uint8)
    labels = np.zeros(4, np.uint8)
    path = write_npz(tmp_path / "grey8.npz", x_train=images, y_train=labels, x_test=images, y_test=labels)
    stderr = fails_cleanly(["model=uvb", "data=npz", f"data.path={path}"], "have shape (1, 8, 8)")
    assert "data.channels=3, data.image_size=32" in stderr


def test_missing_npz_file_is_named(tmp_path, fails_cleanly):
    fails_cleanly(["model=uvb", "data=npz", f"data.path={tmp_path / 'absent.npz'}"], "npz file not found")


def test_download_without_torchvision_says_so(tmp_path, fails_cleanly, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on a machine without the optional extra
    stderr = fails_cleanly(["model=uvb", "data=mnist", f"data.root={tmp_path}", "data.download=true"], "MNIST files not found")
    assert "data.download=true needs torchvision" in stderr


def test_a_logger_mode_that_does_not_exist_is_refused(fails_cleanly):
    fails_cleanly([*TINY_UVB, "logger=wandb", "logger.mode=cloud"], "logger.mode must be one of online, offline, disabled, got cloud")


@pytest.mark.parametrize("loss", ["negative_elbo", "clean_negative_elbo"])
def test_the_direct_denoiser_is_refused_with_a_loss_that_needs_an_energy(loss, fails_cleanly):
    stderr = fails_cleanly(["model=denoiser", f"loss={loss}", *QUICK, *TINY["denoiser"], "logger=none"],
                           "needs the model's energy")
    assert "Denoiser does not have (it gives a score only): train it with loss=denoising" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_posterior_mean_target_is_refused_on_data_without_a_known_posterior(fails_cleanly):
    stderr = fails_cleanly(["model=deen", "loss.target=posterior_mean", *QUICK, *TINY["deen"], "logger=none"],
                           "loss.target=posterior_mean needs data whose posterior mean E[x|y] is known exactly")
    assert "synthetic has none: use loss.target=x" in stderr and len(stderr.strip().splitlines()) == 1


def test_a_posterior_mean_target_is_refused_on_mnist(shared_data, fails_cleanly):
    stderr = fails_cleanly(["model=deen", "data=mnist", f"data.root={shared_data}", "loss.target=posterior_mean", *TINY["deen"],
                            "logger=none", "trainer.device=cpu"], "mnist has none: use loss.target=x")
    assert stderr.startswith("uvb-train: error: loss.target=posterior_mean") and len(stderr.strip().splitlines()) == 1


def test_a_target_is_refused_for_a_loss_other_than_the_denoising_loss(fails_cleanly):
    fails_cleanly(["model=vae", "data=gmm", "loss.target=posterior_mean", *TINY["vae"], "logger=none"], "loss.target is not a setting of uvb_lab.loss.NegativeELBO")
    fails_cleanly(["model=deen", "data=gmm", "loss.target=mean", *TINY["deen"], "logger=none"], "loss.target must be one of x, posterior_mean, got mean")

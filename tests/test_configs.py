"""Every option of every config group composes, and what it names can be built."""

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import CONFIG_DIR, TINY, compose_config
from uvb_lab import compose
from uvb_lab.config import check_values
from uvb_lab.models.names import MODELS
from uvb_lab.models.score import ScoreModel

BUILT_GROUPS = ("model", "model/likelihood", "data", "loss", "logger")
OPTIONS = sorted((group, path.stem) for group in BUILT_GROUPS for path in (CONFIG_DIR / group).glob("*.yaml"))
# Files of the datasets on disk are not here; the generated ones are built, at a small size.
GENERATED_DATA = {"synthetic": [], "gaussian": [], "gmm": ["data.n_train=64", "data.n_test=16"]}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_builds(group, option, tmp_path):
    small_model = TINY.get(option, TINY["uvb"]) if group == "model" else TINY["uvb"]
    data = GENERATED_DATA.get(option, []) if group == "data" else ["data=synthetic"]
    model = ["model=uvb"] if group == "model/likelihood" else []  # a likelihood is part of a model with a decoder
    cfg = compose_config([*model, f"{group}={option}", *data, *small_model])
    assert OmegaConf.select(cfg, group.replace("/", ".")) is not None
    if group == "model":
        assert isinstance(instantiate(cfg.model), ScoreModel)
    elif group == "model/likelihood":
        assert instantiate(cfg.model).likelihood.name == option
    elif group == "loss":
        assert callable(instantiate(cfg.loss))
    elif group == "logger":
        logger = instantiate(cfg.logger)(run_dir=tmp_path, name="test", config={"sigma": 1.0})
        logger.log({"loss": 1.0}, step=1)
        logger.finish()
    elif option in GENERATED_DATA:
        data = instantiate(cfg.data)
        assert data.shape == (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)


def test_models_select_their_own_loss_and_it_can_be_overridden():
    def loss(*overrides):
        return compose_config(list(overrides)).loss._target_.rsplit(".", 1)[-1]

    assert loss("model=uvb") == loss("model=deen") == loss("model=uvb_laplace") == loss("model=denoiser") == "DenoisingLoss"
    assert loss("model=vae") == "NegativeELBO" and loss("model=sigma_vae") == "CleanNegativeELBO"
    assert loss("model=vae", "loss=denoising") == "DenoisingLoss"


def test_model_sizes_follow_the_data_by_interpolation():
    cfg = compose_config(["model=deen", "data=cifar10"])
    assert (cfg.model.channels, cfg.model.image_size) == (3, 32)
    assert compose_config(["sigma=0.3"]).model.sigma == 0.3


def test_config_files_are_all_under_known_groups():
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    # Exactly these: a new group needs its options composed by a test of this file.
    assert groups == {"model", "data", "loss", "logger", "experiment", "hparams_search", "hydra", "sweep", "preset"}
    assert sorted(p.name for p in (CONFIG_DIR / "preset").iterdir()) == ["quick.yaml"]  # composed by the test below
    assert sorted(p.name for p in (CONFIG_DIR / "sweep").iterdir()) == ["experiment.yaml"]  # composed by every experiment
    assert {p.name for p in (CONFIG_DIR / "model").iterdir() if p.is_dir()} == {"likelihood"}
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == ["config.yaml"]


def test_every_model_option_has_a_display_name():
    options = {path.stem for path in (CONFIG_DIR / "model").glob("*.yaml")}
    assert options <= set(MODELS), options - set(MODELS)  # a new model: one entry in uvb_lab/models/names.py


SWEEPS = sorted((group, path.stem) for group in ("experiment", "hparams_search") for path in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), SWEEPS, ids=[f"+{g}={o}" for g, o in SWEEPS])
def test_every_experiment_and_search_composes_into_a_folder_of_its_own(group, option):
    cfg = compose.compose_config([f"+{group}={option}"], with_hydra=True)
    assert cfg.hydra.sweep.dir.endswith(option)  # relaunched, it finds its runs again
    assert cfg.hydra.sweeper.params  # what it sweeps or searches
    check_values(cfg)


def test_the_quick_preset_trains_small_networks_for_two_epochs_without_figures_or_wandb():
    # Issue 34 item 5: `+preset=quick` turned off the figures and W&B but kept the paper's networks and 400 epochs.
    import torch

    from uvb_lab.train import build

    for model in ("uvb", "deen", "vae", "sigma_vae", "uvb_laplace", "deen_quadratic", "denoiser"):
        quick = compose_config(["+preset=quick", f"model={model}"])
        with torch.device("meta"):
            params = sum(p.numel() for p in build("model", quick.model).parameters())
        assert params < 750_000, (model, params)  # the paper's: 2.6e7 on MNIST
        assert quick.trainer.epochs == 2 and not quick.figures.after_training and not quick.trainer.progress
        assert quick.logger._target_.endswith("TensorBoardLogger")
        assert "conv_channels8_16" in quick.run.name  # quick runs are runs of their own, never paper-size ones
    # A width given on the command line is the run's, over the preset's.
    assert compose_config(["+preset=quick", "model.latent_dim=20"]).model.latent_dim == 20
    assert compose_config(["+preset=quick", "model=deen", "model.hidden=40"]).model.hidden == 40
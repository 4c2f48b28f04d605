"""Every option of every config group composes, and what it names can be built."""

import pytest
from conftest import CONFIG_DIR, TINY, compose_config
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from uvb_lab import config
from uvb_lab.config import check_values
from uvb_lab.models.energy import EnergyModel

OPTIONS = sorted(
    (group.name, path.stem)
    for group in CONFIG_DIR.iterdir()
    if group.is_dir() and group.name in ("model", "data", "loss", "logger")
    for path in group.glob("*.yaml")
)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_builds(group, option, tmp_path):
    small_model = TINY.get(option, TINY["uvb"]) if group == "model" else TINY["uvb"]
    data = [] if group == "data" else ["data=synthetic"]
    cfg = compose_config([f"{group}={option}", *data, *small_model])
    assert cfg[group] is not None
    if group == "model":
        assert isinstance(instantiate(cfg.model), EnergyModel)
    elif group == "loss":
        assert callable(instantiate(cfg.loss))
    elif group == "logger":
        logger = instantiate(cfg.logger)(run_dir=tmp_path, name="test", config={"sigma": 1.0})
        logger.log({"loss": 1.0}, step=1)
        logger.finish()
    elif option in ("synthetic", "gaussian"):
        data = instantiate(cfg.data)
        assert data.shape == (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)


def test_models_select_their_own_loss_and_it_can_be_overridden():
    assert compose_config(["model=uvb"]).loss._target_.endswith("denoising_loss")
    assert compose_config(["model=deen"]).loss._target_.endswith("denoising_loss")
    assert compose_config(["model=vae"]).loss._target_.endswith("negative_elbo_loss")
    assert compose_config(["model=vae", "loss=denoising"]).loss._target_.endswith("denoising_loss")


def test_model_sizes_follow_the_data_by_interpolation():
    cfg = compose_config(["model=deen", "data=cifar10"])
    assert (cfg.model.channels, cfg.model.image_size) == (3, 32)
    assert compose_config(["sigma=0.3"]).model.sigma == 0.3


def test_config_files_are_all_under_known_groups():
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    # Exactly these: a new group needs its options composed by a test of this file.
    assert groups == {"model", "data", "loss", "logger", "experiment", "hparams_search", "hydra"}
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == ["config.yaml"]


SWEEPS = sorted((group, path.stem) for group in ("experiment", "hparams_search") for path in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), SWEEPS, ids=[f"+{g}={o}" for g, o in SWEEPS])
def test_every_experiment_and_search_composes_into_a_folder_of_its_own(group, option):
    GlobalHydra.instance().clear()
    cfg = config.compose_config([f"+{group}={option}"], with_hydra=True)
    assert cfg.hydra.sweep.dir.endswith(option)  # relaunched, it finds its runs again
    assert cfg.hydra.sweeper.params  # what it sweeps or searches
    check_values(cfg)

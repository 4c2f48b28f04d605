"""Every experiment file and the SLURM launcher config compose, with the paper's settings and their sweep, and the
small comparisons match UVB's and DEEN's parameter counts."""

import pytest
from hydra.utils import instantiate

from uvb_lab.compose import compose_config


def compose_with_hydra(overrides):
    return compose_config(overrides, with_hydra=True)


@pytest.mark.parametrize(
    "experiment, dataset, sweep",
    [
        ("table2_mnist", "mnist", {"model": "uvb,deen", "sigma": "0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0"}),
        ("table3_cifar10", "cifar10", {"model": "uvb,deen", "sigma": "0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0"}),
        ("table45_mnist", "mnist", {"model": "uvb,vae,uvb_laplace"}),
        ("smoke", "synthetic", {"model": "uvb,deen", "sigma": "0.5,1.0"}),
    ],
)
def test_experiment_declares_its_table(experiment, dataset, sweep):
    cfg = compose_with_hydra([f"+experiment={experiment}"])
    assert cfg.hydra.runtime.choices.data == dataset
    assert dict(cfg.hydra.sweeper.params) == sweep
    assert cfg.hydra.sweep.dir == f"multirun/{experiment}"  # the same folders on every relaunch
    assert cfg.hydra.sweep.subdir == cfg.run.name == f"uvb-{dataset}-sigma1.0"
    # One W&B group per sweep folder (${uvb_sweep_group:}), so per experiment, across relaunches.
    assert compose_with_hydra([f"+experiment={experiment}", "hydra.mode=MULTIRUN"]).logger.wandb.group == experiment
    assert cfg.logger.wandb.job_type == "train"
    if experiment != "smoke":
        assert cfg.trainer.epochs == 400 and cfg.trainer.batch_size == 128 and cfg.trainer.lr == 1e-4  # Sec. 3.1


def test_table45_is_at_sigma_one_and_its_laplace_model_is_named():
    cfg = compose_with_hydra(["+experiment=table45_mnist", "model=uvb_laplace"])
    assert cfg.sigma == 1.0
    assert cfg.model.likelihood._target_ == "uvb_lab.models.likelihood.LaplaceLikelihood" and cfg.model.latent_dim == 100
    assert cfg.loss._target_ == "uvb_lab.loss.DenoisingLoss"
    assert cfg.hydra.runtime.choices.model == "uvb_laplace"  # what run.model, and so the report, sees


def test_command_line_values_override_the_experiment():
    cfg = compose_with_hydra(["+experiment=table2_mnist", "trainer.epochs=20", "data.root=/elsewhere"])
    assert cfg.trainer.epochs == 20 and cfg.data.root == "/elsewhere"


def test_slurm_launcher_asks_for_one_gpu_per_job():
    cfg = compose_with_hydra(["+experiment=table2_mnist", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.tasks_per_node == 1 and launcher.partition == "gpu"
    assert launcher.timeout_min > 0 and launcher.mem_gb > 0 and launcher.cpus_per_task > 0


@pytest.mark.parametrize("experiment, dataset, sigmas", [("bayes_gap", "gmm", "0.3,0.5,0.7,1.0"), ("table2_mnist_cpu", "mnist", "0.3,0.6,1.0")])
def test_the_small_comparisons_match_uvb_and_deen_parameter_counts_within_ten_percent(experiment, dataset, sigmas):
    """As Table 1 matches them: UVB's lower loss must not come from more parameters."""
    def parameters(model):
        cfg = compose_with_hydra([f"+experiment={experiment}", f"model={model}"])
        assert cfg.hydra.runtime.choices.data == dataset and cfg.hydra.sweeper.params.sigma == sigmas
        return sum(p.numel() for p in instantiate(cfg.model).parameters())

    uvb, deen = parameters("uvb"), parameters("deen")
    assert abs(uvb - deen) <= 0.1 * deen
    if experiment == "table2_mnist_cpu":
        assert (uvb, deen) == (2_780_456, 2_778_599)  # the numbers its config file, the README and docs/results.md quote

"""The CPU SLURM preset composes and its job set-up lines do what they say, without a cluster (tests/test_slurm.py
runs it on one)."""

import subprocess

from omegaconf import OmegaConf

from uvb_lab.compose import compose_config


def launcher_config(overrides: list[str]) -> dict:
    """hydra.launcher as the submitit launcher receives it: every interpolation resolved, twice over.

    A real launch resolves it more than once: an escaped `\\${...}` in a setup line comes back from the first
    round as an interpolation and failed the launch (UnsupportedInterpolationType); it fails here too.
    """
    cfg = compose_config(overrides, with_hydra=True)
    once = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    return OmegaConf.to_container(OmegaConf.create(once), resolve=True)


def test_slurm_cpu_asks_for_cores_and_no_gpu():
    launcher = launcher_config(["+experiment=smoke", "hydra/launcher=slurm_cpu"])
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["gpus_per_node"] is None and launcher["tasks_per_node"] == 1
    assert (launcher["cpus_per_task"], launcher["mem_gb"]) == (2, 4)
    # Above 10 minutes, or submitit counts every SIGUSR2 as a timeout (docs/cluster.md).
    assert launcher["timeout_min"] > 10 and launcher["signal_delay_s"] < launcher["timeout_min"] * 60
    assert launcher["max_num_timeout"] > 0


def job_environment(setup: list[str], cpus: str | None) -> str:
    """The setup lines run by bash as in the sbatch script, with SLURM_CPUS_PER_TASK=cpus (None: unset)."""
    env = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "0,1"}  # as a GPU login shell would pass it on
    if cpus is not None:
        env["SLURM_CPUS_PER_TASK"] = cpus
    script = "\n".join([*setup, 'echo "$OMP_NUM_THREADS|${CUDA_VISIBLE_DEVICES-unset}"'])
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_slurm_cpu_setup_gives_one_thread_per_core_and_hides_gpus():
    setup = launcher_config(["hydra/launcher=slurm_cpu"])["setup"]
    assert all(isinstance(line, str) for line in setup), setup  # sbatch script lines, not YAML mappings
    assert job_environment(setup, "2") == "2|"
    assert job_environment(setup, "6") == "6|"
    assert job_environment(setup, None) == "1|"  # cpus_per_task=null: one thread

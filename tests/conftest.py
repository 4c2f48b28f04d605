"""Shared test set-up: the real config composed with tiny overrides, and `uvb-train` as a subprocess.

Tests never need a network or a GPU. The real MNIST files are looked for in UVB_SHARED_DATA, else in
../shared/data beside the checkout; tests that need them are skipped where they are absent.
"""

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from uvb_lab import compose
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "conf"
SHARED_DATA = Path(os.environ.get("UVB_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

# Small widths for every model: seconds on a CPU, same code paths as the paper sizes.
TINY = {
    "deen": ["model.conv_channels=[4,8]", "model.hidden=16"],
    "uvb": ["model.conv_channels=[4,8]", "model.hidden=16", "model.latent_dim=8", "model.decoder_hidden=32"],
    "vae": ["model.conv_channels=[4,8]", "model.hidden=16", "model.latent_dim=8", "model.decoder_hidden=32"],
    "deen_quadratic": ["model.conv_channels=[4,8]", "model.hidden=16"],
    "denoiser": ["model.conv_channels=[4,8]", "model.hidden=16"],
}
# Small widths for the learning tests: a little more room, enough to get near the Bayes denoiser in seconds.
SMALL = {
    "deen": ["model.conv_channels=[8]", "model.hidden=32"],
    "uvb": ["model.conv_channels=[8]", "model.hidden=32", "model.latent_dim=64", "model.decoder_hidden=64"],
    "denoiser": ["model.conv_channels=[8]", "model.hidden=128"],
}
MODELS = tuple(TINY)
# A quick run: synthetic data, a few steps, no W&B, no progress bar.
# Figures are off: they have tests of their own, which turn them back on.
QUICK = ["data=synthetic", "trainer.epochs=1", "trainer.max_steps=3", "trainer.device=cpu", "trainer.progress=false",
         "figures.after_training=false"]


def gmm_settings(**changes) -> dict:
    """conf/data/gmm.yaml's arguments of the gmm loader (with conf/config.yaml's data.val_fraction), these changed."""
    data = compose.compose_config(["data=gmm"]).data
    return {**{key: value for key, value in data.items() if key != "_target_"}, **changes}


def mixture_settings(**changes) -> dict:
    """The arguments of gaussian_mixture in conf/data/gmm.yaml, these changed."""
    keys = ("channels", "image_size", "components", "std", "spread", "component_rank", "component_scale", "seed")
    return {key: value for key, value in gmm_settings(**changes).items() if key in keys}


# conf/logger/wandb.yaml's settings, less the interpolations of a run (a test's W&B run is in no sweep and has no tags).
WANDB = {"project": "uvb-lab", "entity": None, "mode": "offline", "group": None, "tags": None, "job_type": "train"}


def compose_config(overrides: list[str]) -> DictConfig:
    """The real conf/ composed as `uvb-train` would, with ${hydra:...} resolvable outside a Hydra app."""
    return compose.compose_config(overrides)

# The metrics and summary values that differ between any two runs, stopped or not: how long things took.
TIMINGS = {"wall_time_s", "samples_per_s", "epoch_time_s"}


def without_timings(rows: list[dict]) -> list[dict]:
    """Metrics rows (or summaries) less TIMINGS: what two runs of the same settings agree on to the last digit."""
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


def assert_same_run(run_dir: Path, reference: Path, note: str = "") -> None:
    """run_dir, stopped and continued, ended as the uninterrupted reference: its summary and every metrics row equal
    to the last digit, timings and the evaluations made only because it was stopped aside."""
    summary, expected = run_summary.read(run_dir), run_summary.read(reference)
    assert summary["status"] == "finished", note
    assert without_timings([summary]) == without_timings([expected]), note
    rows, expected_rows = run_files.without_stops(run_files.read_metrics(run_dir)), run_files.read_metrics(reference)
    assert without_timings(rows) == without_timings(expected_rows), note


def run_python(args: list[str], cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 240):
    """`python ARGS` in a fresh process, as a user's command runs: the one way the tests start a CLI or script.

    PYTHONPATH is the checkout under test (not whichever uvb_lab an install points at), W&B is offline,
    output unbuffered, and one intra-op thread: on a busy 2-core machine two threads made tiny steps up to 50x slower.
    """
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    full_env = {
        **os.environ,
        "PYTHONPATH": python_path,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_uvb_train(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 240):
    """`uvb-train ARGS` exactly as a user types it (through `python -m`, so no PATH is needed)."""
    return run_python(["-m", "uvb_lab.launch", *args], cwd, env, timeout)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"the real MNIST files are not at {SHARED_DATA}/MNIST/raw (set UVB_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny models spend their time in op dispatch, not arithmetic: a second intra-op thread only adds
    # synchronisation (2.5x slower measured here under load). Subprocesses get the same via OMP_NUM_THREADS.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    # Figures cache a classifier in $UVB_CACHE (default ~/.cache/uvb-lab); tests keep theirs out of the user's home.
    before = os.environ.get("UVB_CACHE")
    os.environ["UVB_CACHE"] = str(tmp_path_factory.mktemp("uvb-cache"))
    yield
    if before is None:
        del os.environ["UVB_CACHE"]
    else:
        os.environ["UVB_CACHE"] = before


@pytest.fixture(autouse=True)
def _root_logger_restored():
    # A command's main() run in this process (uvb-figures calls logging.basicConfig) leaves handlers on the root
    # logger that write to this test's captured streams; later tests must not write there.
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    for handler in logging.root.handlers[:]:
        if handler not in handlers:
            logging.root.removeHandler(handler)
    logging.root.setLevel(level)


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def uvb_train_here(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`uvb-train ARGS` inside this process, from cwd: the same code as the command without a fresh interpreter's
    seconds of imports. Returns what run_uvb_train returns: exit code, stdout, stderr.
    """
    from uvb_lab.launch import main

    compose.forget_app()
    root_handlers, old_cwd = logging.root.handlers[:], os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd or old_cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(old_cwd)
        compose.forget_app()
        # Hydra pointed the root logger at this run's console handler; later tests must not write there.
        for handler in logging.root.handlers[:]:
            if handler not in root_handlers:
                logging.root.removeHandler(handler)
                handler.close()
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def run_uvb_train_in_process(args: list[str], capsys, stdout: list[str] | None = None) -> tuple[int, str]:
    """uvb_train_here, as (exit code, stderr); stdout, if given, receives what it printed."""
    done = uvb_train_here(args)
    capsys.readouterr()
    if stdout is not None:
        stdout.append(done.stdout)
    return done.returncode, done.stderr

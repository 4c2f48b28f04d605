"""Comparing runs: TensorBoard event files and W&B offline runs, read back the way the dashboards read them.

The loggers are called directly with tiny dicts (as the training loop calls them); one tiny real sweep checks
that a `-m` sweep's runs land in one W&B group and each has its TensorBoard hyperparameters.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from conftest import QUICK, TINY, WANDB, compose_config, uvb_train_here
from uvb_lab.config import check_arguments
from uvb_lab.report.wandb_links import coverage, link_offline_runs
from uvb_lab.trackers import Loggers, NoLogger, TensorBoardLogger, WandbLogger, identity_hparams


def nested_config(model: str = "uvb", sigma: float = 1.0, seed: int = 0) -> dict:
    """A run's resolved config as the loop passes it: nested, with keys that are not identity too."""
    return {
        "model": {"_target_": f"uvb_lab.models.{model.upper()}", "conv_channels": [4, 8], "hidden": 16, "sigma": sigma, "likelihood": {"scale": None}},
        "data": {"_target_": "uvb_lab.data.synthetic.shapes", "n_train": 128, "root": "/data"},
        "loss": {"_target_": "uvb_lab.loss.DenoisingLoss"},
        "logger": {"wandb": {"mode": "offline", "group": "smoke"}, "tensorboard": {}},
        "sigma": sigma,
        "run": {"model": model, "data": "synthetic", "name": f"{model}-synthetic-sigma{sigma}"},
        "trainer": {"epochs": 2, "seed": seed, "lr": 1e-4, "compile": False, "precision": "tf32"},
        "figures": {"jumps": 100},
    }


def train_a_little(logger, steps: int = 4, first: int = 1, finish: bool = True) -> None:
    """What the loop sends: training rows, evaluation rows at epoch ends (every 2 steps), summaries, the end."""
    logger.log_summary({"status": "running", "num_params": 1234, "steps_done": first - 1})
    for step in range(first, steps + 1):
        logger.log({"epoch": step / 2, "train_loss": 10.0 / step, "samples_per_s": 100.0 * step}, step=step)
        if step % 2 == 0:
            test = {"test_loss": 20.0 / step, "test_denoising_loss": 19.0 / step, "test_kl_on_y": 1.0}
            logger.log({"epoch": step / 2, **test, "train_loss": 9.0 / step, "epoch_time_s": 0.5}, step=step)
            logger.log_summary({"status": "running", "num_params": 1234, "steps_done": step, **test, "best_test_loss": 20.0 / step})
    if finish:
        logger.log_summary({"status": "finished", "num_params": 1234, "steps_done": steps, "train_loss": 9.0 / steps,
                            "wall_time_s": 1.5, "provenance": {"git": "abc"}})
        logger.finish(exit_code=0)


def read_events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events


def scalars(events: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, round(e.value, 6)) for e in events.Scalars(tag)]


def hparams_of(events: EventAccumulator) -> tuple[dict, int | None]:
    """The hyperparameters (name: value) of a TensorBoard run, and its end status (None: no end written)."""
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
    values = {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}
    end = content.get(hparams_metadata.SESSION_END_INFO_TAG)
    return values, hparams_metadata.parse_session_end_info_plugin_data(end).status if end else None


def hparams_tab(logdir: Path) -> tuple[api_pb2.Experiment, list]:
    """What `tensorboard --logdir LOGDIR` shows in its HPARAMS tab: its experiment (columns) and one row per run."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context, get_experiment, list_session_groups

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    backend = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider))
    experiment = get_experiment.Handler(context.RequestContext(), backend, "", api_pb2.GetExperimentRequest()).run()
    statuses = [api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING]
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100, allowed_statuses=statuses)
    request.col_params.add().hparam = "run.model"
    request.col_params.add().metric.tag = "test_loss"
    groups = list_session_groups.Handler(context.RequestContext(), backend, "", request).run().session_groups
    return experiment, list(groups)


# -- TensorBoard ---------------------------------------------------------------------------------------------


def test_tensorboard_holds_every_runs_scalars_and_hparams_side_by_side(tmp_path):
    sweep = tmp_path / "smoke"
    for model, sigma in [("uvb", 0.5), ("uvb", 1.0), ("deen", 1.0)]:
        run_dir = sweep / f"{model}-synthetic-sigma{sigma}"
        train_a_little(TensorBoardLogger(run_dir=run_dir, name=run_dir.name, config=nested_config(model, sigma), copies={"model.sigma"}))

    run_dir = sweep / "uvb-synthetic-sigma0.5"
    # One event file for the curves, and the HPARAMS row apart; no timestamped sub-run
    assert sorted(p.is_file() for p in (run_dir / "tensorboard").iterdir()) == [False, True]
    assert [p.is_file() for p in (run_dir / "tensorboard" / "hparams").iterdir()] == [True]
    events = read_events(run_dir / "tensorboard")
    assert scalars(events, "test_loss") == [(2, 10.0), (4, 5.0)]
    assert [step for step, _ in scalars(events, "train_loss")] == [1, 2, 2, 3, 4, 4]  # training rows, then epoch means
    assert scalars(events, "samples_per_s") == [(1, 100.0), (2, 200.0), (3, 300.0), (4, 400.0)]
    assert scalars(events, "best_test_loss")[-1] == (4, 5.0) and scalars(events, "num_params")[-1] == (4, 1234.0)
    hparams, end = hparams_of(read_events(run_dir / "tensorboard" / "hparams"))
    assert end == api_pb2.STATUS_SUCCESS
    assert hparams == {
        "run.model": "uvb", "run.data": "synthetic", "sigma": 0.5, "trainer.seed": 0, "trainer.lr": 1e-4,
        "model.conv_channels": "[4, 8]", "model.hidden": 16, "model.likelihood.scale": "null",
        "data.n_train": 128, "loss._target_": "uvb_lab.loss.DenoisingLoss",
    }  # identity keys only: not trainer.epochs, trainer.compile, data.root, logger.*, figures.*, run.name;
    # nor model.sigma, a copy of sigma (model.sigma: ${sigma})

    experiment, rows = hparams_tab(sweep)
    differ = {info.name for info in experiment.hparam_infos if info.differs}
    assert {"run.model", "sigma"} <= differ
    # The metric columns are the runs' results; TensorBoard shows the first five by default: test_loss among them.
    columns = [info.name.tag for info in experiment.metric_infos]
    assert columns == ["best_test_loss", "num_params", "test_loss", "train_loss", "wall_time_s"]
    shown = {row.name: (row.hparams["run.model"].string_value, row.hparams["sigma"].number_value,
                        {m.name.tag: m.value for m in row.metric_values}["test_loss"]) for row in rows}
    assert shown == {  # each row named by its run
        "uvb-synthetic-sigma0.5": ("uvb", 0.5, 5.0),
        "uvb-synthetic-sigma1.0": ("uvb", 1.0, 5.0),
        "deen-synthetic-sigma1.0": ("deen", 1.0, 5.0),
    }


def test_a_run_killed_before_its_end_still_shows_its_hparams_and_what_it_logged(tmp_path):
    logger = TensorBoardLogger(run_dir=tmp_path / "run", name="run", config=nested_config("deen", 0.3, seed=7))
    hparams, end = hparams_of(read_events(tmp_path / "run" / "tensorboard" / "hparams"))  # right after the start
    assert (hparams["run.model"], hparams["sigma"], hparams["trainer.seed"], end) == ("deen", 0.3, 7, None)
    train_a_little(logger, steps=2, finish=False)  # then killed: no finish(), the writer never closed
    events = read_events(tmp_path / "run" / "tensorboard")
    assert scalars(events, "test_loss") == [(2, 10.0)]
    _, rows = hparams_tab(tmp_path)
    assert [(row.name, row.sessions[0].status) for row in rows] == [("run", api_pb2.STATUS_UNKNOWN)]


def test_a_resumed_run_appends_to_its_folder_and_the_steps_logged_again_replace_the_old_ones(tmp_path):
    run_dir = tmp_path / "run"
    train_a_little(TensorBoardLogger(run_dir=run_dir, name="run", config=nested_config()), steps=3, finish=False)  # preempted
    # TensorBoard reads a folder's event files in name order: time (s), host, pid, then a counter of this process's
    # writers (10 sorts before 9). A resumed run is another process, started in a later second.
    time.sleep(1.01 - time.time() % 1)
    train_a_little(TensorBoardLogger(run_dir=run_dir, name="run", config=nested_config()), first=3, steps=4)  # from its step-2 checkpoint
    assert len(list((run_dir / "tensorboard").glob("events.*"))) == len(list((run_dir / "tensorboard" / "hparams").iterdir())) == 2
    events = read_events(run_dir / "tensorboard")
    assert [step for step, _ in scalars(events, "samples_per_s")] == [1, 2, 3, 4]
    assert [step for step, _ in scalars(events, "test_loss")] == [2, 4]  # the evaluation at the checkpoint kept
    results = read_events(run_dir / "tensorboard" / "hparams")
    assert scalars(results, "test_loss")[-1] == (4, 5.0) and hparams_of(results)[1] == api_pb2.STATUS_SUCCESS


def test_figures_go_to_tensorboards_images(tmp_path):
    from PIL import Image

    Image.new("RGBA", (12, 8), (255, 0, 0, 255)).save(tmp_path / "fig2.png")
    logger = TensorBoardLogger(run_dir=tmp_path, name="run", config=nested_config())
    logger.log_images({"figures/fig2_denoising": tmp_path / "fig2.png"}, step=4)
    logger.finish()
    (image,) = read_events(tmp_path / "tensorboard").Images("figures/fig2_denoising")
    assert (image.step, image.width, image.height) == (4, 12, 8)


def test_hparams_are_the_identity_keys_of_a_nested_or_flat_config():
    nested = nested_config()
    flat = {"run.model": "uvb", "run.data": "synthetic", "sigma": 1.0, "trainer.epochs": 3, "model.flag": True, "logger.wandb.mode": "offline",
            "hydra.job.name": "x", "model.conv_channels": [4, 8]}
    assert identity_hparams(flat) == {"run.model": "uvb", "run.data": "synthetic", "sigma": 1.0, "model.flag": "true", "model.conv_channels": "[4, 8]"}
    assert identity_hparams(nested)["model.conv_channels"] == "[4, 8]"
    assert not any(key.startswith(("logger", "figures", "hydra")) for key in identity_hparams(nested))


# -- Weights & Biases ----------------------------------------------------------------------------------------


def wandb_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("**/wandb/offline-run-*/*.wandb"))


def in_group(file: Path, group: str, timeout: float = 30) -> bool:
    """Whether a .wandb file records its run in this group (the run record's group field, as stored).

    W&B's service may still be writing the file when finish() returns (seen here under load): wait for it.
    """
    return records(file, timeout, run_group=group)


def named(file: Path, name: str, timeout: float = 30) -> bool:
    """Whether a .wandb file records its run under this name (the run record's display name, as stored)."""
    return records(file, timeout, display_name=name)


def records(file: Path, timeout: float, **run_record) -> bool:
    """Whether a .wandb file holds these fields of its run record, as stored (waiting for W&B's service to write them)."""
    from wandb.proto import wandb_internal_pb2

    field = wandb_internal_pb2.RunRecord(**run_record).SerializeToString()
    deadline = time.monotonic() + timeout
    while field not in file.read_bytes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_sweeps_wandb_runs_share_the_sweeps_folder_name_as_group_and_a_single_run_has_none(tmp_path):
    sweep = compose_config(["logger=wandb", "hydra.mode=MULTIRUN", f"hydra.sweep.dir={tmp_path / 'table2_mnist'}", "trainer.seed=3"])
    assert sweep.logger.group == "table2_mnist"
    assert list(sweep.logger.tags) == ["model:uvb", "data:mnist", "sigma:1.0", "seed:3"]
    make = instantiate(sweep.logger)
    for sigma in (0.5, 1.0):
        run_dir = tmp_path / "table2_mnist" / f"uvb-mnist-sigma{sigma}"
        make(run_dir=run_dir, name=run_dir.name, config=nested_config(sigma=sigma)).finish()
    files = wandb_files(tmp_path)
    assert len(files) == 2 and all(in_group(f, "table2_mnist") for f in files)
    assert compose_config(["logger=wandb"]).logger.group is None  # a single run: no group


def test_wandb_gets_the_nested_config_name_tags_and_summary(tmp_path):
    if shutil.which("wandb") is None or subprocess.run(["wandb", "leet", "inspect", "--help"], capture_output=True).returncode:
        pytest.skip("this wandb has no `wandb leet inspect` to read an offline run with")
    logger = WandbLogger(run_dir=tmp_path, name="uvb-synthetic-sigma0.5", config=nested_config(sigma=0.5), **WANDB | {"group": "smoke", "tags": ["model:uvb", "seed:0"]})
    train_a_little(logger)
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    deadline = time.monotonic() + 30
    while True:  # W&B's service may still be writing the file when finish() returns
        read = subprocess.run(["wandb", "leet", "inspect", "--summary", "--json", str(offline)], capture_output=True, text=True, timeout=60)
        run = json.loads(read.stdout)
        if run["state"] == "finished" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (run["name"], run["tags"], run["state"]) == ("uvb-synthetic-sigma0.5", ["model:uvb", "seed:0"], "finished")
    assert run["config"]["model"]["conv_channels"] == [4, 8] and run["config"]["trainer"]["seed"] == 0  # nested, as given
    summary = run["summary"]
    assert (summary["status"], summary["num_params"], summary["best_test_loss"]) == ("finished", 1234, 5.0)
    assert "provenance" not in summary  # nested: in summary.json only
    assert summary["test_loss"] == {"last": 5.0, "min": 5.0}  # final and best, from the history (define_metric)
    assert summary["train_loss"] == 2.25  # the last value logged, not summary.json's (absent here)
    records = subprocess.run(["wandb", "leet", "inspect", "--json", str(offline)], capture_output=True, text=True, timeout=60).stdout
    metrics = {m["metric"].get("name") or m["metric"]["glob_name"]: m["metric"] for m in map(json.loads, records.splitlines()) if m.get("type") == "metric"}
    assert metrics["test_*"]["step_metric"] == "epoch" and metrics["test_loss"]["summary"] == {"min": True, "last": True}


def test_link_offline_runs_gathers_every_run_of_a_sweep_without_collisions(tmp_path):
    def offline_run(run_dir: Path, name: str) -> Path:
        folder = run_dir / "wandb" / name
        folder.mkdir(parents=True)
        (folder / f"run-{name.rsplit('-', 1)[-1]}.wandb").write_bytes(b"")
        return folder

    a = offline_run(tmp_path / "sweep" / "uvb-mnist-sigma0.5", "offline-run-20260101_000000-aaaa1111")
    a_resumed = offline_run(tmp_path / "sweep" / "uvb-mnist-sigma0.5", "offline-run-20260102_000000-aaaa1111")
    b = offline_run(tmp_path / "sweep" / "deen-mnist-sigma0.5", "offline-run-20260101_000000-bbbb2222")
    copy = offline_run(tmp_path / "copy" / "uvb-mnist-sigma0.5", "offline-run-20260101_000000-aaaa1111")  # a copied folder
    (tmp_path / "sweep" / "no-wandb").mkdir()
    run_dirs = [*sorted((tmp_path / "sweep").iterdir()), tmp_path / "copy" / "uvb-mnist-sigma0.5"]

    links = link_offline_runs(run_dirs, tmp_path / "links")
    assert {link.name: link.resolve() for link in links} == {
        b.name: b, a.name: a, a_resumed.name: a_resumed, f"{copy.name}~2": copy,
    }
    assert link_offline_runs(run_dirs, tmp_path / "links") == links  # again: the same links, nothing added
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == sorted(link.name for link in links)

    shutil.move(tmp_path / "sweep" / "deen-mnist-sigma0.5", tmp_path / "moved")  # a broken link is made anew
    (new_b,) = link_offline_runs([tmp_path / "moved"], tmp_path / "links")
    assert new_b.name == b.name and new_b.resolve() == tmp_path / "moved" / "wandb" / b.name


def test_a_reports_wandb_links_are_relative_and_its_line_names_the_runs_without_one_and_why(tmp_path, capsys):
    # Issue 34 item 8: the links were absolute (a sweep folder moved with its report lost them), and "2 linked" of 6
    # runs said nothing of the other 4.
    sweep = tmp_path / "sweep"
    both = {"_target_": "uvb_lab.trackers.Loggers", "wandb": {"_target_": "uvb_lab.trackers.WandbLogger", "mode": "offline"},
            "tensorboard": {"_target_": "uvb_lab.trackers.TensorBoardLogger"}}  # logger=default, as config.yaml saves it
    for name, logger in [("uvb-gmm-sigma0.5", both), ("deen-gmm-sigma0.5", both["tensorboard"]), ("vae-gmm-sigma0.5", both)]:
        run_dir = sweep / name
        run_dir.mkdir(parents=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml({"logger": logger}))
    offline = sweep / "uvb-gmm-sigma0.5" / "wandb" / "offline-run-20260101_000000-aaaa1111"
    offline.mkdir(parents=True)
    (links,) = link_offline_runs(sorted(sweep.iterdir()), sweep / "report" / "wandb_runs")
    assert os.readlink(links) == "../../uvb-gmm-sigma0.5/wandb/offline-run-20260101_000000-aaaa1111"
    shutil.move(sweep, tmp_path / "moved")
    assert (tmp_path / "moved" / "report" / "wandb_runs" / links.name).resolve() == tmp_path / "moved" / "uvb-gmm-sigma0.5" / "wandb" / offline.name
    line = coverage(sorted(p for p in (tmp_path / "moved").iterdir() if p.name != "report"), [links], tmp_path / "moved" / "report" / "wandb_runs")
    assert line.startswith("1 of 3 runs have an offline W&B run (1 linked in "), line
    assert "1 without: no W&B in its logger (logger=tensorboard or logger=none): deen-gmm-sigma0.5" in line, line
    assert "1 without: W&B was off or failed while it trained" in line and line.endswith(": vae-gmm-sigma0.5"), line
    only_tensorboard = [tmp_path / "moved" / "deen-gmm-sigma0.5"]  # every run without, for one reason: said once
    assert coverage(only_tensorboard, [], tmp_path / "links") == ("no offline W&B run in the 1 run read: no W&B in its logger "
                                                                 "(logger=tensorboard or logger=none)")


# -- A real sweep ----------------------------------------------------------------------------------------------


def test_an_adhoc_sweep_is_one_wandb_group_and_every_run_has_its_tensorboard_hparams(tmp_path):
    args = ["-m", *QUICK, *TINY["deen"], "model=deen", "data.n_train=32", "data.n_test=16", "trainer.batch_size=16", "trainer.seed=0,1"]
    result = uvb_train_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep = tmp_path / "multirun" / "deen-synthetic-by-seed"  # named by what it sweeps (uvb_lab/launch/sweep_folder.py)
    run_dirs = sorted(d for d in sweep.iterdir() if d.is_dir())
    assert len(run_dirs) == 2 and run_dirs[1].name == run_dirs[0].name + "-trainer.seed1"
    files = wandb_files(sweep)
    assert len(files) == 2 and all(in_group(f, "deen-synthetic-by-seed") for f in files)
    experiment, rows = hparams_tab(sweep)
    assert sorted((row.name, row.hparams["trainer.seed"].number_value) for row in rows) == [
        (run_dirs[0].name, 0.0), (run_dirs[1].name, 1.0)
    ]
    # The interpolated copies (model.sigma: ${sigma}, model.channels: ${data.channels}) are no columns of their own.
    columns = {info.name for info in experiment.hparam_infos}
    assert {"sigma", "data.channels", "data.image_size"} <= columns and not {"model.sigma", "model.channels", "model.image_size"} & columns
    assert "test_loss" in [info.name.tag for info in experiment.metric_infos][:5]  # shown by default
    assert len(link_offline_runs(run_dirs, tmp_path / "links")) == 2


def test_a_sweep_of_per_model_sizes_names_each_run_alike_in_its_folder_plan_log_and_both_dashboards(tmp_path):
    # Issue 34 item 1: Hydra named a sweep job's folder (hydra.sweep.subdir: ${run.name}) before the job applied its
    # sizes, so the runs trained in folders named without them, two sizes of DEEN in one folder (the second refused
    # mid-sweep), the log, HPARAMS and W&B named them otherwise, and the sweep ended "0 finished, ..., 4 failed", exit 1.
    args = ["-m", *QUICK, "model=uvb,deen", "data.n_train=32", "data.n_test=16", "trainer.batch_size=16", "model.conv_channels=[4,8]",
            "model.hidden=16", "++sizes.uvb.latent_dim=8", "++sizes.uvb.decoder_hidden=32", "++sizes.deen.hidden=12,24"]
    done = uvb_train_here(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # UVB's run is one run, whatever DEEN's size: planned once, trained once, counted once.
    assert done.stderr.splitlines()[-1] == "uvb-train: sweep: trained 3, continued 0, found 0 finished, failed 0", done.stderr
    sweep = tmp_path / "multirun" / "synthetic-by-model-deen.hidden"
    planned = {line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("  start")}
    folders = {path.name for path in sweep.iterdir() if (path / "summary.json").is_file()}
    assert folders == planned and len(folders) == 3, (folders, planned)
    assert sorted(name for name in folders if name.startswith("deen")) == [
        "deen-synthetic-sigma1.0-n_test16-n_train32-conv_channels4_8-hidden12-batch_size16",
        "deen-synthetic-sigma1.0-n_test16-n_train32-conv_channels4_8-hidden24-batch_size16",
    ]
    assert all("latent_dim8" in name and "decoder_hidden32" in name for name in folders if name.startswith("uvb"))
    for name in folders:
        assert f"{name}: " in (sweep / name / "train.log").read_text()  # the log names the run as its folder does
    assert sorted(row.name for row in hparams_tab(sweep)[1]) == sorted(folders)
    files = wandb_files(sweep)
    assert len(files) == 3 and all(named(file, file.parents[2].name) and in_group(file, sweep.name) for file in files)
    again = uvb_train_here(args, cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.splitlines()[-1] == "uvb-train: sweep: trained 0, continued 0, found 3 finished, failed 0"


# -- Failures only warn --------------------------------------------------------------------------------------


def test_a_tensorboard_writer_that_cannot_start_warns_and_the_run_goes_on(tmp_path):
    (tmp_path / "tensorboard").write_text("a file where the folder should be")
    with pytest.warns(UserWarning, match="TensorBoard logging is off for this run"):
        logger = TensorBoardLogger(run_dir=tmp_path, name="run", config=nested_config())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # off: no second warning, no exception
        train_a_little(logger)
        logger.log_images({"figures/x": tmp_path / "missing.png"}, step=4)


def test_a_tensorboard_writer_that_breaks_mid_run_warns_once_and_turns_off(tmp_path, monkeypatch):
    logger = TensorBoardLogger(run_dir=tmp_path, name="run", config=nested_config())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logger.writer, "add_scalar", disk_full)
    with pytest.warns(UserWarning, match="TensorBoard logging is off.*No space left"):
        logger.log({"train_loss": 1.0}, step=1)
    assert logger.writer is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_a_little(logger)


class Raising:
    """A tracker without guards of its own: every call raises."""

    run_id = "never"

    def __init__(self, **kwargs):
        pass

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError(f"{name} broke")

        return fail


def test_loggers_drive_every_tracker_and_one_that_fails_leaves_the_others_running(tmp_path, monkeypatch):
    def broken_start(**kwargs):
        raise ConnectionError("no service")

    with pytest.warns(UserWarning, match="W&B logging is off for this run: it could not start"):
        logger = Loggers(run_dir=tmp_path, name="run", config=nested_config(), wandb=broken_start, tensorboard=TensorBoardLogger)
    assert logger.run_id is None
    train_a_little(logger)
    assert scalars(read_events(tmp_path / "tensorboard"), "test_loss") == [(2, 10.0), (4, 5.0)]

    logger = Loggers(run_dir=tmp_path / "b", name="run", config={}, wandb=Raising, tensorboard=functools.partial(NoLogger))
    assert logger.run_id == "never"
    with pytest.warns(UserWarning, match="Raising.log failed"):
        logger.log({"train_loss": 1.0}, step=1)
    assert [type(t) for t in logger.trackers] == [NoLogger]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_a_little(logger)


def test_wandb_summary_failure_warns_and_turns_wandb_off(tmp_path):
    logger = WandbLogger(run_dir=tmp_path, name="run", config={}, **WANDB)

    class BrokenSummary:
        def update(self, values):
            raise BrokenPipeError("wandb service gone")

    run = logger.run
    try:
        logger.run = type("Run", (), {"summary": BrokenSummary(), "id": run.id})()
        with pytest.warns(UserWarning, match="W&B logging is off.*wandb service gone"):
            logger.log_summary({"status": "running"})
        assert logger.run is None and logger.run_id == run.id  # the id stays, for the checkpoint
    finally:
        run.finish()


# -- Config -----------------------------------------------------------------------------------------------------


def test_the_default_logger_is_wandb_and_tensorboard_and_their_settings_are_checked():
    cfg = compose_config(["logger.wandb.mode=cloud", "+logger.tensorboard.flush=1"])
    assert (cfg.logger._target_, cfg.logger.wandb._target_, cfg.logger.tensorboard._target_) == (
        "uvb_lab.trackers.Loggers", "uvb_lab.trackers.WandbLogger", "uvb_lab.trackers.TensorBoardLogger")
    assert check_arguments("logger", cfg.logger) == [
        "logger.wandb.mode must be one of online, offline, disabled, got cloud",
        "logger.tensorboard.flush is not a setting of uvb_lab.trackers.TensorBoardLogger (it takes none)",
    ]
    assert compose_config(["logger.tensorboard=null"]).logger.tensorboard is None


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

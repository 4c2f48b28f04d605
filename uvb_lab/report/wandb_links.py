"""wandb_runs/ in a report's folder: links to the offline W&B runs of every run the report read, and a line saying
which runs have none, and why."""

import os
from collections.abc import Iterable
from pathlib import Path

from uvb_lab.run import saved_config
from uvb_lab.run.files import CONFIG

SHOWN = 5  # runs named per reason in the coverage line; the rest are counted


def offline_runs(run_dir: Path) -> list[Path]:
    """The offline W&B runs in a run folder (RUN_DIR/wandb/offline-run-*: one per launch that trained there)."""
    return [path for path in sorted((Path(run_dir) / "wandb").glob("offline-run-*")) if path.is_dir()]


def link_offline_runs(run_dirs: Iterable[Path], out_dir: Path) -> list[Path]:
    """A folder of symlinks to every offline W&B run under the given run folders (RUN_DIR/wandb/offline-run-*).

    `wandb sync OUT_DIR/*` then uploads them all and `wandb leet OUT_DIR` browses them, a whole sweep at once.
    Each link keeps its offline run's folder name (offline-run-<time>-<W&B id>: unique per run and per resume,
    and the name `wandb leet` looks for). Only where that name is taken in OUT_DIR by something else (a copied
    run folder) does the link get `~2`, `~3`, ... appended. A link already there to the same run is kept, and a
    broken one (its run folder moved) is replaced; nothing else in OUT_DIR is touched. Each link is relative
    (`../../<run>/wandb/offline-run-...`), so a sweep folder moved or copied with its report keeps its links.
    Returns the links to the runs found, in the order of run_dirs.
    """
    out_dir = Path(out_dir)
    targets: list[Path] = []
    for run_dir in run_dirs:
        for offline in offline_runs(run_dir):
            if offline.resolve() not in targets:
                targets.append(offline.resolve())
    if targets:  # no offline run, no folder
        out_dir.mkdir(parents=True, exist_ok=True)
    links = []
    for target in targets:
        name, copy = target.name, 1
        while True:
            link = out_dir / name
            if link.is_symlink() and link.exists() and link.resolve() == target:
                break  # made by an earlier call
            if link.is_symlink() and not link.exists():
                link.unlink()  # broken: its run folder moved or is gone
            if not link.is_symlink() and not link.exists():
                link.symlink_to(os.path.relpath(target, out_dir.resolve()), target_is_directory=True)
                break
            copy += 1
            name = f"{target.name}~{copy}"
        links.append(link)
    return links


def why_no_offline_run(run_dir: Path) -> str:
    """Why a run folder holds no offline W&B run, as far as its config.yaml tells."""
    try:
        logger = saved_config.read_plain(Path(run_dir) / CONFIG).get("logger")
    except saved_config.SavedConfigError:
        return "its config.yaml cannot be read"
    logger = logger if isinstance(logger, dict) else {}
    wandb = logger if str(logger.get("_target_", "")).endswith("WandbLogger") else logger.get("wandb")
    if not isinstance(wandb, dict):
        return "no W&B in its logger (logger=tensorboard or logger=none)"
    if wandb.get("mode") == "online":
        return "W&B online: its run is on the server (wandb/run-*, not linked)"
    if wandb.get("mode") == "disabled":
        return "logger.wandb.mode=disabled"
    return "W&B was off or failed while it trained (WANDB_MODE=disabled, or a failure its train.log names)"


def coverage(run_dirs: Iterable[Path], links: list[Path], out_dir: Path) -> str:
    """One line for the report: how many of the runs read have an offline W&B run (linked where), and which have none,
    by reason."""
    run_dirs = list(run_dirs)
    without: dict[str, list[Path]] = {}
    for run_dir in run_dirs:
        if not offline_runs(run_dir):
            without.setdefault(why_no_offline_run(run_dir), []).append(Path(run_dir))
    have = len(run_dirs) - sum(map(len, without.values()))
    if not have and len(without) == 1:  # one reason for all of them (a sweep with logger=tensorboard): no names needed
        return f"no offline W&B run in the {len(run_dirs)} run{'s' * (len(run_dirs) != 1)} read: {next(iter(without))}"
    line = f"{have} of {len(run_dirs)} runs have an offline W&B run"
    if links:
        line += f" ({len(links)} linked in {out_dir})"
    for reason, runs in without.items():
        names = ", ".join(run.name for run in runs[:SHOWN]) + (f" and {len(runs) - SHOWN} more" if len(runs) > SHOWN else "")
        line += f"; {len(runs)} without: {reason}: {names}"
    return line

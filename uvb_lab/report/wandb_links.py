"""wandb_runs/ in a report's folder: links to the offline W&B runs of every run the report read."""

from collections.abc import Iterable
from pathlib import Path


def link_offline_runs(run_dirs: Iterable[Path], out_dir: Path) -> list[Path]:
    """A folder of symlinks to every offline W&B run under the given run folders (RUN_DIR/wandb/offline-run-*).

    `wandb sync OUT_DIR/*` then uploads them all and `wandb leet OUT_DIR` browses them, a whole sweep at once.
    Each link keeps its offline run's folder name (offline-run-<time>-<W&B id>: unique per run and per resume,
    and the name `wandb leet` looks for). Only where that name is taken in OUT_DIR by something else (a copied
    run folder) does the link get `~2`, `~3`, ... appended. A link already there to the same run is kept, and a
    broken one (its run folder moved) is replaced; nothing else in OUT_DIR is touched.
    Returns the links to the runs found, in the order of run_dirs.
    """
    out_dir = Path(out_dir)
    targets: list[Path] = []
    for run_dir in run_dirs:
        for offline in sorted((Path(run_dir) / "wandb").glob("offline-run-*")):
            if offline.is_dir() and offline.resolve() not in targets:
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
                link.symlink_to(target, target_is_directory=True)
                break
            copy += 1
            name = f"{target.name}~{copy}"
        links.append(link)
    return links

"""Runs in a notebook: `load_run` for one run folder's files (and its trained model), `load_runs` for the runs table.

    import uvb_lab
    run = uvb_lab.load_run("multirun/table2_mnist/uvb-mnist-sigma0.5")
    run.summary["test_loss"], run.config.trainer.lr, [r["test_loss"] for r in run.metrics if "test_loss" in r]
    run = uvb_lab.load_run("multirun/table2_mnist/uvb-mnist-sigma0.5", model=True)   # + run.model, run.data
    rows = uvb_lab.load_runs(["multirun/table2_mnist"])                               # runs.csv's rows, as dicts
    frame = uvb_lab.load_runs("multirun/table2_mnist", as_frame=True)                 # as a pandas DataFrame

Both only read: nothing in a run folder is written. Each file is checked as it is read (uvb_lab/run/records.py): one
that is not as uvb-train writes it raises records.RecordError (a ValueError) naming the file and the field.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary


@dataclass
class LoadedRun:
    folder: Path
    config: DictConfig  # config.yaml: the config as uvb-train last ran it, every interpolation resolved
    summary: dict[str, Any]  # summary.json
    metrics: list[dict[str, Any]]  # metrics.jsonl's rows: training rows (train_loss) and evaluations (test_loss), by step
    identity: dict[str, Any] | None  # identity.json's identity (from config.yaml for folders of uvb-lab 0.1.0)
    model: Any = None  # with model=True: the trained model (newest good checkpoint), in eval mode, on the device
    data: Any = None  # with model=True: the run's dataset (uvb_lab.data.ImageData: train, test, shape)


def load_run(run_dir: str | Path, model: bool = False, device: str = "cpu") -> LoadedRun:
    """One run folder's config, summary, metrics and identity; with model=True also its trained model and data.

    device: cpu | cuda | cuda:N | auto. The model and data are rebuilt through uvb_lab/rebuild.py's allow-list.
    """
    from uvb_lab.run import saved_config
    from uvb_lab.run.folder import recorded_identity  # here, not at the top: `import uvb_lab` stays free of torch

    folder = Path(run_dir)
    for name in (run_files.CONFIG, run_files.SUMMARY):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a uvb-train run folder: {folder / name} is missing")
    loaded = LoadedRun(
        folder=folder,
        config=saved_config.read(folder, upgrade=False),  # plain values: no interpolation is evaluated, nothing imported or called
        summary=run_summary.read(folder),
        metrics=run_files.read_metrics(folder),
        identity=recorded_identity(folder),
    )
    if model:
        from uvb_lab.run import devices  # torch: only to build the model
        from uvb_lab.trained_run import load_trained_run

        built = load_trained_run(folder, devices.resolve_device(device))
        loaded.model, loaded.data = built.model.eval(), built.data
    return loaded


def load_runs(paths: str | Path | Iterable[str | Path], as_frame: bool = False) -> Any:
    """The rows of runs.csv for the run folders under these paths (computed, not read from a report), as dicts.

    Values are JSON's: numbers, text, lists (a list-valued setting), None where a run has no value.
    as_frame=True: a pandas DataFrame instead, one row per run, runs.csv's columns in its order (the optional
    extra: pip install 'uvb-lab[frame]').
    """
    from uvb_lab.report.runs import find_runs
    from uvb_lab.report.runs_table import runs_rows

    if as_frame:
        try:
            import pandas
        except ImportError:
            raise ImportError("load_runs(..., as_frame=True) needs pandas: pip install 'uvb-lab[frame]' (or pandas)") from None
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    rows = runs_rows(find_runs(Path(path) for path in paths))
    return pandas.DataFrame.from_records(rows, columns=list(rows[0]) if rows else None) if as_frame else rows

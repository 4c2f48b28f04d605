"""Every learning curve of a tune-then-test sweep as one small CSV: the record a replay of the sweepers
(scripts/replay_sweepers.py) and the compute-matched intervals (scripts/compute_matched.py) can be recomputed from
after the run folders are gone.

    python scripts/learning_curves.py multirun/table2_mnist_protocol/sigma1.0 > learning_curves.csv

One row per epoch-end evaluation of every run the record names: each tuning trial (role `tuning`: its validation loss
per epoch) and each test seed (role `test`: its test loss per epoch, and its validation loss, the split being held out). Columns: cell, setting, role, seed, epoch, step, val_loss, test_loss,
epoch_time_s, samples_per_s, run. A loss that was not finite is empty; a run whose folder is missing has no rows.
The record and the rows are read through their schemas (uvb_lab/launch/protocol_record.py, uvb_lab/run/files.py):
a damaged one is one line and exit 2.
"""

import argparse
import csv
import sys
from pathlib import Path

from uvb_lab.launch import protocol_record
from uvb_lab.run import files as run_files
from uvb_lab.run import records

COLUMNS = ("cell", "setting", "role", "seed", "epoch", "step", "val_loss", "test_loss", "epoch_time_s", "samples_per_s", "run")


def runs_of(record: dict) -> list[tuple[str, str, str, int, str]]:
    """(cell, setting, role, seed, run folder name) of every run the record names, tuning trials first."""
    found = []
    for cell, entry in record["cells"].items():
        for setting, by_seed in (entry.get("trials") or {}).items():
            found += [(cell, setting, "tuning", int(seed), trial["run"]) for seed, trial in by_seed.items() if trial.get("run")]
        for setting, by_seed in (entry.get("test_runs_of") or {}).items():
            found += [(cell, setting, "test", int(seed), run) for seed, run in by_seed.items() if run]
    return found


def rows(folder: Path) -> list[dict]:
    record = protocol_record.read(folder)
    out = []
    for cell, setting, role, seed, name in runs_of(record):
        run_dir = records.folder_name(folder, name, f"{folder / protocol_record.RECORD}: {cell}, {setting}, seed {seed}")
        if not (run_dir / run_files.METRICS).is_file():
            continue
        for row in run_files.evaluations(run_files.read_metrics(run_dir), "epoch_end"):
            out.append({"cell": cell, "setting": setting, "role": role, "seed": seed, "epoch": round(row["epoch"]), "step": row["step"],
                        "val_loss": row.get("val_loss"), "test_loss": row.get("test_loss"), "epoch_time_s": row.get("epoch_time_s"),
                        "samples_per_s": row.get("samples_per_s"), "run": name})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a tune-then-test sweep folder (holds protocol.json)")
    args = parser.parse_args(argv)
    try:
        found = rows(args.folder)
    except FileNotFoundError as error:
        print(f"learning_curves: error: {error}", file=sys.stderr)
        return 2
    except records.RecordError as error:
        print(f"learning_curves: error: {error}", file=sys.stderr)
        return 2
    writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in found:
        writer.writerow({key: ("" if value is None else repr(value) if isinstance(value, float) else value) for key, value in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

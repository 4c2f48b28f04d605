"""Successive halving against the exhaustive grid, from one tune-then-test folder run with hydra.sweeper.exhaustive=true.

    python scripts/halving_vs_exhaustive.py multirun/bayes_gap_tuned > halving_vs_exhaustive.md

Per cell: the setting halving chose and the one the whole grid trained to the full budget would choose, the
full-budget validation loss of each and their relative gap; the training steps and the wall time each approach
spent on tuning (steps from the rungs, wall time from the epoch times the trials recorded in metrics.jsonl). Then,
from the exhaustive grid's own validation curves (one evaluation per epoch), the first-rung budgets at which halving
would have picked wrongly: where the best setting at epoch b is not the best at the end (curves that cross late).
"""

import sys
from pathlib import Path

from uvb_lab.launch import protocol_record
from uvb_lab.launch.successive_halving import Rung
from uvb_lab.launch.tune_then_test import choose
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.folder import IDENTITY, recorded_identity
from uvb_lab.run.records import RecordError


def trial_folder(folder: Path, cell: list[str], setting: str) -> Path | None:
    """The run folder of a cell's trial at a setting: the seed-0 run whose identity matches both."""
    wanted = dict(o.split("=", 1) for o in setting.split(" ") if "=" in o)
    for run_dir in folder.iterdir():
        if not (run_dir / IDENTITY).is_file():
            continue
        identity = recorded_identity(run_dir)
        if identity.get("trainer.seed") != 0:
            continue
        model = next((o.split("=", 1)[1] for o in cell if o.startswith("model=")), None)
        sigma = next((float(o.split("=", 1)[1]) for o in cell if o.startswith("sigma=")), None)
        if model and identity.get("run.model") != model or sigma is not None and identity.get("sigma") != sigma:
            continue
        if all(str(identity.get(k)) == v or _same_number(identity.get(k), v) for k, v in wanted.items()):
            return run_dir
    return None


def _same_number(value, text: str) -> bool:
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False


def main(folder: Path) -> str:
    record = protocol_record.read(folder)
    full, rungs = record["full_budget"], record["rungs"]
    schedule = [Rung(n, b) for n, b in rungs]
    lines = [
        f"# Successive halving against the exhaustive grid: {folder.name}",
        "",
        f"Grid: {', '.join(record['grid'])}; rungs: {', '.join(f'{n} to {b}' for n, b in rungs)} "
        f"({record['budget_key']}); the exhaustive grid trains every setting to {full}.",
        "",
        "| cell | halving's choice | exhaustive choice | full-budget val loss: halving / exhaustive | gap | "
        "halving: steps / wall s | exhaustive: steps / wall s | first-rung budgets that pick wrongly |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals, missing_folders = [0, 0.0, 0, 0.0], False
    for name, cell in record["cells"].items():
        # Halving's own choice: `chosen` is whichever choice the test seeds trained, the whole grid's under
        # choose_by=exhaustive, so it is read from halving_choice, or recomputed from the rungs (older records).
        chosen, exhaustive = cell.get("halving_choice"), cell.get("exhaustive_choice")
        at_full = {s: losses.get(str(full)) for s, losses in cell["val_loss"].items()}
        trials = {s: trial_folder(folder, cell["cell"], s) for s in record["grid"]}
        per_epoch, status, steps_per_epoch = {}, {}, None
        for setting, run_dir in trials.items():
            if run_dir is None:
                continue
            rows = run_files.evaluations(run_files.read_metrics(run_dir), "epoch_end")
            per_epoch[setting] = {round(row["epoch"]): (row.get("val_loss"), row.get("epoch_time_s") or 0.0) for row in rows}
            summary = run_summary.read(run_dir)
            status[setting] = summary.get("status")
            if status[setting] == "finished":  # a diverged trial stops mid-epoch: its steps per epoch are not the data's
                steps_per_epoch = summary["steps_done"] / max(1, summary["epochs_done"])
        # Halving: each setting trained to the last rung it was alive at; exhaustive: every setting to full.
        val = {s: {int(b): (v if v is not None else float("inf")) for b, v in losses.items()} for s, losses in cell["val_loss"].items()}
        # The full-budget validation loss of every setting: the record's, else the trial's own epoch row (a trial
        # trained to the full budget ahead of the protocol's exhaustive stage has it in its metrics.jsonl only).
        for setting, epochs in per_epoch.items():
            if at_full.get(setting) is None and full in epochs:
                at_full[setting] = epochs[full][0]
        failed = {s for s, losses in cell["val_loss"].items() if losses and all(v is None for v in losses.values())}  # diverged
        failed |= {s for s in status if at_full.get(s) is None and status[s] == "failed"}  # diverged on the way to the full budget
        complete = all(at_full.get(s) is not None for s in record["grid"] if s not in failed)
        finite = {s: v for s, v in at_full.items() if v is not None}
        if exhaustive is None and complete and finite:
            exhaustive = min(finite, key=finite.get)
        if chosen is None:  # a record without halving_choice: halving's choice from its rungs, validation losses alone
            chosen = choose(val, record["grid"], schedule)[1]
        reached = dict.fromkeys(record["grid"], 0)
        for k, rung in enumerate(schedule):
            for s in choose(val, record["grid"], schedule[: k + 1])[0]:
                reached[s] = rung.budget
        halving_epochs = sum(reached.values())
        halving_wall = sum(t for s, epochs in per_epoch.items() for e, (_, t) in epochs.items() if e <= reached[s])
        exhaustive_epochs = full * len(record["grid"])
        exhaustive_wall = sum(t for epochs in per_epoch.values() for e, (_, t) in epochs.items() if e <= full)
        wrong = []
        ended = {s: epochs for s, epochs in per_epoch.items() if full in epochs and epochs[full][0] is not None}
        if ended and complete:
            best_at_end = min(ended, key=lambda s: ended[s][full][0])
            for b in range(1, full):
                at_b = {s: ended[s][b][0] for s in ended if b in ended[s] and ended[s][b][0] is not None}
                if at_b and min(at_b, key=at_b.get) != best_at_end:
                    wrong.append(b)
        gap = "—"
        if chosen and exhaustive and at_full.get(chosen) and at_full.get(exhaustive):
            gap = f"{100 * (at_full[chosen] / at_full[exhaustive] - 1):+.2f}%"
        if not per_epoch or steps_per_epoch is None:  # the record alone (its trials' folders were not kept): epochs, not steps or seconds
            missing_folders = True
            lines.append(
                f"| {name} | {chosen or 'none (what it kept failed)'} | {exhaustive} | {_n(at_full.get(chosen))} / {_n(at_full.get(exhaustive))} | {gap} | "
                f"{halving_epochs} epochs / — | {exhaustive_epochs} epochs / — | — |"
            )
            continue
        spe = steps_per_epoch
        totals = [totals[0] + halving_epochs * spe, totals[1] + halving_wall, totals[2] + exhaustive_epochs * spe, totals[3] + exhaustive_wall]
        lines.append(
            f"| {name} | {chosen or 'none (what it kept failed)'} | {exhaustive} | {_n(at_full.get(chosen))} / {_n(at_full.get(exhaustive))} | {gap} | "
            f"{halving_epochs * spe:,.0f} / {halving_wall:,.0f} | {exhaustive_epochs * spe:,.0f} / "
            f"{f'{exhaustive_wall:,.0f}' if complete else '(not complete)'} | "
            f"{(', '.join(map(str, wrong)) or 'none') if complete else 'the grid is not complete'} |"
        )
    if totals[2]:
        lines += ["", f"In all: halving trained {totals[0]:,.0f} steps in {totals[1]:,.0f} s of epochs, the exhaustive grid "
                  f"{totals[2]:,.0f} steps in {totals[3]:,.0f} s: {100 * totals[0] / totals[2]:.0f}% of the steps, "
                  f"{100 * totals[1] / max(totals[3], 1e-9):.0f}% of the time."]
    lines += ["", "Wall times are the trials' own epoch times (training and the validation evaluation), on the machine and "
              "load of the run; steps = epochs x steps per epoch."]
    if len(record.get("tuning_seeds") or [0]) > 1:
        lines += ["", f"Steps and seconds are those of one tuning seed (seed {record['tuning_seeds'][0]}'s trials): with "
                  f"{len(record['tuning_seeds'])} tuning seeds, each approach trained {len(record['tuning_seeds'])} times as much."]
    if missing_folders:
        lines += ["", "Cells with — in the time columns: their trials' run folders are not in this folder, only the record; "
                  "the losses and choices come from protocol.json, the budgets in epochs from its rungs, and the epochs at "
                  "which a first rung would pick wrongly need the trials' per-epoch curves."]
    return "\n".join(lines) + "\n"


def _n(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "—"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/halving_vs_exhaustive.py SWEEP_DIR (a tune-then-test folder with exhaustive=true)")
    try:
        print(main(Path(sys.argv[1])), end="")
    except (FileNotFoundError, RecordError) as error:
        print(f"halving_vs_exhaustive: error: {error}", file=sys.stderr)
        sys.exit(2)

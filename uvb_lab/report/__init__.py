"""`uvb-report PATH...` (= `python -m uvb_lab.report`): the paper's tables from the runs under PATH.

Reads each run folder's summary.json, identity.json and metrics.jsonl (never W&B, never the network) and
writes to --out (default PATH/report/): report.md (also printed), report.tex, one tidy CSV per table with
their notes in notes.csv, runs.csv and runs.jsonl (one row per run), loss_vs_sigma.png and
learning_curves.png, and wandb_runs/ (links to every offline W&B run read). A PATH that holds a search's
successive_halving.csv (hydra/sweeper=successive_halving) has that table in the report too, and one that holds
protocol.json (hydra/sweeper=tune_then_test) its tune-then-test table (protocol.md and protocol.csv in --out); a search's
or a protocol's section comes first, ahead of the tables of its runs. The UVB − DEEN test differences of the sigma tables
are compared seed by seed in comparisons.csv (Welch's interval beside the paired one, Holm-adjusted p-values, the seeds
for 80% power; `--bootstrap` adds a BCa interval). `--table1` adds Table 1, counted from the configs; with no PATH it is
all the report does.
"""

import argparse
import contextlib
import sys
from pathlib import Path

from uvb_lab.launch.sweep_files import HALVING_TABLE, PROTOCOL_RECORD
from uvb_lab.report.bayes_gap import bayes_gap_tables, risk_ratio_vs_sigma
from uvb_lab.report.comparisons import comparisons_table
from uvb_lab.report.figure import loss_vs_sigma
from uvb_lab.report.learning_curves import learning_curves
from uvb_lab.report.protocol import protocol_table
from uvb_lab.report.runs import ReportError, RunIndex, find_runs
from uvb_lab.report.runs_table import runs_csv, runs_jsonl, runs_rows
from uvb_lab.report.search import SEARCH_RECORD, halving_section, search_table
from uvb_lab.report.table1 import table1
from uvb_lab.report.tables import Table, notes_csv, paper_tables
from uvb_lab.report.wandb_links import coverage as wandb_coverage
from uvb_lab.report.wandb_links import link_offline_runs
from uvb_lab.run import files as run_files
from uvb_lab.run.records import RecordError

HEADER = (
    "Cells: ours / paper (delta %). Ours: the finished runs with the table's settings and epochs; where several "
    "differ only by trainer.seed, their mean ± the half-width of its 95% t-interval (n runs); each table's caption says "
    "what its ± is. Tuning runs are never among the seeds. — : no such run, or no value. "
    "Every run read, whatever its settings or state, is a row of runs.csv."
)
COMPARISONS_TITLE = "Comparisons: UVB − DEEN on the test loss, seed by seed"

WANDB_LINKS = "wandb_runs"  # the folder of links to the offline W&B runs read


def with_comparisons(tables: list[Table], bootstrap: bool) -> list[Table]:
    """The tables, with the comparisons of their test differences (Holm's adjustment over all of them) after the last
    table that has any."""
    compared = [row for table in tables for row in table.compared]
    if not compared:
        return tables
    last = max(i for i, table in enumerate(tables) if table.compared)
    return [*tables[: last + 1], comparisons_table("comparisons", COMPARISONS_TITLE, compared, bootstrap=bootstrap), *tables[last + 1:]]

def write_report(tables: list[Table], absent: list[str], out: Path | None, figures: list[Path],
                 runs: list[dict] | None = None, searches: list[str] | None = None) -> str:
    """The Markdown report (returned), and with out: report.md, report.tex, <table>.csv, notes.csv, runs.csv/jsonl there
    (main writes them into a staging folder, renamed into --out once all are written)."""
    parts = ["# uvb-lab: our runs beside the paper", "", HEADER, ""]
    parts += searches or []  # a search's own numbers (validation, its choice) first, then its runs in the tables' layout
    parts += [table.markdown() for table in tables]
    if absent:
        parts.append("Not in these runs: " + "; ".join(absent) + ".\n")
    if runs:
        parts.append(f"{len(runs)} runs read: one row each in runs.csv (and runs.jsonl).\n")
    parts += [f"![{figure.stem.replace('_', ' ')}]({figure.name})\n" for figure in figures]
    markdown = "\n".join(parts)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(markdown)
        (out / "report.tex").write_text("\n".join(table.latex() for table in tables))
        for table in tables:
            (out / f"{table.name}.csv").write_text(table.csv())
        (out / "notes.csv").write_text(notes_csv(tables))
        if runs:
            (out / "runs.csv").write_text(runs_csv(runs))
            (out / "runs.jsonl").write_text(runs_jsonl(runs))
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uvb-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="folders searched for runs (summary.json), e.g. multirun/table2_mnist")
    parser.add_argument("--out", type=Path, help="folder for the report files (default: <first PATH>/report)")
    parser.add_argument("--table1", action="store_true", help="add Table 1, dim(theta) counted from the configs (no run needed)")
    parser.add_argument("--log-y", action="store_true", help="a log scale for the loss axes of the figures")
    parser.add_argument("--bootstrap", action="store_true",
                        help="add a 95%% BCa bootstrap interval of each comparison (scipy.stats.bootstrap, fixed seed): a column more, a little slower")
    args = parser.parse_args(argv)
    if not args.paths and not args.table1:
        parser.error("give the folders holding the runs, or --table1")

    tables: list[Table] = [table1()] if args.table1 else []
    absent: list[str] = []
    out = args.out or (args.paths[0] / "report" if args.paths else None)
    if out is not None and (problem := run_files.unwritable(out)):
        print(f"uvb-report: error: cannot write the report into {out} ({problem}); give a folder you can write with --out DIR",
              file=sys.stderr)
        return 2
    figures: list[Path] = []
    runs_table, runs = None, []
    try:  # every record read before the first file is written: a damaged one is refused, naming it
        searches = [  # the search tables of the folders given, as uvb-train wrote them
            halving_section(path) for path in args.paths if (path / HALVING_TABLE).is_file()
        ]
        protocols = {path: protocol_table(path, args.bootstrap) for path in args.paths if (path / PROTOCOL_RECORD).is_file()}
        searches += [  # any other search (Optuna's): its trials, best first
            table for path in args.paths
            if (path / SEARCH_RECORD).is_file() and not (path / PROTOCOL_RECORD).is_file()
            and not (path / HALVING_TABLE).is_file() and (table := search_table(path))
        ]
        searches += [markdown for markdown, _ in protocols.values()]
        runs = find_runs(args.paths) if args.paths else []
    except (ReportError, RecordError) as error:
        print(f"uvb-report: error: {error}", file=sys.stderr)
        return 2
    if args.paths:
        if not runs:
            print(f"uvb-report: error: no runs (summary.json) under {', '.join(map(str, args.paths))}", file=sys.stderr)
            return 2
        index = RunIndex(runs)
        found, absent = paper_tables(index)
        tables += with_comparisons(found, args.bootstrap) + bayes_gap_tables(index)
        runs_table = runs_rows(runs)
    try:
        # Every file into a staging folder first, then all renamed into out together: a full disk on the way leaves the
        # earlier report's files as they were, never a 0-byte file or half a new set of figures.
        with run_files.written_together(out) if out else contextlib.nullcontext() as staging:
            if args.paths:
                drawn = (loss_vs_sigma(index, staging / "loss_vs_sigma.png", args.log_y),
                         learning_curves(index, staging / "learning_curves.png", args.log_y),
                         risk_ratio_vs_sigma(index, staging / "risk_ratio_vs_sigma.png"))
                figures = [figure for figure in drawn if figure is not None]
            print(write_report(tables, absent, staging, figures, runs_table, searches))
            if staging and protocols:
                for i, (markdown, tidy) in enumerate(protocols.values()):
                    suffix = f"_{i + 1}" if len(protocols) > 1 else ""
                    (staging / f"protocol{suffix}.md").write_text(markdown)
                    (staging / f"protocol{suffix}.csv").write_text(tidy)
        if args.paths:
            # Every offline W&B run read, in one folder: `wandb sync OUT/wandb_runs/*`, `wandb leet OUT/wandb_runs`.
            links = link_offline_runs([run.folder for run in runs], out / WANDB_LINKS)
            print(f"uvb-report: {wandb_coverage([run.folder for run in runs], links, out / WANDB_LINKS)}", file=sys.stderr)
    except OSError as error:  # a full disk: uvb-train's exit code for a file it cannot write
        print(f"uvb-report: error: cannot write the report into {out}: {error.strerror or error}; the files of an earlier "
              "report there are as they were", file=sys.stderr)
        return 2
    if out:
        print(f"uvb-report: wrote {out}", file=sys.stderr)
    return 0

"""`uvb-report PATH...` (= `python -m uvb_lab.report`): the paper's tables from the runs under PATH.

Reads each run's summary.json (never W&B, never the network) and writes to --out (default PATH/report/):
report.md (also printed), report.tex, one CSV per table, and loss_vs_sigma.png. `--table1` adds Table 1,
counted from the configs; with no PATH it is all the report does.
"""

import argparse
import sys
from pathlib import Path

from uvb_lab import CONFIG_DIR
from uvb_lab.report.figure import loss_vs_sigma
from uvb_lab.report.runs import ReportError, RunIndex, find_runs
from uvb_lab.report.table1 import table1
from uvb_lab.report.tables import Table, paper_tables

# conf/ beside the package, as uvb-train uses it (an editable install).


def write_report(tables: list[Table], absent: list[str], out: Path | None, figure: Path | None) -> str:
    """The Markdown report (returned), and with out: report.md, report.tex and <table>.csv files there."""
    parts = ["# uvb-lab: our runs beside the paper", "", "Cells: ours / paper (delta %); — : no run or no value.", ""]
    parts += [table.markdown() for table in tables]
    if absent:
        parts.append("Not in these runs: " + "; ".join(absent) + ".\n")
    if figure:
        parts.append(f"![loss vs sigma]({figure.name})\n")
    markdown = "\n".join(parts)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(markdown)
        (out / "report.tex").write_text("\n".join(table.latex() for table in tables))
        for table in tables:
            (out / f"{table.name}.csv").write_text(table.csv())
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uvb-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="folders searched for runs (summary.json), e.g. multirun/table2_mnist")
    parser.add_argument("--out", type=Path, help="folder for the report files (default: <first PATH>/report)")
    parser.add_argument("--table1", action="store_true", help="add Table 1, dim(theta) counted from the configs (no run needed)")
    args = parser.parse_args(argv)
    if not args.paths and not args.table1:
        parser.error("give the folders holding the runs, or --table1")

    tables: list[Table] = [table1(CONFIG_DIR)] if args.table1 else []
    absent: list[str] = []
    out = args.out or (args.paths[0] / "report" if args.paths else None)
    figure = None
    if args.paths:
        try:
            runs = find_runs(args.paths)
        except ReportError as error:
            print(f"uvb-report: error: {error}", file=sys.stderr)
            return 2
        if not runs:
            print(f"uvb-report: error: no runs (summary.json) under {', '.join(map(str, args.paths))}", file=sys.stderr)
            return 2
        index = RunIndex(runs)
        found, absent = paper_tables(index)
        tables += found
        figure = loss_vs_sigma(index, out / "loss_vs_sigma.png")
    print(write_report(tables, absent, out, figure))
    if out:
        print(f"uvb-report: wrote {out}", file=sys.stderr)
    return 0

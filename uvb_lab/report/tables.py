"""Tables 2-5 and Remark 4 in the paper's layout, each cell "ours / paper (delta %)", as Markdown, CSV, LaTeX.

Footnote markers [n] flag every cell whose run is not a finished, complete one, or that had rivals.
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uvb_lab import paper
from uvb_lab.report.runs import Cell, RunIndex

DASH = "—"
MODEL_NAMES = {"uvb": "UVB", "deen": "DEEN", "vae": "VAE", "uvb_laplace": "UVB (Laplace decoder)"}
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def number(value: float) -> str:
    """Three significant digits, as the paper prints them (2.60, 14.7, 692)."""
    return f"{value:#.3g}".rstrip(".")


@dataclass
class Table:
    name: str  # file stem: table2_mnist, table4, ...
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)

    def mark(self, notes: Sequence[str]) -> str:
        """Footnote markers for these notes, numbering each new note once."""
        marks = []
        for note in notes:
            if note not in self.footnotes:
                self.footnotes.append(note)
            marks.append(f"[{self.footnotes.index(note) + 1}]")
        return "".join(marks)

    def cell(self, cell: Cell, metric: Callable[[dict[str, Any]], float | None], reference: float | None) -> str:
        """'ours / paper (delta %)'; a dash for a missing run or value; markers for the cell's notes."""
        value = metric(cell.run.summary) if cell.run else None
        ours = DASH if value is None else number(value)
        text = ours if reference is None else f"{ours} / {number(reference)}"
        if value is not None and reference is not None:
            text += f" ({100 * (value - reference) / reference:+.1f}%)"
        return text + self.mark(cell.notes())

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |", "|" + " --- |" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += [""] + [f"[{i}] {note}  " for i, note in enumerate(self.footnotes, 1)]
        return "\n".join(lines).rstrip() + "\n"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        writer.writerows([f"[{i}] {note}"] for i, note in enumerate(self.footnotes, 1))
        return out.getvalue()

    def latex(self) -> str:
        lines = [
            f"% {self.title}",
            r"\begin{tabular}{l" + "r" * (len(self.header) - 1) + "}",
            r"\hline",
            " & ".join(map(tex, self.header)) + r" \\",
            r"\hline",
            *(" & ".join(map(tex, row)) + r" \\" for row in self.rows),
            r"\hline",
            r"\end{tabular}",
            *(rf"\par\footnotesize [{i}] {tex(note)}" for i, note in enumerate(self.footnotes, 1)),
        ]
        return "\n".join(lines) + "\n"


# LaTeX for every character of our cells and notes that text mode does not print as itself.
TEX = {
    "\\": r"\textbackslash{}", "%": r"\%", "_": r"\_", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
    "^": r"\^{}", "~": r"\~{}", "|": r"\textbar{}", "<": r"$<$", ">": r"$>$", DASH: "--",
    "σ": r"$\sigma$", "Δ": r"$\Delta$", "θ": r"$\theta$", "μ": r"$\mu$", "·": r"$\cdot$", "−": "-", "≤": r"$\leq$",
}


def tex(text: str) -> str:
    return "".join(TEX.get(char, char) for char in text)


def train_loss(summary: dict[str, Any]) -> float | None:
    return summary.get("train_loss")


def test_loss(summary: dict[str, Any]) -> float | None:
    return summary.get("test_loss")


def sigma_table(index: RunIndex, dataset: str) -> Table:
    """Table 2 (MNIST) / 3 (CIFAR-10) layout: rows UVB/DEEN train/test, a column per sigma."""
    reference = paper.SIGMA_TABLES.get(dataset, {})
    number_ = paper.SIGMA_TABLE_NUMBER.get(dataset)
    sigmas = sorted(set(index.sigmas(dataset, ("uvb", "deen"))) | (set(paper.SIGMAS) if reference else set()))
    name = DATASET_NAMES.get(dataset, dataset)
    title = f"Table {number_}, {name}: denoising loss at the end of training" if number_ else (
        f"{name} (not in the paper): denoising loss at the end of training, Table 2 layout"
    )
    table = Table(f"table{number_}_{dataset}" if number_ else f"sigma_table_{dataset}", title, ["σ", *map(str, sigmas)])
    for split, metric in (("train", train_loss), ("test", test_loss)):
        for model in ("uvb", "deen"):
            paper_row = reference.get((model, split))
            row = [f"{MODEL_NAMES[model]} {split}"]
            for sigma in sigmas:
                ref = paper_row[paper.SIGMAS.index(sigma)] if paper_row and sigma in paper.SIGMAS else None
                row.append(table.cell(index.cell(model, dataset, sigma), metric, ref))
            table.rows.append(row)
    return table


def tables_4_5(index: RunIndex) -> list[Table]:
    """Tables 4 and 5 (MNIST, sigma = 1, test set): UVB vs VAE, compared on clean x as SPEC derives."""

    def kl_on_x(s):
        return s.get("test_kl_on_x")

    def kl_on_y(s):
        return s.get("test_kl_on_y")

    def squared_error_on_x(s):  # 2 sigma^2 * ||x - mu_y||^2 / (2 sigma^2) = ||x - mu_y||^2
        return None if s.get("test_recon_on_x") is None else 2 * s["sigma"] ** 2 * s["test_recon_on_x"]

    def recon_on_y(s):
        return s.get("test_recon_on_y")

    specs = (
        ("table4", "Table 4, MNIST, σ = 1, test set: mean KL(q(z|·) || p(z))", paper.TABLE4_KL, kl_on_x, kl_on_y,
         "ours: test_kl_on_x, the KL of q(z|x) on clean test images, compared with the paper's value; "
         "'on y' is test_kl_on_y, the KL of q(z|y) on the noisy images the energy sees."),
        ("table5", "Table 5, MNIST, σ = 1, test set: mean E_q ||· - mu_y(z)||^2", paper.TABLE5_RECONSTRUCTION,
         squared_error_on_x, recon_on_y,
         "ours: 2 σ^2 test_recon_on_x = E_{z~q(z|x)} ||x - mu_y(z)||^2 on clean test images, the reading of "
         "Table 5 that SPEC.md derives (on y the term cannot come near the paper's numbers); "
         "'on y' is test_recon_on_y = E_{z~q(z|y)} ||y - mu_y(z)||^2 / (2 σ^2), Eq. 14 on the noisy images."),
    )
    tables = []
    for name, title, reference, on_x, on_y, explanation in specs:
        table = Table(name, title, ["model", "ours / paper (Δ) [1]", "ours on y [1]"])
        table.footnotes.append(explanation)
        for model in ("uvb", "vae"):
            cell = index.cell(model, "mnist", 1.0)
            table.rows.append([MODEL_NAMES[model], table.cell(cell, on_x, reference[model]), table.cell(cell, on_y, None)])
        tables.append(table)
    return tables


def remark4(index: RunIndex) -> Table:
    """Remark 4: the Laplace-decoder UVB's training loss at sigma = 1 on MNIST."""
    table = Table("remark4", "Remark 4, MNIST, σ = 1: UVB with a Laplace decoder, training loss", ["model", "train loss"])
    cell = index.cell("uvb_laplace", "mnist", 1.0)
    table.rows.append([MODEL_NAMES["uvb_laplace"], table.cell(cell, train_loss, paper.REMARK4_TRAIN_LOSS)])
    return table


def has_runs(index: RunIndex, models: Sequence[str], dataset: str, sigma: float) -> bool:
    return any(index.cell(model, dataset, sigma).run for model in models)


def paper_tables(index: RunIndex) -> tuple[list[Table], list[str]]:
    """The tables that some run fills, and the names of those no run touches (left out of the report)."""
    tables, absent = [], []
    others = sorted(set(index.datasets(("uvb", "deen"))) - set(paper.SIGMA_TABLES))
    for dataset in [*paper.SIGMA_TABLES, *others]:  # Table 2, Table 3, then datasets the paper has not
        if index.sigmas(dataset, ("uvb", "deen")):
            tables.append(sigma_table(index, dataset))
        else:
            absent.append(f"Table {paper.SIGMA_TABLE_NUMBER[dataset]} ({DATASET_NAMES[dataset]})")
    if has_runs(index, ("uvb", "vae"), "mnist", 1.0):
        tables += tables_4_5(index)
    else:
        absent.append("Tables 4 and 5 (uvb, vae on MNIST at σ = 1)")
    if has_runs(index, ("uvb_laplace",), "mnist", 1.0):
        tables.append(remark4(index))
    else:
        absent.append("Remark 4 (uvb_laplace on MNIST at σ = 1)")
    return tables, absent

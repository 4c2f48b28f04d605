"""Tables 2-5 and Remark 4 in the paper's layout, as Markdown and LaTeX for reading and as tidy CSV for computing.

A displayed cell reads "ours / paper (delta %)", ours being the mean ± the half-width of its 95% t-interval over
seeds with n where several seeds ran (the caption says so: one meaning of ± per table); footnote markers [n] flag every
cell with runs left out of it (other settings, unfinished, duplicated, tuning runs). The CSV has one row per cell, each
number in a column of its own (TIDY: the sample std beside the interval's half-width), the notes in notes.csv. The test
rows' UVB − DEEN differences are compared seed by seed in a table of their own (uvb_lab/report/comparisons.py).
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from uvb_lab import paper
from uvb_lab.models.names import ELBO_TABLE_PAIR, LAPLACE_UVB, SIGMA_TABLE_PAIR, display_name
from uvb_lab.report import pairing
from uvb_lab.report.runs import Cell, RunIndex
from uvb_lab.report.settings import REDUCED_SIGMA_TABLE_EXPERIMENTS, SIGMA_TABLE_EXPERIMENTS, TABLES_4_5_EXPERIMENT, settings_differences
from uvb_lab.report.stats import Interval, Stat, Welch, difference_text, number
from uvb_lab.run import summary as run_summary

DASH = "—"
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "gmm": "Gaussian mixture"}
# The columns of a table's CSV: where the cell is, what it measures, our number (mean, sample std, standard error of
# a difference, the half-width of its 95% interval: Student's t of a mean, Welch's of a difference; runs), the paper's,
# and the ids of its notes in notes.csv ("1;3"). Empty where not applicable.
TIDY = ("table", "row", "model", "split", "dataset", "sigma", "metric", "value", "std", "se", "half_width_95", "n", "paper",
        "delta_percent", "note_ids")
NOTES = ("table", "note_id", "note")


class Metric(NamedTuple):
    name: str  # the CSV's metric column
    of: Callable[[dict[str, Any]], float | None]  # its value in a run's summary.json; None: not measured


def summary_field(name: str) -> Metric:
    return Metric(name, lambda summary: summary.get(name))


def delta_percent(value: float, reference: float) -> float:
    return 100 * (value - reference) / reference


@dataclass
class Table:
    name: str  # file stem: table2_mnist, table4, ...
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    caption: str = ""  # how to read the cells, printed under the title
    records: list[dict[str, Any]] = field(default_factory=list)  # the tidy rows of the CSV
    columns: tuple[str, ...] = TIDY  # the CSV's header
    compared: list[pairing.Compared] = field(default_factory=list)  # its test differences, for the comparisons table

    def mark(self, notes: Sequence[str]) -> str:
        """Footnote markers for these notes, numbering each new note once."""
        return "".join(f"[{i}]" for i in self.note_ids(notes))

    def note_ids(self, notes: Sequence[str]) -> list[int]:
        for note in notes:
            if note not in self.footnotes:
                self.footnotes.append(note)
        return [self.footnotes.index(note) + 1 for note in notes]

    def record(self, row: str, metric: str, value: float | None, paper_value: float | None, notes: Sequence[str] = (),
               **numbers_and_where: Any) -> None:
        """One tidy CSV row; numbers_and_where: std, se, n, delta_percent and model, split, dataset, sigma, where they apply."""
        self.records.append({
            "table": self.name, "row": row, "metric": metric, "value": value, "paper": paper_value,
            "note_ids": ";".join(map(str, self.note_ids(notes))), **numbers_and_where,
        })

    def cell(self, row: str, cell: Cell, metric: Metric, reference: float | None, linear: Stat | None = None, **where: Any) -> str:
        """'ours / paper (delta %)', ours as mean ± 95% t-interval (n) over seeds; a dash for no run or value; note markers.

        linear: the linear (Wiener) denoiser's risk on the same noisy images, where the metric is a denoising loss:
        a mean above it is flagged (ABOVE_LINEAR_NOTE)."""
        stat = cell.stat(metric.of)
        if stat is None:
            self.record(row, metric.name, None, reference, cell.notes, **where)
            text = DASH if reference is None else f"{DASH} / {number(reference)}"
            return text + self.mark(cell.notes)
        notes = [*cell.notes, *([ABOVE_LINEAR_NOTE] if linear is not None and stat.mean > linear.mean else [])]
        delta = delta_percent(stat.mean, reference) if reference is not None else None
        ours = self.stat_text(row, metric.name, cell.values(metric.of), reference, notes, delta_percent=delta, **where)
        text = ours if reference is None else f"{ours} / {number(reference)} ({delta:+.1f}%)"
        return text + self.mark(notes)

    def stat_text(self, row: str, metric: str, values: Sequence[float], reference: float | None, notes: Sequence[str], **where: Any) -> str:
        """The values' mean ± the half-width of their 95% t-interval (n), recorded with their sample std."""
        stat, interval = Stat.of(values), Interval.of(values)
        self.record(row, metric, stat.mean, reference, notes, std=stat.std, half_width_95=interval.half_width, n=stat.n, **where)
        return interval.text(labelled=False)

    def stat_cell(self, row: str, metric: str, values: Sequence[float], notes: Sequence[str] = (), **where: Any) -> str:
        """A row that is no model's (the linear denoiser, the training-set prior, the Bayes risk): the mean ± 95% t-interval
        (n) of the distinct values the runs record (baseline_values: one where they share their noisy test images)."""
        if not values:
            self.record(row, metric, None, None, notes, **where)
            return DASH + self.mark(notes)
        return self.stat_text(row, metric, values, None, notes, **where) + self.mark(notes)

    def difference(self, row: str, first: Cell, second: Cell, metric: Metric, references: tuple[float | None, float | None],
                   on_test_images: bool = False, **where: Any) -> str:
        """'ours / paper' for mean(first) - mean(second), ours ± the half-width of Welch's 95% interval where both cells
        have n >= 2; references: the paper's values of the two cells. on_test_images: a difference of test numbers, shown
        only where the runs were scored on the same noisy images (uvb_lab/report/pairing.py), with a note on runs made
        before; the comparisons table pairs it seed by seed where the runs allow."""
        reference, reference_text = None, None
        if None not in references:
            reference, reference_text = round(references[0] - references[1], 6), difference_text(*references)  # no float noise
        a, b = first.values(metric.of), second.values(metric.of)
        ours = Welch.of(a, b) if a and b else None
        notes: list[str] = [note] if ours is not None and (note := parameter_note(first, second)) else []
        if on_test_images and ours is not None:
            runs = [*first.runs, *second.runs]
            if (refused := pairing.refusal(runs)) is not None:
                ours, notes = None, [refused]
            elif (old := pairing.unpaired_note(runs)) is not None:
                notes.append(old)
        if ours is None:
            self.record(row, metric.name, None, reference, notes, **where)
            text = DASH
        else:
            self.record(row, metric.name, ours.value, reference, notes, se=ours.se, half_width_95=ours.half_width, **where)
            text = ours.text()
        text += self.mark(notes)
        return text if reference is None else f"{text} / {reference_text}"

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""] + ([self.caption, ""] if self.caption else [])
        lines += ["| " + " | ".join(self.header) + " |", "|" + " --- |" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += [""] + [f"[{i}] {note}  " for i, note in enumerate(self.footnotes, 1)]
        return "\n".join(lines).rstrip() + "\n"

    def csv(self) -> str:
        """The tidy table: a header of its columns (TIDY unless given), one row per cell, numbers as numbers, empty where there is none."""
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if record.get(key) is None else record[key] for key in self.columns} for record in self.records)
        return out.getvalue()

    def notes(self) -> list[dict[str, Any]]:
        """The footnotes as rows of notes.csv (NOTES)."""
        return [{"table": self.name, "note_id": i, "note": note} for i, note in enumerate(self.footnotes, 1)]

    def latex(self) -> str:
        lines = [
            f"% {self.title}",
            *([rf"\par\footnotesize {tex(self.caption)}"] if self.caption else []),
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


def notes_csv(tables: Sequence[Table]) -> str:
    """notes.csv: every table's footnotes, by the ids its CSV's note_ids column gives."""
    out = io.StringIO()
    writer = csv.DictWriter(out, NOTES, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        writer.writerows(table.notes())
    return out.getvalue()


# LaTeX for every character of our cells and notes that text mode does not print as itself.
TEX = {
    "\\": r"\textbackslash{}", "%": r"\%", "_": r"\_", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
    "^": r"\^{}", "~": r"\~{}", "|": r"\textbar{}", "<": r"$<$", ">": r"$>$", DASH: "--", "±": r"$\pm$",
    "σ": r"$\sigma$", "Δ": r"$\Delta$", "θ": r"$\theta$", "μ": r"$\mu$", "·": r"$\cdot$", "−": "-", "≤": r"$\leq$", "≥": r"$\geq$", "√": r"$\surd$", "²": r"$^2$", "α": r"$\alpha$",
}


def tex(text: str) -> str:
    return "".join(TEX.get(char, char) for char in text)


TRAIN_LOSS, TEST_LOSS = summary_field(run_summary.TRAIN_LOSS), summary_field(run_summary.TEST_LOSS)
DECODER_TEST_LOSS = summary_field(run_summary.TEST_DECODER_DENOISING_LOSS)  # E||x - mu_y(z ~ q(z|y))||^2 (evaluate.py)
DECODER_ROW = f"{display_name(SIGMA_TABLE_PAIR[0])} decoder test"
DECODER_NOTE = ("not in the paper: the same UVB runs' test_decoder_denoising_loss, E||x - mu_y(z ~ q(z|y))||^2 on the same "
                "fixed test noise: their decoder mean as the denoiser, beside their x_hat(y) (UVB test)")
TEST_DENOISING_LOSS = Metric(run_summary.TEST_DENOISING_LOSS, lambda s: s.get(run_summary.TEST_DENOISING_LOSS, s.get(run_summary.TEST_LOSS)))
LINEAR_RISK, BAYES_RISK = summary_field(run_summary.TEST_LINEAR_RISK), summary_field(run_summary.TEST_BAYES_RISK)
LINEAR_ROW, BAYES_ROW = "Linear (Wiener) test", "Bayes risk test"
LINEAR_NOTE = ("not in the paper: the best linear denoiser, the Wiener filter of the training set's mean and covariance, "
               "scored on the same noisy test images as the models (test_linear_risk; uvb_lab/linear_baseline.py)")
EMPIRICAL_PRIOR_LOSS = summary_field(run_summary.TEST_EMPIRICAL_PRIOR_LOSS)
EMPIRICAL_PRIOR_ROW = "Training-set prior test"
EMPIRICAL_PRIOR_NOTE = (
    "not in the paper: the training set's Bayes denoiser, the posterior mean whose prior is the training images themselves "
    "(x_hat(y) = sum_i w_i x_i, w = softmax(-||y - x_i||^2 / 2σ^2)), scored on the same noisy test images as the models "
    "(test_empirical_prior_loss; uvb_lab/empirical_prior.py): what memorising the training set gives, the nearest training "
    "image at small σ; a model below it generalises past its training images")
BAYES_NOTE = ("not in the paper: the exact posterior mean E[x|y] on the same noisy test images (test_bayes_risk), the lowest "
              "loss any denoiser can reach on data whose distribution is known")
# The paper compares models "at equal parameter count" (Table 1): a difference of two cells further apart is flagged.
PARAMETER_MISMATCH = 0.10


def parameter_note(first: Cell, second: Cell) -> str | None:
    """What a difference compares: both cells' parameter counts, flagged where they differ by more than 10%."""
    counts = [sorted({run.summary.get(run_summary.NUM_PARAMS) for run in cell.runs} - {None}) for cell in (first, second)]
    if not all(counts):
        return None
    (a, *_), (b, *_) = counts
    models = [cell.runs[0].summary.get(run_summary.MODEL) for cell in (first, second)]
    text = f"{display_name(models[0])} {a:,} against {display_name(models[1])} {b:,} parameters ({a / b - 1:+.1%})"
    if abs(a - b) / max(a, b) > PARAMETER_MISMATCH:
        return f"not at equal parameter count: {text}, more than {PARAMETER_MISMATCH:.0%} apart"
    return f"at equal parameter count (within {PARAMETER_MISMATCH:.0%}): {text}"


ABOVE_LINEAR_NOTE = ("above the linear (Wiener) denoiser on the same noisy test images: this model is mis-tuned or unable to "
                     "learn the data (docs/comparing_runs.md, \"The linear row\")")


def baseline_values(cells: Sequence[Cell], metric: Metric) -> list[float]:
    """A number that is the data's, not a model's (test_linear_risk, test_empirical_prior_loss, test_bayes_risk): the distinct
    values the cells' counted runs record, one where they share their noisy test images, several where they do not."""
    return sorted({value for cell in cells for run in cell.runs if (value := metric.of(run.summary)) is not None})


def baseline_stat(cells: Sequence[Cell], metric: Metric) -> Stat | None:
    """baseline_values' mean, sample std and count; None where no run records one."""
    values = baseline_values(cells, metric)
    return Stat.of(values) if values else None


INTERVAL_CAPTION = (
    "Ours: one run, or the mean of runs that differ only by trainer.seed ± the half-width of its 95% t-interval "
    "(Student's t, n - 1 degrees of freedom), with their number n; the CSV also holds the sample std. Tuning runs "
    "(trainer.evaluate_test=false) are never among the seeds."
)
PAIR_NAME = " - ".join(map(display_name, SIGMA_TABLE_PAIR))  # UVB - DEEN
SIGMA_CAPTION = (
    f"{INTERVAL_CAPTION} {PAIR_NAME}: the difference of the means ± the half-width of Welch's 95% interval (unpaired, "
    "where both n ≥ 2); the test rows' differences are compared seed by seed, paired where the runs allow, in the table "
    "of comparisons below."
)


def sigma_table(index: RunIndex, dataset: str, reduced: str | None = None) -> Table:
    """Table 2 (MNIST) / 3 (CIFAR-10) layout: rows UVB, DEEN and UVB - DEEN per split, a column per sigma.

    reduced: a smaller experiment of REDUCED_SIGMA_TABLE_EXPERIMENTS: its runs, at the sigmas they ran, beside the
    paper's values, with the settings that differ from the paper's in the first footnote.
    """
    reference = paper.SIGMA_TABLES.get(dataset, {})
    number_ = paper.SIGMA_TABLE_NUMBER.get(dataset)
    experiment = reduced or SIGMA_TABLE_EXPERIMENTS.get(dataset)
    name = DATASET_NAMES.get(dataset, dataset)
    if reduced:
        sigmas = [sigma for sigma in index.sigmas(dataset, SIGMA_TABLE_PAIR) if has_counted_runs(index, dataset, sigma, reduced)]
        title = f"Table {number_}, {name}, at +experiment={reduced}: denoising loss at the end of training [1]"
        file_stem = f"table{number_}_{reduced}"
    else:
        sigmas = sorted(set(index.sigmas(dataset, SIGMA_TABLE_PAIR)) | (set(paper.SIGMAS) if reference else set()))
        title = f"Table {number_}, {name}: denoising loss at the end of training" if number_ else (
            f"{name} (not in the paper): denoising loss at the end of training, Table 2 layout")
        file_stem = f"table{number_}_{dataset}" if number_ else f"sigma_table_{dataset}"
    table = Table(file_stem, title, ["σ", *map(str, sigmas)], caption=SIGMA_CAPTION)
    if reduced:
        table.footnotes.append(other_settings_note(reduced, SIGMA_TABLE_EXPERIMENTS[dataset], sigmas[-1]))

    def paper_value(model: str, split: str, sigma: float) -> float | None:
        return paper.sigma_table_value(dataset, model, split, sigma)

    def cell(model: str, sigma: float) -> Cell:
        return index.cell(model, dataset, sigma, experiment)

    a, b = SIGMA_TABLE_PAIR
    linear = {sigma: baseline_stat([cell(a, sigma), cell(b, sigma)], LINEAR_RISK) for sigma in sigmas}
    for split, metric in (("train", TRAIN_LOSS), ("test", TEST_LOSS)):
        for model in SIGMA_TABLE_PAIR:
            label = f"{display_name(model)} {split}"
            table.rows.append([label] + [
                table.cell(label, cell(model, sigma), metric, paper_value(model, split, sigma),
                           linear[sigma] if split == "test" else None, model=model, split=split, dataset=dataset, sigma=sigma)
                for sigma in sigmas
            ])
        label = f"{PAIR_NAME} {split}"
        table.rows.append([label] + [
            table.difference(label, cell(a, sigma), cell(b, sigma), metric,
                             (paper_value(a, split, sigma), paper_value(b, split, sigma)), on_test_images=split == "test",
                             model=f"{a} - {b}", split=split, dataset=dataset, sigma=sigma)
            for sigma in sigmas
        ])
    for sigma in sigmas:
        first, second = cell(a, sigma), cell(b, sigma)
        if first.values(TEST_LOSS.of) and second.values(TEST_LOSS.of):
            note = parameter_note(first, second)
            table.compared.append(pairing.compared(
                " − ".join(map(display_name, SIGMA_TABLE_PAIR)), f"{title.split(':', 1)[0]}, σ = {sigma}", first.by_seed(), second.by_seed(), TEST_LOSS.of,
                [note] if note else [], {"dataset": dataset, "sigma": sigma}))
    # The floor every model should be under, what memorising the training set gives, and where the data's distribution
    # is known, the ceiling none can pass. Runs made before uvb-lab recorded them have no value; a row is left out where
    # no run has one.
    for label, metric, note in ((LINEAR_ROW, LINEAR_RISK, LINEAR_NOTE), (EMPIRICAL_PRIOR_ROW, EMPIRICAL_PRIOR_LOSS, EMPIRICAL_PRIOR_NOTE),
                                (BAYES_ROW, BAYES_RISK, BAYES_NOTE)):
        values = {sigma: baseline_values([cell(a, sigma), cell(b, sigma)], metric) for sigma in sigmas}
        if any(values.values()):
            table.rows.append([label + table.mark([note])] + [
                table.stat_cell(label, metric.name, values[sigma], split="test", dataset=dataset, sigma=sigma)
                for sigma in sigmas
            ])
    # The same trained UVB denoising by its decoder mean instead of x_hat(y) (Eq. 5): how much the energy's gradient
    # adds. Runs made before uvb-lab measured it have no value; the row is left out where none has.
    if any(cell(a, sigma).stat(DECODER_TEST_LOSS.of) is not None for sigma in sigmas):
        table.rows.append([DECODER_ROW + table.mark([DECODER_NOTE])] + [
            table.cell(DECODER_ROW, cell(a, sigma), DECODER_TEST_LOSS, None, linear[sigma], model=a, split="test",
                       dataset=dataset, sigma=sigma)
            for sigma in sigmas
        ])
    return table


def other_settings_note(reduced: str, paper_experiment: str, sigma: float) -> str:
    """The footnote of a reduced table: what its runs do differently from the paper's, per model."""
    per_model = "; ".join(f"{display_name(model)}: {', '.join(settings_differences(reduced, paper_experiment, model, sigma))}"
                          for model in SIGMA_TABLE_PAIR)
    return (f"other settings than the paper's, so the paper's values are beside for scale, not as a target: {per_model}. "
            f"The same command with more epochs (trainer.epochs=N) continues these runs.")


def has_counted_runs(index: RunIndex, dataset: str, sigma: float, experiment: str | None) -> bool:
    return any(index.cell(model, dataset, sigma, experiment).runs for model in SIGMA_TABLE_PAIR)


def experiment_has_runs(index: RunIndex, dataset: str, experiment: str | None) -> bool:
    return any(has_counted_runs(index, dataset, sigma, experiment) for sigma in index.sigmas(dataset, SIGMA_TABLE_PAIR))


def sigma_tables(index: RunIndex, dataset: str) -> list[Table]:
    """The paper's table of this dataset, and each reduced experiment's where it has finished runs; the paper's
    is left out where a reduced one is shown and no run has the paper's settings (its cells would all be empty)."""
    reduced = [sigma_table(index, dataset, experiment) for experiment in reduced_with_runs(index, dataset)]
    paper_has_runs = experiment_has_runs(index, dataset, SIGMA_TABLE_EXPERIMENTS.get(dataset))
    return ([sigma_table(index, dataset)] if paper_has_runs or not reduced else []) + reduced


def reduced_with_runs(index: RunIndex, dataset: str) -> list[str]:
    return [experiment for experiment in REDUCED_SIGMA_TABLE_EXPERIMENTS.get(dataset, ())
            if experiment_has_runs(index, dataset, experiment)]


def plotted_experiment(index: RunIndex, dataset: str) -> str | None:
    """Whose cells loss_vs_sigma draws for this dataset: the paper's experiment where a run has its settings, else
    the first reduced experiment with runs; None for a dataset the paper has no table of (its newest runs' settings)."""
    paper_experiment = SIGMA_TABLE_EXPERIMENTS.get(dataset)
    if experiment_has_runs(index, dataset, paper_experiment):
        return paper_experiment
    return next(iter(reduced_with_runs(index, dataset)), paper_experiment)


def tables_4_5(index: RunIndex) -> list[Table]:
    """Tables 4 and 5 (MNIST, sigma = 1, test set): UVB vs VAE, each table read the way docs/reproduction.md derives.

    Table 4's KL is the paper's KL[q(z|y), p(z)]: the ELBO of Eq. 14 is the noisy y's, so the KL on y is compared with
    it, and the KL of q(z|x) on clean images stands beside. Table 5's numbers cannot be the reconstruction term on y,
    which is far larger; they match E ||x - mu_y(z)||^2 on clean x, compared with it, the term on y beside.
    """

    def squared_error_on_x(s):  # 2 sigma^2 * ||x - mu_y||^2 / (2 sigma^2) = ||x - mu_y||^2
        return None if s.get(run_summary.TEST_RECON_ON_X) is None else 2 * s[run_summary.SIGMA] ** 2 * s[run_summary.TEST_RECON_ON_X]

    specs = (
        ("table4", "Table 4, MNIST, σ = 1, test set: mean KL(q(z|·) || p(z))", paper.TABLE4_KL,
         ("ours on y / paper (Δ) [1]", summary_field(run_summary.TEST_KL_ON_Y)), ("ours on x [1]", summary_field(run_summary.TEST_KL_ON_X)),
         "ours: test_kl_on_y, the KL of q(z|y) on the noisy test images, the paper's KL[q(z|y), p(z)] (Eq. 14 is the ELBO of "
         "y), compared with the paper's value; 'on x' is test_kl_on_x, the KL of q(z|x) on clean test images."),
        ("table5", "Table 5, MNIST, σ = 1, test set: mean E_q ||· - mu_y(z)||^2", paper.TABLE5_RECONSTRUCTION,
         ("ours / paper (Δ) [1]", Metric("test_squared_error_on_x", squared_error_on_x)), ("ours on y [1]", summary_field(run_summary.TEST_RECON_ON_Y)),
         "ours: 2 σ^2 test_recon_on_x = E_{z~q(z|x)} ||x - mu_y(z)||^2 on clean test images, the reading of "
         "Table 5 that docs/reproduction.md derives (on y the term cannot come near the paper's numbers); "
         "'on y' is test_recon_on_y = E_{z~q(z|y)} ||y - mu_y(z)||^2 / (2 σ^2), Eq. 14 on the noisy images."),
    )
    tables = []
    for name, title, reference, (compared_header, compared), (beside_header, beside), explanation in specs:
        table = Table(name, title, ["model", compared_header, beside_header], caption=INTERVAL_CAPTION)
        table.footnotes.append(explanation)
        for model in ELBO_TABLE_PAIR:
            cell = index.cell(model, "mnist", 1.0, TABLES_4_5_EXPERIMENT)
            where = {"model": model, "split": "test", "dataset": "mnist", "sigma": 1.0}
            label = display_name(model)
            table.rows.append([label, table.cell(label, cell, compared, reference[model], **where), table.cell(label, cell, beside, None, **where)])
        tables.append(table)
    return tables


def remark4(index: RunIndex) -> Table:
    """Remark 4: the Laplace-decoder UVB's training loss at sigma = 1 on MNIST."""
    table = Table("remark4", "Remark 4, MNIST, σ = 1: UVB with a Laplace decoder, training loss", ["model", "train loss"], caption=INTERVAL_CAPTION)
    cell = index.cell(LAPLACE_UVB, "mnist", 1.0, TABLES_4_5_EXPERIMENT)
    label = display_name(LAPLACE_UVB)
    where = {"model": LAPLACE_UVB, "split": "train", "dataset": "mnist", "sigma": 1.0}
    table.rows.append([label, table.cell(label, cell, TRAIN_LOSS, paper.REMARK4_TRAIN_LOSS, **where)])
    return table


def has_runs(index: RunIndex, models: Sequence[str], dataset: str, sigma: float) -> bool:
    return any(index.candidates(model, dataset, sigma) for model in models)


def paper_tables(index: RunIndex) -> tuple[list[Table], list[str]]:
    """The tables that some run touches, and the names of those no run touches (left out of the report)."""
    tables, absent = [], []
    others = sorted(set(index.datasets(SIGMA_TABLE_PAIR)) - set(paper.SIGMA_TABLES))
    for dataset in [*paper.SIGMA_TABLES, *others]:  # Table 2, Table 3, then datasets the paper has not
        if index.sigmas(dataset, SIGMA_TABLE_PAIR):
            tables += sigma_tables(index, dataset)
        else:
            absent.append(f"Table {paper.SIGMA_TABLE_NUMBER[dataset]} ({DATASET_NAMES[dataset]})")
    # A UVB run at sigma = 1 is in every Table 2 sweep: it brings Tables 4 and 5 only where it has their settings.
    uvb, vae = ELBO_TABLE_PAIR
    if has_runs(index, (vae,), "mnist", 1.0) or index.cell(uvb, "mnist", 1.0, TABLES_4_5_EXPERIMENT).runs:
        tables += tables_4_5(index)
    else:
        absent.append(f"Tables 4 and 5 ({uvb}, {vae} on MNIST at σ = 1)")
    if has_runs(index, (LAPLACE_UVB,), "mnist", 1.0):
        tables.append(remark4(index))
    else:
        absent.append(f"Remark 4 ({LAPLACE_UVB} on MNIST at σ = 1)")
    return tables, absent

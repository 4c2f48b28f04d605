"""How far each model is from the best possible denoiser, on data whose Bayes risk is exact (data=gmm): the risk
ratio table and its plot (beyond the paper, which could only rank models against each other).

A run on such data records test_bayes_risk, the exact posterior mean's ||x - E[x|y]||^2 on its own fixed-noise
test pairs (uvb_lab/evaluate.py). The risk ratio is test_denoising_loss / test_bayes_risk, 1 being optimal; the
excess risk is their difference. For models with a decoder the decoder-mean denoiser mu_y(z ~ q(z|y)) gets a row
of its own, beside x_hat(y) (for the sigma-VAE that is its own denoiser). A second table says how much each
cell's risk ratio still changed over its runs' last epoch: whether the curves had flattened.
"""

import operator
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from uvb_lab.models.names import DECODER_DENOISERS, REPORT_ORDER, display_name, model_color
from uvb_lab.report import pairing
from uvb_lab.report.convergence import last_epoch_change
from uvb_lab.report.runs import RunIndex
from uvb_lab.report.stats import Stat
from uvb_lab.report.tables import DASH, DATASET_NAMES, EMPIRICAL_PRIOR_NOTE, LINEAR_NOTE, Metric, Table, baseline_stat, baseline_values
from uvb_lab.run import summary as field


def _against_bayes(name: str, loss: str, combine: Callable[[float, float], float]) -> Metric:
    """A run's `loss` combined with its test_bayes_risk (a ratio or a difference); None where either is missing."""
    def of(summary):
        bayes = summary.get(field.TEST_BAYES_RISK)
        return None if bayes is None or summary.get(loss) is None else combine(summary[loss], bayes)
    return Metric(name, of)


RISK_RATIO = _against_bayes("risk_ratio", field.TEST_DENOISING_LOSS, operator.truediv)
LINEAR_RISK_RATIO = _against_bayes("linear_risk_ratio", field.TEST_LINEAR_RISK, operator.truediv)
EMPIRICAL_PRIOR_RISK_RATIO = _against_bayes("empirical_prior_risk_ratio", field.TEST_EMPIRICAL_PRIOR_LOSS, operator.truediv)
DECODER_RISK_RATIO = _against_bayes("decoder_risk_ratio", field.TEST_DECODER_DENOISING_LOSS, operator.truediv)
EXCESS_RISK = _against_bayes("excess_risk", field.TEST_DENOISING_LOSS, operator.sub)
DECODER_EXCESS_RISK = _against_bayes("decoder_excess_risk", field.TEST_DECODER_DENOISING_LOSS, operator.sub)
CAPTION = (
    "Each cell: the test denoising loss over the exact Bayes risk on the same noisy test pairs (1 is the best any "
    "denoiser can do), mean ± the half-width of its 95% t-interval over seeds (n; the CSV also holds the sample std). Rows 'x̂(y)' use the model's own denoiser (x̂(y) = y - σ² ∇f(y); "
    "the σ-VAE's is μ_y(z ~ q(z|y))); rows 'decoder' use μ_y(z ~ q(z|y)) for every model with a decoder. The CSV also "
    "holds the excess risk (loss - Bayes risk) of every cell. Row 'Linear (Wiener)': the best linear denoiser of the "
    "training set on the same noisy test pairs, the floor every model should be under. Row 'Training-set prior': the "
    "Bayes denoiser whose prior is the training images themselves, on the same pairs: how far N samples of the "
    "distribution fall short of knowing it."
)
LAST_EPOCH_CAPTION = (
    "Each cell: the relative change of the test risk ratio (so of the test denoising loss: the Bayes risk of a run's "
    "test pairs is fixed) between its runs' last two epoch ends, mean over seeds (min to max). Near 0: the curves "
    "had flattened at the learning rate they trained with; clearly negative: longer training still pays."
)


def datasets_with_bayes_risk(index: RunIndex) -> list[str]:
    return sorted({run.key[1] for run in index.runs if run.summary.get(field.TEST_BAYES_RISK) is not None})


def models_of(index: RunIndex, dataset: str) -> list[str]:
    found = {model for model, d, _ in index.by_key if d == dataset}
    return [m for m in REPORT_ORDER if m in found] + sorted(found - set(REPORT_ORDER))


def bayes_gap_table(index: RunIndex, dataset: str) -> Table:
    """Rows: each model's denoiser (and its decoder's, where it has one); columns: sigma; cells: the risk ratio."""
    models = models_of(index, dataset)
    sigmas = index.sigmas(dataset, models)
    title = f"Distance to the Bayes risk, {DATASET_NAMES.get(dataset, dataset)} (not in the paper): test risk ratio"
    table = Table(f"bayes_gap_{dataset}", title, ["σ", *map(str, sigmas)], caption=CAPTION)
    every_cell = {sigma: [index.cell(model, dataset, sigma, None) for model in models] for sigma in sigmas}
    linear = {sigma: baseline_stat(every_cell[sigma], LINEAR_RISK_RATIO) for sigma in sigmas}
    empirical_prior = {sigma: baseline_stat(every_cell[sigma], EMPIRICAL_PRIOR_RISK_RATIO) for sigma in sigmas}
    for model in models:
        name = display_name(model)
        cells = {sigma: index.cell(model, dataset, sigma, None) for sigma in sigmas}
        rows = [(own_denoiser_label(model), RISK_RATIO, EXCESS_RISK)]
        has_decoder = any(run.summary.get(field.TEST_DECODER_DENOISING_LOSS) is not None for cell in cells.values() for run in cell.runs)
        if has_decoder and model not in DECODER_DENOISERS:  # the sigma-VAE's own row is its decoder's already
            rows.append((f"{name} decoder", DECODER_RISK_RATIO, DECODER_EXCESS_RISK))
        for label, ratio, excess in rows:
            where = {"model": model, "split": "test", "dataset": dataset}
            table.rows.append([label] + [table.cell(label, cells[sigma], ratio, None, linear[sigma], sigma=sigma, **where) for sigma in sigmas])
            for sigma in sigmas:
                if (stat := cells[sigma].stat(excess.of)) is not None:
                    table.record(label, excess.name, stat.mean, None, std=stat.std, n=stat.n, sigma=sigma, **where)
    for label, ratio, note, stats in (("Linear (Wiener)", LINEAR_RISK_RATIO, LINEAR_NOTE, linear),
                                      ("Training-set prior", EMPIRICAL_PRIOR_RISK_RATIO, EMPIRICAL_PRIOR_NOTE, empirical_prior)):
        if any(stat is not None for stat in stats.values()):
            table.rows.append([label + table.mark([note])] + [
                table.stat_cell(label, ratio.name, baseline_values(every_cell[sigma], ratio), split="test", dataset=dataset, sigma=sigma)
                for sigma in sigmas
            ])
    # Each ratio is on its run's own pairs; comparing rows compares runs, paired only where they share their noisy images.
    runs = [run for cells in every_cell.values() for cell in cells for run in cell.runs]
    for sigma in sigmas:
        if (refused := pairing.refusal((run for cell in every_cell[sigma] for run in cell.runs), "so compare its rows with care")):
            table.footnotes.append(f"σ = {sigma}: {refused}")
    if (old := pairing.unpaired_note(runs)) is not None:
        table.footnotes.append(old)
    return table


def own_denoiser_label(model: str) -> str:
    name = display_name(model)
    return f"{name} μ_y(z)" if model in DECODER_DENOISERS else f"{name} x̂(y)"


def last_epoch_table(index: RunIndex, dataset: str) -> Table | None:
    """Rows: each model's own denoiser; cells: its risk ratio's change over the last epoch; None where no run has two epoch ends."""
    models = models_of(index, dataset)
    sigmas = index.sigmas(dataset, models)
    title = f"Had the curves flattened? {DATASET_NAMES.get(dataset, dataset)}: change of the test risk ratio over the last epoch"
    table = Table(f"bayes_gap_{dataset}_last_epoch", title, ["σ", *map(str, sigmas)], caption=LAST_EPOCH_CAPTION)
    for model in models:
        label, texts = own_denoiser_label(model), []
        for sigma in sigmas:
            runs = index.cell(model, dataset, sigma, None).runs
            changes = [c for run in runs if (c := last_epoch_change(run.folder, "test_denoising_loss")) is not None]
            where = {"model": model, "split": "test", "dataset": dataset, "sigma": sigma}
            if not changes:
                table.record(label, "risk_ratio_last_epoch_change", None, None, **where)
                texts.append(DASH)
                continue
            stat = Stat.of(changes)
            table.record(label, "risk_ratio_last_epoch_change", stat.mean, None, std=stat.std, n=stat.n, **where)
            spread = f" ({100 * min(changes):+.1f} to {100 * max(changes):+.1f})" if len(changes) > 1 else ""
            texts.append(f"{100 * stat.mean:+.1f}%{spread}")
        table.rows.append([label, *texts])
    return table if any(record["value"] is not None for record in table.records) else None


def bayes_gap_tables(index: RunIndex) -> list[Table]:
    tables = []
    for dataset in datasets_with_bayes_risk(index):
        tables.append(bayes_gap_table(index, dataset))
        if (last_epoch := last_epoch_table(index, dataset)) is not None:
            tables.append(last_epoch)
    return tables


def risk_ratio_vs_sigma(index: RunIndex, path: Path) -> Path | None:
    """The risk ratio against sigma, a line per model (dashed: its decoder), a panel per dataset; None where no run has one."""
    datasets = datasets_with_bayes_risk(index)
    if not datasets:
        return None
    figure = Figure(figsize=(2.5 + 4.5 * len(datasets), 4.2), layout="constrained")
    for axes, dataset in zip(figure.subplots(1, len(datasets), squeeze=False)[0], datasets):
        for model in models_of(index, dataset):
            for metric, style, suffix in ((RISK_RATIO, "-", ""), (DECODER_RISK_RATIO, "--", " decoder")):
                if model in DECODER_DENOISERS and metric is DECODER_RISK_RATIO:
                    continue
                points = [(sigma, stat) for sigma in index.sigmas(dataset, (model,))
                          if (stat := index.cell(model, dataset, sigma, None).stat(metric.of)) is not None]
                if not points:
                    continue
                sigmas, stats = [p[0] for p in points], [p[1] for p in points]
                axes.errorbar(sigmas, [s.mean for s in stats], yerr=[s.std or 0.0 for s in stats], fmt=style, marker="o",
                              markersize=4, capsize=3, color=model_color(model), label=display_name(model) + suffix)
        axes.axhline(1.0, color="black", linewidth=0.8, alpha=0.6)
        axes.set_yscale("log")
        axes.set_title(DATASET_NAMES.get(dataset, dataset))
        axes.set_xlabel("σ (pixel units)")
        axes.set_ylabel("test loss / Bayes risk (1: optimal)")
        axes.grid(True, which="both", alpha=0.3)
    figure.legend(*axes.get_legend_handles_labels(), loc="outside right center", fontsize="small", frameon=False,
                  title="error bars: sample std\nover seeds", title_fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path

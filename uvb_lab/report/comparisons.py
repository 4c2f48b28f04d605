"""Comparisons of two models' test numbers over seeds, one row each: the table of differences in report.md (UVB − DEEN
of every sigma table), protocol.md (the models of each tune-then-test group) and compute_matched.md.

Each row shows the difference with Welch's 95% interval beside the paired one, and is called paired only where both
fingerprints match seed by seed (uvb_lab/report/pairing.py); the p-value of the test it is read by with Holm's
adjustment over the table's rows, the seeds that would detect it with 80% power, and with --bootstrap a BCa interval
(uvb_lab/report/stats.py). Every ± of the table is the half-width of a 95% interval, and the caption says so.
"""

import math
from collections.abc import Sequence
from typing import Any

from uvb_lab.report.pairing import Compared
from uvb_lab.report.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, MOST_SEEDS, Comparison, first_digit, holm, p_text, seeds_text
from uvb_lab.report.tables import DASH, Table

# The CSV of a comparisons table: where, what, and every number of the row in a column of its own.
TIDY = ("table", "row", "at", "metric", "difference", "welch_half_width_95", "welch_se", "welch_p_value", "n_a", "n_b",
        "pairing", "paired", "paired_difference", "paired_half_width_95", "paired_n", "test", "p_value", "holm_p_value",
        "seeds_for_80_power", "bootstrap_low_95", "bootstrap_high_95", "dataset", "sigma", "note_ids")
HEADER = ["A − B", "at", "Welch: difference of the means ± 95%", "paired: mean per-seed difference ± 95%", "seeds", "p",
          "Holm p", "seeds for 80% power"]
BOOTSTRAP_HEADER = "bootstrap 95% (BCa)"


def caption(metric: str, bootstrap: bool) -> str:
    text = (
        f"A − B of the {metric} over the seeds each side ran. Every ± is the half-width of a 95% interval: 'Welch' is the "
        "difference of the means of all the runs of each side with Welch's t-interval (unequal variances, unpaired); "
        "'paired' is the mean of the per-seed differences with their t-interval, shown only where the two runs of every "
        "seed were scored on the same noisy test images (test_noise_fingerprint) and trained on the same batches and "
        "training noise (train_stream_fingerprint): 'seeds' says which. The same test noise alone is the same for every "
        "seed and pairs nothing. p: two-sided, of the paired t-test where paired, else of Welch's test; Holm: adjusted by "
        "Holm's method over the p-values of this table. Seeds for 80% power: the fewest seeds per model (2 to "
        f"{MOST_SEEDS}) at which a two-sided paired t-test at α = 0.05 detects the difference seen with 80% power, given "
        "the sd of the per-seed differences (√(s_A² + s_B²) where the seeds do not pair); both are estimates from these "
        "seeds, so the count is a guide.")
    if bootstrap:
        text += (f" Bootstrap: the BCa interval of the same difference (scipy.stats.bootstrap, {BOOTSTRAP_RESAMPLES} "
                 f"resamples drawn from seed {BOOTSTRAP_SEED}); with few seeds it is narrower than the t-interval: it "
                 "knows only the values seen.")
    return text


def comparisons_table(name: str, title: str, rows: Sequence[Compared], metric: str = "test loss", bootstrap: bool = False) -> Table:
    """The table of these comparisons, Holm's adjustment over the p-values of its rows."""
    table = Table(name, title, HEADER + ([BOOTSTRAP_HEADER] if bootstrap else []), caption=caption(metric, bootstrap), columns=TIDY)
    results = [None if row.pairing.refused else Comparison.of(row.a, row.b, row.pairing.paired, bootstrap) for row in rows]
    tested = [i for i, result in enumerate(results) if result is not None and result.p_value is not None]
    adjusted = dict(zip(tested, holm([results[i].p_value for i in tested])))
    for i, (row, result) in enumerate(zip(rows, results)):
        notes = [*row.notes, *([row.pairing.refused] if row.pairing.refused else [])]
        record: dict[str, Any] = {"table": name, "row": row.label, "at": row.at, "metric": metric.replace(" ", "_"), "pairing": row.pairing.words,
                                  "paired": row.pairing.paired, "n_a": len(row.a), "n_b": len(row.b),
                                  "note_ids": ";".join(map(str, table.note_ids(notes))), **row.where}
        if result is None:
            cells = [DASH, DASH, row.pairing.words, DASH, DASH, DASH] + ([DASH] if bootstrap else [])
        else:
            welch, paired = result.welch, result.paired
            record.update(difference=welch.value, welch_half_width_95=welch.half_width, welch_se=welch.se, welch_p_value=welch.p_value,
                          test=result.test, p_value=result.p_value, holm_p_value=adjusted.get(i),
                          seeds_for_80_power=None if result.seeds_for_power is None else
                          (f"> {MOST_SEEDS}" if math.isinf(result.seeds_for_power) else int(result.seeds_for_power)))
            if paired is not None:
                record.update(paired_difference=paired.mean, paired_half_width_95=paired.half_width, paired_n=paired.n)
            if result.bootstrap is not None:
                record.update(bootstrap_low_95=result.bootstrap[0], bootstrap_high_95=result.bootstrap[1])
            cells = [
                welch.text(),
                DASH if paired is None else paired.text(labelled=False, places=welch.places),
                row.pairing.words,
                DASH if result.p_value is None else f"{p_text(result.p_value)} ({result.test})",
                DASH if i not in adjusted else p_text(adjusted[i]),
                seeds_text(result.seeds_for_power),
            ] + ([_range(result.bootstrap, welch.places)] if bootstrap else [])
        table.rows.append([row.label + table.mark(notes), row.at, *cells])
        table.records.append(record)
    return table


def _range(interval: tuple[float, float] | None, places: int) -> str:
    if interval is None:
        return DASH
    low, high = interval
    places = max(places, first_digit(high - low))
    return f"{low:.{places}f} to {high:.{places}f}"

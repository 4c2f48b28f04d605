"""Numbers over seeds, by scipy.stats: a cell's mean with its 95% t-interval (and sample std), the difference of two
cells with Welch's interval and, where the seeds pair, the paired t-interval; the p-value of each comparison with Holm's
adjustment over a table's comparisons, the seeds that would detect a difference with 80% power, and a bootstrap
interval where asked.

Runs that differ only by trainer.seed measure one setting n times. Three seeds are few: a normal interval (±1.96 s/√n)
would be 35% too narrow at n = 3, so every interval is Student's t with its degrees of freedom (n - 1 for a mean or a
paired difference, Welch-Satterthwaite's for two independent means). The quantiles, tests and resampling are
scipy.stats' (t, nct, ttest_ind, ttest_rel, bootstrap); Holm's step-down is four lines below.
"""

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # the two-sided level of every test, and of the power count
POWER = 0.8
MOST_SEEDS = 50  # the power count looks no further: "> 50" beyond
BOOTSTRAP_SEED = 0  # the bootstrap's resamples are drawn from this seed: a report is the same every time it is made
BOOTSTRAP_RESAMPLES = 9999


def number(value: float) -> str:
    """Three significant digits, as the paper prints them (2.60, 14.7, 692)."""
    return f"{value:#.3g}".rstrip(".")


def decimals(text: str) -> int:
    """Digits after the point of a number as printed ('14.7' -> 1, '692' -> 0)."""
    return len(text.split(".", 1)[1]) if "." in text and "e" not in text else 0


def first_digit(spread: float) -> int:
    """Decimals that show a spread's first significant digit (0.036 -> 2, 1.2 -> 0); 0 for no spread."""
    return max(0, -math.floor(math.log10(spread))) if spread > 0 else 0


def plus_minus(value: float, spread: float, places: int) -> str:
    """'5.12 ± 0.03': both to `places` decimals, or further where the spread would otherwise read 0
    (seeds that agree to 0.002 show 65.457 ± 0.002, not 65.5 ± 0.0)."""
    places = max(places, first_digit(spread))
    return f"{value:.{places}f} ± {spread:.{places}f}"


def p_text(p: float) -> str:
    """A p-value as a table prints it, to two significant digits: 0.012, 0.28, 1; < 0.001."""
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


@dataclass(frozen=True)
class Stat:
    """A value over n runs: mean, sample std (ddof 1: the spread of one run; None for n = 1)."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        if not values:
            raise ValueError("no values")
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    def text(self) -> str:
        """'5.12 ± 0.03 (n=3)', ± the sample std; one run shows its value alone."""
        if self.std is None:
            return number(self.mean)
        return f"{plus_minus(self.mean, self.std, decimals(number(self.mean)))} (n={self.n})"


def t_half_width(std: float, n: int) -> float:
    """The half-width of the 95% t-interval of a mean of n values with sample std `std`: t(0.975, n - 1) s / √n."""
    return float(scipy_stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * std / math.sqrt(n)


@dataclass(frozen=True)
class Interval:
    """A mean over n runs with its 95% t-interval: mean ± half_width (None for n = 1: no interval)."""

    mean: float
    half_width: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Interval":
        stat = Stat.of(values)
        if stat.std is None:
            return cls(stat.mean, None, 1)
        return cls(stat.mean, t_half_width(stat.std, stat.n), stat.n)

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def excludes_zero(self) -> bool:
        return self.half_width is not None and abs(self.mean) > self.half_width

    def text(self, labelled: bool = True, places: int | None = None) -> str:
        """'5.12 ± 0.07 (95% CI, n=3)'; labelled False: '5.12 ± 0.07 (n=3)', for a table whose caption or header says
        what ± is. places: the decimals (default: those of the mean printed to three significant digits). One run
        shows its value alone."""
        if self.half_width is None:
            return number(self.mean) if places is None else f"{self.mean:.{places}f}"
        places = decimals(number(self.mean)) if places is None else places
        return f"{plus_minus(self.mean, self.half_width, places)} ({'95% CI, ' if labelled else ''}n={self.n})"


@dataclass(frozen=True)
class Welch:
    """mean(a) - mean(b) of two independent sets of runs, with Welch's 95% t-interval (unequal variances, the
    Welch-Satterthwaite degrees of freedom), its standard error sqrt(s_a^2/n_a + s_b^2/n_b) and Welch's two-sided p-value,
    where both sets have n >= 2 (None otherwise).

    places: the decimals it is printed with, those of the coarser of the two means as printed (15.8 - 21.1 is known to
    0.1, 5.94 - 6.47 to 0.01).
    """

    value: float
    half_width: float | None
    se: float | None
    p_value: float | None
    places: int
    sizes: tuple[int, int]

    @classmethod
    def of(cls, a: Sequence[float], b: Sequence[float]) -> "Welch":
        if not a or not b:
            raise ValueError("no values")
        mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
        places = min(decimals(number(mean_a)), decimals(number(mean_b)))
        if len(a) < 2 or len(b) < 2:
            return cls(mean_a - mean_b, None, None, None, places, (len(a), len(b)))
        se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
        if se == 0:  # both sets without spread: the interval is the point, and no test has a distribution to use
            return cls(mean_a - mean_b, 0.0, 0.0, None, places, (len(a), len(b)))
        result = scipy_stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(CONFIDENCE)
        half_width = float(interval.high - interval.low) / 2
        return cls(mean_a - mean_b, half_width, se, float(result.pvalue), places, (len(a), len(b)))

    def excludes_zero(self) -> bool:
        return self.half_width is not None and abs(self.value) > self.half_width

    def text(self) -> str:
        """'-0.30 ± 0.82': the difference ± the half-width of Welch's 95% interval; the difference alone without one."""
        return f"{self.value:.{self.places}f}" if self.half_width is None else plus_minus(self.value, self.half_width, self.places)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Interval:
    """a - b over the seeds both ran, as the mean of the per-seed differences with its 95% t-interval.

    The interval is that of the differences, not of two independent means: it is narrower where the runs of one seed
    correlate, which they do only where they share their randomness (the same training batches and noise: the same
    train_stream_fingerprint, uvb_lab/report/pairing.py). Call it paired there alone.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed ran in both")
    return Interval.of([a[seed] - b[seed] for seed in seeds])


def paired_p_value(a: dict[int, float], b: dict[int, float]) -> float | None:
    """The two-sided p-value of the paired t-test of a - b over the seeds both ran; None for fewer than 2 or no spread."""
    seeds = sorted(set(a) & set(b))
    differences = [a[seed] - b[seed] for seed in seeds]
    if len(seeds) < 2 or statistics.stdev(differences) == 0:
        return None
    return float(scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (Holm 1979), in the order given: the i-th smallest of m p-values times m - i + 1,
    never below the one before it in that order, at most 1. Rejecting where the adjusted value is <= alpha keeps the
    chance of any false rejection among the m at most alpha, whatever their dependence."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def seeds_for_power(difference: float, sd: float | None, power: float = POWER, alpha: float = ALPHA, most: int = MOST_SEEDS) -> float | None:
    """The fewest seeds n (2 to `most`) at which a two-sided paired t-test at level alpha detects a true mean difference
    `difference` whose per-seed differences have standard deviation `sd` with at least `power`: the power at n is
    P(|T| > t(1 - alpha/2, n - 1)) for T noncentral t with n - 1 degrees of freedom and noncentrality
    |difference| / sd * sqrt(n). math.inf beyond `most` (or no difference at all); None where sd is not known."""
    if sd is None or not math.isfinite(sd) or not math.isfinite(difference):
        return None
    if difference == 0:
        return math.inf
    if sd == 0:
        return 2
    n = np.arange(2, most + 1)
    critical = scipy_stats.t.ppf(1 - alpha / 2, n - 1)
    shift = abs(difference) / sd * np.sqrt(n)
    # P(T < -c) with noncentrality +shift is P(T > c) with -shift: scipy's nct.cdf gives nan far in that tail, sf does not.
    reached = scipy_stats.nct.sf(critical, n - 1, shift) + scipy_stats.nct.sf(critical, n - 1, -shift) >= power
    return int(n[reached.argmax()]) if reached.any() else math.inf


def seeds_text(seeds: float | None) -> str:
    return "—" if seeds is None else f"> {MOST_SEEDS}" if math.isinf(seeds) else str(int(seeds))


def bootstrap_interval(a: Sequence[float], b: Sequence[float] | None = None) -> tuple[float, float] | None:
    """The 95% BCa bootstrap interval (scipy.stats.bootstrap, BOOTSTRAP_RESAMPLES resamples from BOOTSTRAP_SEED) of the
    mean of a, or with b of mean(a) - mean(b), each set resampled on its own; None for fewer than 2 values in a set or
    where it has no spread to resample. With few seeds it is narrower than the t-interval: it knows only the values seen."""
    samples = (a,) if b is None else (a, b)
    if any(len(sample) < 2 for sample in samples):
        return None

    def statistic(*resampled, axis):
        means = [np.mean(sample, axis=axis) for sample in resampled]
        return means[0] if len(means) == 1 else means[0] - means[1]

    with warnings.catch_warnings():  # data without spread: scipy warns and gives nan, which is None here
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap(tuple(np.asarray(sample, dtype=float) for sample in samples), statistic, vectorized=True,
                                       n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE, method="BCa",
                                       random_state=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


@dataclass(frozen=True)
class Comparison:
    """A - B over seeds (seed -> value), read the way its runs allow: Welch's interval of the difference of the means
    always (every run of each side); where the seeds pair (uvb_lab/report/pairing.py), the paired t-interval of the
    per-seed differences over the seeds both ran. p_value is the test the comparison is read by (`test`: the paired
    t-test where paired, else Welch's); seeds_for_power, the seeds per model that test would need to detect the
    difference seen with 80% power, from the sd of the per-seed differences (sqrt(s_a^2 + s_b^2) where the seeds do not
    pair: independent runs); bootstrap, the BCa interval of the same difference, where asked."""

    welch: Welch
    paired: Interval | None
    p_value: float | None
    test: str
    seeds_for_power: float | None
    bootstrap: tuple[float, float] | None

    @classmethod
    def of(cls, a: dict[int, float], b: dict[int, float], paired: bool, bootstrap: bool = False) -> "Comparison":
        a, b = dict(sorted(a.items())), dict(sorted(b.items()))  # in seed order: the bootstrap's resamples depend on it
        welch = Welch.of(list(a.values()), list(b.values()))
        if paired:
            seeds = sorted(set(a) & set(b))
            differences = [a[seed] - b[seed] for seed in seeds]
            interval = paired_difference(a, b)
            sd = statistics.stdev(differences) if len(differences) > 1 else None
            return cls(welch, interval, paired_p_value(a, b), "paired t", seeds_for_power(interval.mean, sd),
                       bootstrap_interval(differences) if bootstrap else None)
        sd = math.sqrt(statistics.variance(a.values()) + statistics.variance(b.values())) if min(len(a), len(b)) > 1 else None
        return cls(welch, None, welch.p_value, "Welch", seeds_for_power(welch.value, sd),
                   bootstrap_interval(list(a.values()), list(b.values())) if bootstrap else None)


def difference_text(a: float, b: float) -> str:
    """a - b of two printed numbers (the paper's), to the decimals of the coarser one."""
    return f"{a - b:.{min(decimals(number(a)), decimals(number(b)))}f}"

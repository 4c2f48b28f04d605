"""Numbers over seeds: a cell's mean, sample standard deviation and count, and the difference of two cells.

Runs that differ only by trainer.seed measure one setting n times; the report shows their mean ± the sample
standard deviation (ddof 1, the spread of one run), and the difference of two settings ± its standard error.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Stat:
    """A value over n runs: mean, sample std (None for n = 1)."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        if not values:
            raise ValueError("no values")
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    def text(self) -> str:
        """'5.12 ± 0.03 (n=3)'; one run shows its value alone."""
        if self.std is None:
            return number(self.mean)
        return f"{plus_minus(self.mean, self.std, decimals(number(self.mean)))} (n={self.n})"


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b), with the standard error sqrt(s_a^2/n_a + s_b^2/n_b) where both have n >= 2.

    places: the decimals it is printed with, those of the coarser of the two means as printed (15.8 - 21.1
    is known to 0.1, 5.94 - 6.47 to 0.01).
    """

    value: float
    se: float | None
    places: int

    @classmethod
    def of(cls, a: Stat, b: Stat) -> "Difference":
        se = None
        if a.std is not None and b.std is not None:
            se = math.sqrt(a.std**2 / a.n + b.std**2 / b.n)
        return cls(a.mean - b.mean, se, min(decimals(number(a.mean)), decimals(number(b.mean))))

    def text(self) -> str:
        return f"{self.value:.{self.places}f}" if self.se is None else plus_minus(self.value, self.se, self.places)


def difference_text(a: float, b: float) -> str:
    """a - b of two printed numbers (the paper's), to the decimals of the coarser one."""
    return f"{a - b:.{min(decimals(number(a)), decimals(number(b)))}f}"


# -- 95% intervals. Three seeds are few: a normal interval (±1.96 s/√n) would be 35% too narrow at n = 3,
# so the half-width uses Student's t with n - 1 degrees of freedom (4.30 at n = 3).

CONFIDENCE = 0.95


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b), by its continued fraction (Numerical Recipes, Sec. 6.4)."""
    if x <= 0.0 or x >= 1.0:
        return max(0.0, min(1.0, x))
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point; use the symmetry there
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * fraction


def t_quantile(probability: float, df: int) -> float:
    """The Student-t quantile: P(T <= t) = probability for df degrees of freedom (t_quantile(0.975, 2) = 4.303)."""
    if df < 1 or not 0.5 <= probability < 1:
        raise ValueError(f"t_quantile needs df >= 1 and 0.5 <= probability < 1, got {df}, {probability}")

    def upper_tail(t: float) -> float:  # P(T > t) for t >= 0
        return 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))

    low, high = 0.0, 1.0
    while upper_tail(high) > 1 - probability:
        high *= 2
    for _ in range(200):  # bisection to double precision
        middle = (low + high) / 2
        low, high = (middle, high) if upper_tail(middle) > 1 - probability else (low, middle)
    return (low + high) / 2


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
        return cls(stat.mean, t_quantile((1 + CONFIDENCE) / 2, stat.n - 1) * stat.std / math.sqrt(stat.n), stat.n)

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def excludes_zero(self) -> bool:
        return self.half_width is not None and abs(self.mean) > self.half_width

    def text(self) -> str:
        """'5.12 ± 0.07 (95% CI, n=3)'; one run shows its value alone."""
        if self.half_width is None:
            return number(self.mean)
        return f"{plus_minus(self.mean, self.half_width, decimals(number(self.mean)))} (95% CI, n={self.n})"


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Interval:
    """a - b over the seeds both ran, as the mean of the per-seed differences with its 95% t-interval.

    Pairing by seed on identical test noise removes what the two runs share (the noisy test images, the split):
    the interval is that of the differences, not of two independent means, and is narrower where runs correlate.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed ran in both")
    return Interval.of([a[seed] - b[seed] for seed in seeds])

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

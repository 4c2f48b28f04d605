"""The statistics of a comparison, against numbers computed by hand and from published tables."""

import math
import statistics

import pytest

from uvb_lab.report.stats import Interval, paired_difference, t_quantile


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)])
def test_the_t_quantile_matches_the_published_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_a_three_seed_interval_is_the_t_interval_computed_by_hand():
    values = [10.0, 11.0, 13.0]  # mean 34/3, sample std sqrt(7/3)
    interval = Interval.of(values)
    half = 4.302652729911275 * math.sqrt(7 / 3) / math.sqrt(3)
    assert interval.mean == pytest.approx(34 / 3) and interval.half_width == pytest.approx(half, rel=1e-9)
    assert interval.n == 3 and interval.low == pytest.approx(34 / 3 - half)
    assert interval.text() == "11.3 ± 3.8 (95% CI, n=3)"  # three significant digits, as the paper prints
    one = Interval.of([5.0])
    assert one.half_width is None and one.text() == "5.00" and not one.excludes_zero()


def test_the_paired_difference_uses_the_seeds_both_ran_and_is_narrower_than_unpaired():
    # Seed effects shared by both models (the noise they were scored on, the split) cancel in the pairs.
    uvb = {0: 10.0, 1: 12.0, 2: 14.0, 3: 99.0}
    deen = {0: 11.0, 1: 13.2, 2: 14.9}
    paired = paired_difference(uvb, deen)
    differences = [-1.0, -1.2, -0.9]
    assert paired.n == 3 and paired.mean == pytest.approx(statistics.fmean(differences))
    assert paired.half_width == pytest.approx(4.302652729911275 * statistics.stdev(differences) / math.sqrt(3), rel=1e-9)
    assert paired.excludes_zero()
    unpaired_se = math.sqrt(statistics.variance([10.0, 12.0, 14.0]) / 3 + statistics.variance([11.0, 13.2, 14.9]) / 3)
    assert paired.half_width < unpaired_se
    with pytest.raises(ValueError, match="no seed ran in both"):
        paired_difference({0: 1.0}, {1: 2.0})

"""The statistics of a comparison, against numbers computed by hand, published tables and examples, and a simulation."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from uvb_lab.report.pairing import PAIRED, SAME_TEST_NOISE, seeds_pair
from uvb_lab.report.stats import (
    Comparison,
    Interval,
    Welch,
    bootstrap_interval,
    holm,
    paired_difference,
    seeds_for_power,
    seeds_text,
    t_half_width,
)


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)])
def test_the_interval_uses_the_t_quantile_of_the_published_table(df, expected):
    n = df + 1  # a mean of n values with sample std 1: half-width t(0.975, n - 1) / sqrt(n)
    assert t_half_width(1.0, n) * math.sqrt(n) == pytest.approx(expected, abs=1e-4)


def test_a_three_seed_interval_is_the_t_interval_computed_by_hand():
    values = [10.0, 11.0, 13.0]  # mean 34/3, sample std sqrt(7/3)
    interval = Interval.of(values)
    half = 4.302652729911275 * math.sqrt(7 / 3) / math.sqrt(3)
    assert interval.mean == pytest.approx(34 / 3) and interval.half_width == pytest.approx(half, rel=1e-9)
    assert interval.n == 3 and interval.low == pytest.approx(34 / 3 - half)
    assert interval.text() == "11.3 ± 3.8 (95% CI, n=3)"  # three significant digits, as the paper prints
    assert interval.text(labelled=False) == "11.3 ± 3.8 (n=3)"  # where the table's caption says what ± is
    one = Interval.of([5.0])
    assert one.half_width is None and one.text() == "5.00" and not one.excludes_zero()


def test_the_paired_difference_uses_the_seeds_both_ran_and_is_narrower_than_unpaired():
    # Randomness both runs of a seed share (the same training batches and noise) cancels in the pairs.
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


def test_welchs_interval_and_p_value_are_the_welch_satterthwaite_formulas_by_hand():
    a, b = [6.0, 6.2, 6.7], [6.5, 6.6, 6.7]
    va, vb = statistics.variance(a) / 3, statistics.variance(b) / 3  # 0.13/3, 0.01/3
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # 2.306: far fewer than the 4 of a pooled test
    welch = Welch.of(a, b)
    assert welch.value == pytest.approx(-0.3) and welch.se == pytest.approx(se)
    assert welch.half_width == pytest.approx(scipy_stats.t.ppf(0.975, df) * se, rel=1e-9)
    assert welch.p_value == pytest.approx(2 * scipy_stats.t.sf(0.3 / se, df), rel=1e-9)
    assert welch.text() == "-0.30 ± 0.82" and not welch.excludes_zero()
    assert Welch.of([6.0], b).half_width is None and Welch.of([6.0], b).text() == "-0.60"  # one run: no interval


def test_holm_adjusts_the_known_examples():
    # Wikipedia, "Holm-Bonferroni method", example: H4 (0.005) and H1 (0.01) are rejected at 0.05, H2 and H3 are not.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p <= 0.05 for p in adjusted] == [True, False, False, True]
    # R's p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm"): 0.05 0.08 0.09 0.09 0.09 (monotone in the order of p).
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([0.2]) == [0.2] and holm([]) == []  # capped at 1; one test is itself


def test_the_seeds_for_80_percent_power_match_published_values_and_a_simulation():
    # Cohen's effect sizes for a two-sided paired t-test at alpha 0.05 (G*Power): d = 0.5 needs 34 pairs, d = 1 needs 10.
    assert seeds_for_power(0.5, 1.0) == 34 and seeds_for_power(-2.0, 2.0) == 10
    assert seeds_for_power(0.05, 1.0) == math.inf and seeds_text(math.inf) == "> 50"
    assert seeds_for_power(1.0, None) is None and seeds_text(None) == "—" and seeds_for_power(1.0, 0.0) == 2
    # Brute force, a fixed seed: at the count the test rejects in at least 80% of simulated experiments, one fewer not.
    n = seeds_for_power(0.8, 1.0)
    assert n == 15
    draws = np.random.default_rng(0).normal(0.8, 1.0, size=(20_000, n))
    rejected = [np.mean(scipy_stats.ttest_1samp(draws[:, :k], 0.0, axis=1).pvalue < 0.05) for k in (n - 1, n)]
    assert rejected[0] < 0.8 <= rejected[1], rejected


def test_the_bootstrap_interval_is_scipys_bca_at_a_fixed_seed_and_the_same_every_time():
    a, b = [6.0, 6.2, 6.7, 6.1], [6.5, 6.6, 6.7, 6.9]
    interval = bootstrap_interval(a, b)
    assert interval == bootstrap_interval(a, b)  # reproducible: the same report twice
    direct = scipy_stats.bootstrap((a, b), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis), method="BCa",
                                   n_resamples=9999, random_state=np.random.default_rng(0)).confidence_interval
    assert interval == pytest.approx((direct.low, direct.high))
    assert interval[0] < statistics.fmean(a) - statistics.fmean(b) < interval[1]
    assert bootstrap_interval([1.0]) is None and bootstrap_interval([2.0, 2.0]) is None  # nothing to resample


def summary(test_noise, stream):
    return {"test_noise_fingerprint": test_noise, "train_stream_fingerprint": stream}


def test_seeds_pair_only_where_both_fingerprints_are_equal_seed_by_seed():
    a = {1: summary("noise", "seed1"), 2: summary("noise", "seed2")}
    assert seeds_pair(a, {1: summary("noise", "seed1"), 2: summary("noise", "seed2")}).paired
    assert seeds_pair(a, {1: summary("noise", "seed1"), 2: summary("noise", "seed2")}).words == f"{PAIRED} (1, 2)"
    # The same test noise, another training stream at seed 2 (another batch size): not paired.
    other = seeds_pair(a, {1: summary("noise", "seed1"), 2: summary("noise", "seed2-batch64")})
    assert not other.paired and other.words.startswith(f"{SAME_TEST_NOISE}: other training streams at seed 2")
    # Runs made before the training stream: never paired by training randomness.
    old = seeds_pair(a, {1: summary("noise", None), 2: summary("noise", None)})
    assert not old.paired and "no train_stream_fingerprint" in old.words and old.refused is None
    assert not seeds_pair(a, {3: summary("noise", "seed3")}).paired  # no seed in both
    refused = seeds_pair(a, {1: summary("other noise", "seed1")})
    assert not refused.paired and refused.refused and "different noisy test images" in refused.refused


def test_a_comparison_reads_its_p_value_from_the_paired_test_only_where_the_seeds_pair():
    a, b = {0: 10.0, 1: 12.0, 2: 14.0}, {0: 11.0, 1: 13.2, 2: 14.9}
    paired, unpaired = Comparison.of(a, b, paired=True), Comparison.of(a, b, paired=False)
    assert paired.test == "paired t" and paired.p_value == pytest.approx(scipy_stats.ttest_rel([10, 12, 14], [11, 13.2, 14.9]).pvalue)
    assert unpaired.test == "Welch" and unpaired.paired is None and unpaired.p_value == unpaired.welch.p_value
    assert paired.welch == unpaired.welch  # Welch's interval is shown either way
    # Power from the sd of the per-seed differences where paired, of one seed's difference of independent runs where not.
    sd_pairs = statistics.stdev([-1.0, -1.2, -0.9])
    # d = 6.8: 2 seeds fall short (t(0.975, 1) = 12.7), 3 reach it (where scipy's nct.cdf of the far tail is nan).
    assert paired.seeds_for_power == seeds_for_power(statistics.fmean([-1.0, -1.2, -0.9]), sd_pairs) == 3
    assert unpaired.seeds_for_power == seeds_for_power(-1.0333333333333332, math.sqrt(4.0 + statistics.variance([11.0, 13.2, 14.9])))

import numpy as np
import pytest
from scipy import stats as sps

from classical.common import stats


def test_iqm_matches_hand_computed_cases():
    # sorted: 1 2 3 4 7 8 9 10 -> middle half 3 4 7 8
    assert stats.iqm([10, 1, 9, 2, 8, 3, 7, 4]) == pytest.approx(5.5)
    # runs x tasks are pooled: the same eight numbers in a 4x2 matrix
    assert stats.iqm(np.array([[10, 1], [9, 2], [8, 3], [7, 4]])) == pytest.approx(5.5)
    # 25% of 10 = 2.5 -> two cut from each end: mean of 3..8
    assert stats.iqm(np.arange(1, 11)) == pytest.approx(5.5)
    assert stats.iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # one outlier does not move it
    assert stats.mean([0, 0, 0, 100]) == pytest.approx(25.0)


def test_bootstrap_ci_covers_the_iqm_of_a_known_distribution_at_the_nominal_rate():
    # IQM of Exp(1): E[X | q25 < X < q75] = 2 * [(a+1)e^-a - (b+1)e^-b], a = ln(4/3), b = ln 4
    a, b = np.log(4 / 3), np.log(4)
    true_iqm = 2 * ((a + 1) * 0.75 - (b + 1) * 0.25)
    rng = np.random.default_rng(123)
    draws, hits = 300, 0
    for d in range(draws):
        est = stats.interval_estimate(rng.exponential(1.0, 10), stats.iqm, reps=1000, seed=d)
        hits += est.low <= true_iqm <= est.high
    assert 0.91 <= hits / draws <= 0.99


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    x = np.random.default_rng(7).gamma(2.0, 30.0, size=12)
    ours = stats.interval_estimate(x, stats.iqm, reps=20_000, seed=0)
    ref = sps.bootstrap((x,), lambda s, axis: sps.trim_mean(s, 0.25, axis=axis), method="percentile",
                        n_resamples=20_000, random_state=1, vectorized=True).confidence_interval
    width = ref.high - ref.low
    assert ours.low == pytest.approx(ref.low, abs=0.03 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.03 * width)
    assert ours.point == pytest.approx(stats.iqm(x))


def test_stratified_bootstrap_resamples_runs_within_each_task():
    # task 0 always scores 0, task 1 always 10: every replicate keeps one of each per run -> mean is exactly 5
    scores = np.column_stack([np.zeros(6), np.full(6, 10.0)])
    reps = stats.bootstrap_replicates(scores, stats.mean, reps=500, seed=0)
    assert np.all(reps == 5.0)


def test_constant_scores_give_a_zero_width_interval_and_one_run_gives_its_value():
    assert stats.interval_estimate([3, 3, 3, 3], stats.iqm, reps=200) == stats.Estimate(3.0, 3.0, 3.0)
    assert stats.interval_estimate([7.0], stats.iqm) == stats.Estimate(7.0, 7.0, 7.0)
    with pytest.raises(ValueError, match="n_runs"):
        stats.interval_estimate([], stats.iqm)


def test_probability_of_improvement_counts_ties_half_and_matches_mann_whitney():
    assert stats.probability_of_improvement([1, 2, 3], [2, 2, 2]) == pytest.approx(0.5)
    assert stats.probability_of_improvement([3, 4], [1, 2]) == pytest.approx(1.0)
    x, y = np.random.default_rng(0).normal(size=15), np.random.default_rng(1).normal(0.5, size=11)
    u = sps.mannwhitneyu(x, y, alternative="greater").statistic
    assert stats.probability_of_improvement(x, y) == pytest.approx(u / (15 * 11))
    est = stats.probability_of_improvement_ci(x, y, reps=500)
    assert est.low <= est.point <= est.high


def test_performance_profile_is_the_fraction_of_runs_above_each_threshold():
    assert stats.performance_profile([1, 2, 3, 4], [0, 2.5, 4]).tolist() == [1.0, 0.5, 0.0]
    prof, low, high = stats.performance_profile_with_ci([1, 2, 3, 4], [0, 2.5, 4], reps=300)
    assert prof.tolist() == [1.0, 0.5, 0.0]
    assert np.all(low <= prof) and np.all(prof <= high)


def test_welch_t_test_matches_scipy():
    x, y = [10, 12, 11, 13, 9], [20, 25, 15, 30, 22, 18]
    res = stats.welch_t_test(x, y)
    ref = sps.ttest_ind(x, y, equal_var=False)
    assert res.difference == pytest.approx(np.mean(x) - np.mean(y))
    assert res.t == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    with pytest.raises(ValueError, match="two runs"):
        stats.welch_t_test([1.0], [2.0, 3.0])


def test_sample_efficiency_curve_reads_trailing_windows_and_aggregates_across_runs():
    steps, rets = [10, 25, 45, 70], [1.0, 2.0, 3.0, 4.0]
    assert np.isnan(stats.value_at_steps(steps, rets, [5])[0])
    assert stats.value_at_steps(steps, rets, [45, 100], window=2).tolist() == [2.5, 3.5]
    values = np.array([[np.nan, 1.0, 2.0], [np.nan, 3.0, 4.0], [0.0, 5.0, 6.0]])
    point, low, high = stats.curve_with_ci(values, stats.mean, reps=300)
    assert point.tolist() == [0.0, 3.0, 4.0]
    assert np.all(low <= point) and np.all(point <= high)


def test_summarize_rows():
    rows = stats.summarize({"a": [1, 2, 3, 4, 100], "b": [5, 5, 5, 5, 5]}, reps=500)
    assert [r["method"] for r in rows] == ["a", "b"]
    assert rows[0]["iqm"] == pytest.approx(3.0) and rows[0]["mean"] == pytest.approx(22.0)
    assert rows[1]["ci_low"] == rows[1]["ci_high"] == 5.0

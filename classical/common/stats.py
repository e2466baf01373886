"""Statistics for comparing RL agents across seeds: the methods of Agarwal et al. (2021, "rliable").

Scores are arrays of shape ``[n_runs]`` (one task) or ``[n_runs, n_tasks]``.
Aggregates (IQM, mean) get 95% confidence intervals from a *stratified
bootstrap*: every replicate resamples runs with replacement within each task,
independently per task, and the interval is read from the percentiles of the
replicate aggregates (rliable's default ``method="percentile"``).

rliable itself is not a dependency: it imports ``arch``, whose current releases
fail to import beside pandas 3. This module follows rliable's definitions
(IQM = 25% trimmed mean over all runs and tasks; probability of improvement =
Mann-Whitney U / (n_x · n_y), averaged over tasks; performance profile = fraction
of runs above τ) and the tests check the bootstrap against ``scipy.stats.bootstrap``.

**Example**

>>> import numpy as np
>>> iqm(np.array([1, 2, 3, 4, 5, 6, 7, 8]))
4.5
>>> est = interval_estimate(np.arange(20.0), iqm, reps=2000, seed=0)
>>> est.low < est.point < est.high
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import stats as sps

Aggregate = Callable[[np.ndarray], float]


def _as_runs_by_tasks(scores) -> np.ndarray:
    a = np.asarray(scores, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"scores must have shape [n_runs] or [n_runs, n_tasks] with n_runs > 0; got {a.shape}.")
    return a


def iqm(scores) -> float:
    """Interquartile mean: the mean of the middle 50% of all run×task scores (25% trimmed mean).

    Matches ``scipy.stats.trim_mean(scores, 0.25, axis=None)``, which is rliable's definition.
    """
    return float(sps.trim_mean(np.asarray(scores, dtype=float), proportiontocut=0.25, axis=None))


def mean(scores) -> float:
    """Mean over all runs and tasks."""
    return float(np.mean(np.asarray(scores, dtype=float)))


def median(scores) -> float:
    """Median over all runs and tasks."""
    return float(np.median(np.asarray(scores, dtype=float)))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.1f} [{self.low:.1f}, {self.high:.1f}]"


def stratified_bootstrap_indices(n_runs: int, n_tasks: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Run indices ``[reps, n_runs, n_tasks]``: runs resampled with replacement, separately per task."""
    return rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))


def _batched(aggregate: Aggregate) -> Callable[[np.ndarray], np.ndarray] | None:
    """The row-wise form of the standard aggregates, so replicates are computed without a Python loop."""
    return {iqm: lambda flat: sps.trim_mean(flat, 0.25, axis=1),
            mean: lambda flat: flat.mean(axis=1),
            median: lambda flat: np.median(flat, axis=1)}.get(aggregate)


def bootstrap_replicates(scores, aggregate: Aggregate, reps: int = 10_000, seed: int | None = 0) -> np.ndarray:
    """The aggregate of ``reps`` stratified-bootstrap resamples of ``scores``; shape [reps]."""
    a = _as_runs_by_tasks(scores)
    rng = np.random.default_rng(seed)
    n_runs, n_tasks = a.shape
    batched = _batched(aggregate)
    out = np.empty(reps)
    chunk = max(1, 500_000 // a.size)
    cols = np.arange(n_tasks)[None, None, :]
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        resampled = a[stratified_bootstrap_indices(n_runs, n_tasks, n, rng), cols]  # [n, runs, tasks]
        if batched is not None:
            out[start:start + n] = batched(resampled.reshape(n, -1))
        else:
            out[start:start + n] = [aggregate(r) for r in resampled]
    return out


def interval_estimate(scores, aggregate: Aggregate = iqm, reps: int = 10_000, confidence: float = 0.95,
                      seed: int | None = 0) -> Estimate:
    """Point estimate and percentile stratified-bootstrap CI of ``aggregate(scores)``.

    Args:
        scores: ``[n_runs]`` or ``[n_runs, n_tasks]`` final scores.
        aggregate: e.g. :func:`iqm`, :func:`mean`, :func:`median`.
        reps: bootstrap replicates (rliable uses 50,000; 10,000 keeps the Monte Carlo error
            of a 95% bound well under 1% of its width).
        confidence: coverage of the interval.
        seed: seed of the resampling, so reports are reproducible.

    **Example**

    >>> interval_estimate([10, 12, 11, 50, 9, 10], mean, reps=1000).point
    17.0
    """
    a = _as_runs_by_tasks(scores)
    point = aggregate(a)
    if a.shape[0] == 1:
        return Estimate(point, point, point)
    reps_values = bootstrap_replicates(a, aggregate, reps, seed)
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(reps_values, [100 * alpha, 100 * (1 - alpha)])
    return Estimate(float(point), float(low), float(high))


def performance_profile(scores, taus: Sequence[float]) -> np.ndarray:
    """Score distribution: the fraction of runs (over all tasks) whose score exceeds each τ."""
    a = np.asarray(scores, dtype=float).reshape(-1)
    return np.array([np.mean(a > tau) for tau in taus])


def performance_profile_with_ci(scores, taus: Sequence[float], reps: int = 2000, confidence: float = 0.95,
                                seed: int | None = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile and its pointwise stratified-bootstrap CI: (profile, low, high)."""
    a = _as_runs_by_tasks(scores)
    taus = np.asarray(taus, dtype=float)
    rng = np.random.default_rng(seed)
    idx = stratified_bootstrap_indices(a.shape[0], a.shape[1], reps, rng)
    resampled = a[idx, np.arange(a.shape[1])[None, None, :]]  # [reps, runs, tasks]
    flat = resampled.reshape(reps, -1)
    curves = (flat[:, :, None] > taus[None, None, :]).mean(axis=1)  # [reps, taus]
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(curves, [100 * alpha, 100 * (1 - alpha)], axis=0)
    return performance_profile(a, taus), low, high


def probability_of_improvement(scores_x, scores_y) -> float:
    """P(X > Y): chance that a random run of X beats a random run of Y on the same task (ties count half).

    Per task it is the Mann-Whitney U statistic over ``n_x · n_y``; tasks are averaged.
    """
    x, y = _as_runs_by_tasks(scores_x), _as_runs_by_tasks(scores_y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"scores_x has {x.shape[1]} tasks but scores_y has {y.shape[1]}; they must match.")
    probs = []
    for t in range(x.shape[1]):
        diff = x[:, t][:, None] - y[:, t][None, :]
        probs.append(float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0)))
    return float(np.mean(probs))


def probability_of_improvement_ci(scores_x, scores_y, reps: int = 2000, confidence: float = 0.95,
                                  seed: int | None = 0) -> Estimate:
    """P(X > Y) with a CI from resampling the runs of X and of Y independently, per task."""
    x, y = _as_runs_by_tasks(scores_x), _as_runs_by_tasks(scores_y)
    rng = np.random.default_rng(seed)
    cols = np.arange(x.shape[1])[None, :]
    values = np.empty(reps)
    for r in range(reps):
        xi = rng.integers(0, x.shape[0], size=x.shape)
        yi = rng.integers(0, y.shape[0], size=y.shape)
        values[r] = probability_of_improvement(x[xi, cols], y[yi, cols])
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return Estimate(probability_of_improvement(x, y), float(low), float(high))


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t-test of mean(X) − mean(Y)."""

    difference: float
    t: float
    p_value: float


def welch_t_test(scores_x, scores_y) -> WelchResult:
    """Two-sided Welch t-test (a secondary check beside the bootstrap CIs; it assumes near-normal means)."""
    x = np.asarray(scores_x, dtype=float).reshape(-1)
    y = np.asarray(scores_y, dtype=float).reshape(-1)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("Welch's t-test needs at least two runs per group.")
    if np.std(x) == 0 and np.std(y) == 0:
        same = float(np.mean(x) == np.mean(y))
        return WelchResult(float(np.mean(x) - np.mean(y)), 0.0 if same else float("inf"), same)
    res = sps.ttest_ind(x, y, equal_var=False)
    return WelchResult(float(np.mean(x) - np.mean(y)), float(res.statistic), float(res.pvalue))


def success_rate(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """The fraction of ``n`` runs that succeeded, with its Wilson score interval.

    The Wilson interval keeps its coverage near the nominal level for small ``n`` and for
    rates near 0 or 1, where the normal ("Wald") interval collapses to a point; computed by
    :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`.

    >>> est = success_rate(19, 20)
    >>> round(est.point, 2), round(est.low, 4), round(est.high, 4)
    (0.95, 0.7639, 0.9911)
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"success_rate needs 0 <= successes <= n and n >= 1, got {successes} of {n}.")
    ci = sps.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high))


def value_at_steps(env_steps: Sequence[float], returns: Sequence[float], grid: Sequence[float],
                   window: int = 20) -> np.ndarray:
    """Sample-efficiency curve of one run: mean return of the last ``window`` episodes ended by each grid step.

    Args:
        env_steps: cumulative environment steps at the end of each episode (non-decreasing).
        returns: each episode's return.
        grid: environment-step counts at which to read the curve.
        window: episodes averaged (the trailing window).

    Returns:
        ``[len(grid)]`` values; NaN where no episode has ended yet.

    **Example**

    >>> value_at_steps([10, 20, 30], [1.0, 2.0, 3.0], [5, 20, 100], window=2).tolist()
    [nan, 1.5, 2.5]
    """
    steps = np.asarray(env_steps, dtype=float)
    rets = np.asarray(returns, dtype=float)
    out = np.full(len(grid), np.nan)
    for i, g in enumerate(grid):
        n = int(np.searchsorted(steps, g, side="right"))
        if n > 0:
            out[i] = rets[max(0, n - window):n].mean()
    return out


def curve_with_ci(values: np.ndarray, aggregate: Aggregate = iqm, reps: int = 2000, confidence: float = 0.95,
                  seed: int | None = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate across runs at every point of ``values[n_runs, n_points]``, with bootstrap CI bands.

    Points where some run has no value yet (NaN) use the runs that have one.
    """
    v = np.asarray(values, dtype=float)
    point, low, high = (np.full(v.shape[1], np.nan) for _ in range(3))
    for j in range(v.shape[1]):
        col = v[:, j][~np.isnan(v[:, j])]
        if len(col):
            est = interval_estimate(col, aggregate, reps, confidence, seed)
            point[j], low[j], high[j] = est.point, est.low, est.high
    return point, low, high


def summarize(score_dict: Mapping[str, Sequence[float]], reps: int = 10_000, seed: int | None = 0) -> list[dict]:
    """One row per method: runs, IQM and mean with 95% CIs, median.

    **Example**

    >>> rows = summarize({"a": [1, 2, 3, 4], "b": [2, 2, 2, 2]}, reps=500)
    >>> rows[1]["iqm"], rows[1]["ci_low"], rows[1]["ci_high"]
    (2.0, 2.0, 2.0)
    """
    rows = []
    for name, scores in score_dict.items():
        i = interval_estimate(scores, iqm, reps, seed=seed)
        m = interval_estimate(scores, mean, reps, seed=seed)
        rows.append({"method": name, "runs": len(np.asarray(scores).reshape(-1)),
                     "iqm": i.point, "ci_low": i.low, "ci_high": i.high,
                     "mean": m.point, "mean_ci_low": m.low, "mean_ci_high": m.high,
                     "median": median(scores)})
    return rows

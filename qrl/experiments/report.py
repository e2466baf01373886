"""The report of ``qrl compare``: statistics per arm, ``summary.csv``, ``comparisons.csv`` and figures.

Each seed's score is the mean return of its last ``score_window`` episodes that
ended within the step budget (see :mod:`qrl.experiments.runner`). Per arm: the
interquartile mean (IQM) and the mean with 95% stratified-bootstrap intervals;
every arm against the reference arm: probability of improvement with its
interval and Welch's t-test (Agarwal et al. 2021). Figures: ``iqm.png``,
``sample_efficiency.png``, ``performance_profile.png``.

**Example**

>>> summary, comparisons = report(load_results("runs/compare-cartpole"), "runs/compare-cartpole")   # doctest: +SKIP
>>> print(verdict(summary, comparisons))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from qrl.experiments.runner import RESULT_FILE

SUMMARY_COLUMNS = ("arm", "params", "env_steps", "seeds", "iqm", "ci_low", "ci_high", "mean", "mean_ci_low",
                   "mean_ci_high", "median", "wall_seconds")


def load_results(out: str | Path) -> dict[str, list[dict]]:
    """Every finished seed under ``out``, by arm (the arm order of ``summary.csv`` when it exists)."""
    out = Path(out)
    by_arm: dict[str, list[dict]] = {}
    for path in sorted(out.glob(f"*/seed*/{RESULT_FILE}")):
        res = json.loads(path.read_text())
        by_arm.setdefault(res["arm"], []).append(res)
    for rows in by_arm.values():
        rows.sort(key=lambda r: r["seed"])
    return by_arm


def report(results: dict[str, list[dict]], out: str | Path, reference: str | None = None,
           reps: int = 10_000, title: str = "") -> tuple[list[dict], list[dict]]:
    """Write ``summary.csv``, ``comparisons.csv`` and the figures; return (summary rows, comparison rows)."""
    from classical.common import plotting, stats

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores = {arm: np.array([r["score"] for r in rs if r["score"] is not None]) for arm, rs in results.items()}
    summary = []
    for arm, rs in results.items():
        s = scores[arm]
        i = stats.interval_estimate(s, stats.iqm, reps) if len(s) else stats.Estimate(*[float("nan")] * 3)
        m = stats.interval_estimate(s, stats.mean, reps) if len(s) else stats.Estimate(*[float("nan")] * 3)
        summary.append({"arm": arm, "params": rs[0]["params"], "env_steps": max(r["env_steps"] for r in rs),
                        "seeds": len(s), "iqm": i.point, "ci_low": i.low, "ci_high": i.high, "mean": m.point,
                        "mean_ci_low": m.low, "mean_ci_high": m.high,
                        "median": stats.median(s) if len(s) else float("nan"),
                        "wall_seconds": float(np.median([r["wall_seconds"] for r in rs]))})
    write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS)

    reference = reference or next(iter(results))
    comparisons = []
    for arm in results:
        if arm == reference or len(scores[arm]) < 2 or len(scores[reference]) < 2:
            continue
        poi = stats.probability_of_improvement_ci(scores[reference], scores[arm], reps=min(reps, 2000))
        welch = stats.welch_t_test(scores[reference], scores[arm])
        comparisons.append({"reference": reference, "arm": arm, "p_reference_better": poi.point,
                            "p_low": poi.low, "p_high": poi.high, "mean_difference": welch.difference,
                            "welch_t": welch.t, "welch_p": welch.p_value})
    if comparisons:
        write_csv(out / "comparisons.csv", comparisons, tuple(comparisons[0]))

    plotting.iqm_bars(summary, out / "iqm.png", title=title or "IQM return at equal environment steps")
    curves = {}
    for arm, rs in results.items():
        grid = np.asarray(rs[0]["curve_steps"], dtype=float)
        values = np.array([[np.nan if v is None else v for v in r["curve"]] for r in rs], dtype=float)
        curves[arm] = (grid, *stats.curve_with_ci(values, stats.iqm, reps=min(reps, 1000)))
    plotting.sample_efficiency_curves(curves, out / "sample_efficiency.png")
    finite = [s for s in scores.values() if len(s)]
    if finite:
        everything = np.concatenate(finite)
        taus = np.linspace(min(0.0, everything.min()), everything.max(), 60)
        profiles = {arm: (taus, *stats.performance_profile_with_ci(s, taus, reps=min(reps, 2000)))
                    for arm, s in scores.items() if len(s)}
        plotting.performance_profiles(profiles, out / "performance_profile.png")
    return summary, comparisons


def write_csv(path: Path, rows: list[dict], columns) -> None:
    """Rows as CSV with the given columns (others dropped), floats rounded to 4 decimals."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                             if k in columns})


def verdict(summary: list[dict], comparisons: list[dict]) -> str:
    """Plain sentences: each arm against the reference, with IQMs, CIs and P(reference better)."""
    by_arm = {r["arm"]: r for r in summary}
    lines = []
    for c in comparisons:
        ref, other = by_arm[c["reference"]], by_arm[c["arm"]]
        if ref["ci_low"] > other["ci_high"]:
            word = "BETTER than"
        elif ref["ci_high"] < other["ci_low"]:
            word = "WORSE than"
        else:
            word = "not distinguishable (overlapping 95% CIs) from"
        lines.append(f"{c['reference']} (IQM {ref['iqm']:.1f}, 95% CI [{ref['ci_low']:.1f}, {ref['ci_high']:.1f}]) "
                     f"is {word} {c['arm']} (IQM {other['iqm']:.1f} [{other['ci_low']:.1f}, "
                     f"{other['ci_high']:.1f}]); P({c['reference']} > {c['arm']}) = {c['p_reference_better']:.2f} "
                     f"[{c['p_low']:.2f}, {c['p_high']:.2f}], Welch p = {c['welch_p']:.3g}.")
        if word.startswith("not") and c["p_high"] < 0.5:
            lines[-1] += (f" But P({c['reference']} > {c['arm']}) is below 0.5 with 95% confidence: "
                          f"{c['arm']} tends to do better.")
        elif word.startswith("not") and c["p_low"] > 0.5:
            lines[-1] += (f" But P({c['reference']} > {c['arm']}) is above 0.5 with 95% confidence: "
                          f"{c['reference']} tends to do better.")
    return "\n".join(lines)


def markdown_table(rows: list[dict], columns: tuple[str, ...] | None = None, digits: int = 1) -> str:
    """Rows as a Markdown table (for notebooks and BENCHMARKS.md)."""
    columns = columns or tuple(rows[0]) if rows else ()
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


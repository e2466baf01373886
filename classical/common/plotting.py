"""Plot helpers shared by every agent and notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over at most ``window`` values (same length as the input)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def learning_curve(xs, ys, path: str | Path, xlabel: str = "episode", ylabel: str = "return",
                   window: int = 20, title: str = "") -> None:
    """Save a learning curve: raw values faint, moving average bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(xs, ys, alpha=0.3, lw=0.8, label=ylabel)
    if len(ys):
        ax.plot(xs, moving_average(ys, window), lw=2, label=f"{window}-point mean")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, ax, path, title: str, legend: bool = True):
    """Title, legend, layout; save and close when ``path`` is given; return the figure."""
    ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        _pyplot().close(fig)
    return fig


def _banded(series: dict, xlabel: str, ylabel: str):
    """One line with a shaded band per entry ``name -> (x, y, low, high)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (name, (x, y, low, high)) in enumerate(series.items()):
        ax.plot(x, y, color=f"C{i}", lw=2, label=name)
        ax.fill_between(x, low, high, color=f"C{i}", alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def iqm_bars(rows: Sequence[dict], path: str | Path | None = None, title: str = "", ylabel: str = "IQM return"):
    """Bar per method (``rows`` with keys arm/method, iqm, ci_low, ci_high) with its 95% CI; returns the figure."""
    plt = _pyplot()
    names = [r.get("arm", r.get("method")) for r in rows]
    point = np.array([r["iqm"] for r in rows], dtype=float)
    low = np.array([r["ci_low"] for r in rows], dtype=float)
    high = np.array([r["ci_high"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(1.4 * len(rows) + 2.5, 3.6))
    ax.bar(names, point, color=[f"C{i}" for i in range(len(rows))], alpha=0.8)
    ax.errorbar(names, point, yerr=[point - low, high - point], fmt="none", ecolor="k", capsize=5)
    for i, r in enumerate(rows):
        if "params" in r:
            ax.annotate(f"{r['params']} params", (i, 0), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)
    ax.set_ylabel(ylabel + " (95% CI)")
    return _finish(fig, ax, path, title, legend=False)


def sample_efficiency_curves(curves: dict, path: str | Path | None = None, xlabel: str = "environment steps",
                             ylabel: str = "IQM return", title: str = ""):
    """Curves ``name -> (steps, point, low, high)`` with CI bands; returns the figure."""
    fig, ax = _banded(curves, xlabel, ylabel + " (95% CI band)")
    return _finish(fig, ax, path, title)


def performance_profiles(profiles: dict, path: str | Path | None = None, xlabel: str = "return τ",
                         title: str = ""):
    """Fraction of runs with score > τ, ``name -> (taus, profile, low, high)``; returns the figure."""
    fig, ax = _banded(profiles, xlabel, "fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, path, title)

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

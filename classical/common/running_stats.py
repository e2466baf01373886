"""Running mean and variance of a stream of values (for reward or observation standardisation).

**Example**

>>> stats = RunningMeanStd()
>>> stats.update(np.array([1.0, 2.0, 3.0]))
>>> stats.update(np.array([4.0]))
>>> round(stats.mean, 3), round(stats.var, 3)
(2.5, 1.25)
>>> round(float(stats.standardize(np.array([2.5]))[0]), 3)
0.0
"""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Mean and (population) variance of every value seen so far, merged batch by batch.

    Batches are merged with the parallel form of Welford's algorithm, so the result
    does not depend on how the stream is split.

    Args:
        eps: added to the variance before the square root in :meth:`standardize`.
    """

    def __init__(self, eps: float = 1e-8):
        self.mean, self.var, self.count, self.eps = 0.0, 1.0, 0, eps

    def update(self, values) -> None:
        """Merge the values of one batch (any shape; all entries count)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        n = values.size
        if n == 0:
            return
        b_mean, b_var = float(values.mean()), float(values.var())
        if self.count == 0:
            self.mean, self.var, self.count = b_mean, b_var, n
            return
        total = self.count + n
        delta = b_mean - self.mean
        m2 = self.var * self.count + b_var * n + delta ** 2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var + self.eps))

    def standardize(self, values):
        """``(values - mean) / std`` (works on numpy arrays and torch tensors)."""
        return (values - self.mean) / self.std

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]

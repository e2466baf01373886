"""PCMCI: causal discovery of lagged links in multivariate time series (Runge et al. 2019).

Two stages, both with partial-correlation (Fisher-z) tests on time-lagged copies
of the variables:

1. **PC1 condition selection.** For each target ``X_j(t)`` start with every lagged
   candidate ``X_i(t − τ)``, ``1 ≤ τ ≤ τ_max``. At level ``p = 0, 1, …`` test each
   candidate given the ``p`` strongest other candidates (strength = the smallest
   absolute partial correlation seen so far) and drop those with p-value
   ``> pc_alpha``; re-sort and go on while more than ``p`` candidates remain. The
   survivors ``P̂(X_j)`` are a superset of the parents, kept small.
2. **MCI tests.** For every pair test ``X_i(t − τ) ⊥ X_j(t) | P̂(X_j) \\ {X_i(t − τ)},
   P̂(X_i(t − τ))``: conditioning on the source's own (shifted) parents as well
   controls false positives from autocorrelation. Links with p ≤ ``alpha`` are kept.

Only lagged links are searched (``τ ≥ 1``); contemporaneous links need PCMCI+.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from classical.causal.pc import fisher_z_pvalue, partial_correlation

Lagged = tuple[int, int]   # (variable, lag)


@dataclass
class PCMCIResult:
    """Output of :func:`pcmci`; arrays are indexed ``[source, target, lag]``.

    Attributes:
        val_matrix: MCI partial correlations (lag 0 unused, 0).
        p_matrix: MCI p-values (lag 0 unused, 1).
        graph: 0/1 links with p ≤ alpha: ``graph[i, j, tau] = 1`` is ``X_i(t−tau) → X_j(t)``.
        parents: PC1-selected conditions per target, strongest first.
    """

    val_matrix: np.ndarray
    p_matrix: np.ndarray
    graph: np.ndarray
    parents: dict[int, list[Lagged]]

    def summary_adjacency(self, self_links: bool = False) -> np.ndarray:
        """``d × d`` 0/1 matrix with ``A[i, j] = 1`` if ``i`` drives ``j`` at any lag."""
        a = self.graph.any(axis=2).astype(int)
        if not self_links:
            np.fill_diagonal(a, 0)
        return a


def pcmci(data: np.ndarray, tau_max: int = 2, pc_alpha: float = 0.2, alpha: float = 0.05,
          max_conds_px: int | None = None, fdr_method: str = "none") -> PCMCIResult:
    """Find lagged causal links in a time series with PCMCI (partial-correlation tests).

    Args:
        data: ``T × d`` series, one column per variable, rows in time order.
        tau_max: largest lag searched.
        pc_alpha: significance level of the PC1 condition-selection stage (liberal on purpose).
        alpha: significance level of the final MCI tests.
        max_conds_px: at most this many of the source's parents enter an MCI test
            (``None``: all).
        fdr_method: ``"none"`` or ``"bh"`` (Benjamini–Hochberg adjustment of the MCI
            p-values over all ``d² · tau_max`` lagged tests before thresholding).

    Returns:
        A :class:`PCMCIResult`.

    **Example**

    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros((1000, 2))
    >>> for t in range(1, 1000):
    ...     x[t] = [0.5 * x[t - 1, 0], 0.8 * x[t - 1, 0]] + rng.normal(size=2)
    >>> res = pcmci(x, tau_max=2)
    >>> res.summary_adjacency()                       # x0 drives x1 at lag 1
    array([[0, 1],
           [0, 0]])
    """
    if fdr_method not in ("none", "bh"):
        raise ValueError(f"fdr_method = {fdr_method!r}; use 'none' or 'bh'.")
    x = np.asarray(data, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"data must be a 2-D array (time × variables), got shape {x.shape}.")
    if tau_max < 1:
        raise ValueError(f"tau_max = {tau_max}: PCMCI searches lagged links, so use tau_max ≥ 1.")
    T, d = x.shape
    window = 2 * tau_max   # MCI conditions on the source's parents shifted by up to tau_max more
    if T - window < 10:
        raise ValueError(f"a series of {T} steps is too short for tau_max = {tau_max}; "
                         f"give at least {window + 10} steps or lower tau_max.")
    n = T - window
    # column tau * d + i holds X_i(t - tau) for t = window .. T-1
    lagged = np.hstack([x[window - tau: T - tau] for tau in range(window + 1)])
    corr = np.corrcoef(lagged.T)

    def col(v: Lagged) -> int:
        return v[1] * d + v[0]

    def test(i: Lagged, j: Lagged, cond: list[Lagged]) -> tuple[float, float]:
        r = partial_correlation(corr, col(i), col(j), tuple(col(c) for c in cond))
        return r, fisher_z_pvalue(r, n, len(cond))

    parents = {j: _pc1(j, d, tau_max, pc_alpha, test) for j in range(d)}

    val = np.zeros((d, d, tau_max + 1))
    pval = np.ones((d, d, tau_max + 1))
    for j in range(d):
        for tau in range(1, tau_max + 1):
            for i in range(d):
                source = (i, tau)
                px = parents[i][:max_conds_px] if max_conds_px is not None else parents[i]
                cond = [c for c in parents[j] if c != source]
                cond += [(k, lag + tau) for k, lag in px if (k, lag + tau) not in cond]
                val[i, j, tau], pval[i, j, tau] = test(source, (j, 0), cond)
    if fdr_method == "bh":
        pval[:, :, 1:] = benjamini_hochberg(pval[:, :, 1:])
    graph = (pval <= alpha).astype(int)
    graph[:, :, 0] = 0
    return PCMCIResult(val, pval, graph, parents)


def _pc1(j: int, d: int, tau_max: int, pc_alpha: float, test) -> list[Lagged]:
    candidates: list[Lagged] = [(i, tau) for tau in range(1, tau_max + 1) for i in range(d)]
    strength = {c: np.inf for c in candidates}
    level = 0
    while len(candidates) > level:
        dropped = []
        for c in candidates:
            cond = [o for o in candidates if o != c][:level]
            r, p = test(c, (j, 0), cond)
            strength[c] = min(strength[c], abs(r))
            if p > pc_alpha:
                dropped.append(c)
        candidates = sorted((c for c in candidates if c not in dropped),
                            key=lambda c: -strength[c])
        level += 1
    return candidates


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (same shape as ``p``).

    **Example**

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03]))
    array([0.03, 0.04, 0.04])
    """
    flat = np.asarray(p, dtype=float).ravel()
    m = flat.size
    order = np.argsort(flat)
    scaled = flat[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out.reshape(np.shape(p))

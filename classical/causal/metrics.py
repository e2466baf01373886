"""Scoring estimated graphs, and the random DAGs / linear SEMs they are scored on.

Scoring convention (the one of Zheng et al. 2018's NOTEARS evaluation, with SHD
taken pairwise as in ``pcalg``/``cdt``):

- Each unordered pair ``{i, j}`` holds one of: no edge, ``i → j``, ``j → i`` or an
  undirected edge ``i — j`` (both ``A[i, j]`` and ``A[j, i]`` set).
- **SHD** counts the pairs whose state differs between truth and estimate: a
  missing edge, an extra edge, a reversed edge and an undirected-vs-directed
  mismatch each cost 1. Score PC against the true CPDAG to charge it only for
  what data can identify; against the DAG an undirected edge costs 1.
- **TPR** = true positives / true edges, where an estimated directed edge is a
  true positive when the truth has the same direction, and an estimated
  undirected edge is a true positive when the truth has an edge either way.
- **FDR** = (reversed + extra) / estimated edges (an undirected edge counts once).
"""

from __future__ import annotations

import numpy as np


def _pair_states(a: np.ndarray) -> np.ndarray:
    """Upper-triangle code per pair: 0 none, 1 i→j, 2 j→i, 3 undirected."""
    a = np.asarray(a) != 0
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"expected a square adjacency matrix, got shape {a.shape}.")
    iu = np.triu_indices(a.shape[0], k=1)
    return a[iu].astype(int) + 2 * a.T[iu].astype(int)


def _check_same_size(true: np.ndarray, est: np.ndarray) -> None:
    if np.shape(true) != np.shape(est):
        raise ValueError(f"true and estimated adjacency matrices differ in shape "
                         f"({np.shape(true)} vs {np.shape(est)}); score graphs over the same variables.")


def shd(true: np.ndarray, est: np.ndarray) -> int:
    """Structural Hamming distance: node pairs whose edge state differs.

    **Example**

    >>> true = np.array([[0, 1], [0, 0]])
    >>> shd(true, true.T), shd(true, np.ones((2, 2)) - np.eye(2)), shd(true, 0 * true)
    (1, 1, 1)
    """
    _check_same_size(true, est)
    return int(np.sum(_pair_states(true) != _pair_states(est)))


def edge_scores(true: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """SHD, TPR, FDR and the counts behind them (see the module docstring).

    **Example**

    >>> true = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    >>> est = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]])   # 0—1 undirected, extra 0→2
    >>> s = edge_scores(true, est); s["tpr"], s["fdr"], s["shd"]
    (0.5, 0.5, 3)
    """
    _check_same_size(true, est)
    t, e = _pair_states(true), _pair_states(est)
    true_edges = int(np.sum(t > 0))
    est_edges = int(np.sum(e > 0))
    tp = int(np.sum((e == 3) & (t > 0)) + np.sum((e > 0) & (e < 3) & (e == t)))
    reversed_ = int(np.sum((e > 0) & (e < 3) & (t > 0) & (t < 3) & (e != t)))
    extra = int(np.sum((e > 0) & (t == 0)))
    missing = int(np.sum((t > 0) & (e == 0)))
    return {
        "shd": int(np.sum(t != e)),
        "tpr": tp / max(true_edges, 1),
        "fdr": (reversed_ + extra) / max(est_edges, 1),
        "true_edges": true_edges, "est_edges": est_edges,
        "tp": tp, "reversed": reversed_, "extra": extra, "missing": missing,
    }


def tpr(true: np.ndarray, est: np.ndarray) -> float:
    """True-positive rate (see the module docstring for undirected edges)."""
    return edge_scores(true, est)["tpr"]


def fdr(true: np.ndarray, est: np.ndarray) -> float:
    """False-discovery rate (see the module docstring for undirected edges)."""
    return edge_scores(true, est)["fdr"]


# -- generators ------------------------------------------------------------------
def random_dag(d: int, expected_degree: float = 2.0, rng: np.random.Generator | int | None = None
               ) -> np.ndarray:
    """An Erdős–Rényi DAG with ``expected_degree · d`` edges on average ("ER2" for 2).

    Edges are drawn in a random topological order, so the node index says nothing
    about causal order.

    **Example**

    >>> a = random_dag(10, 2, rng=0)
    >>> a.shape, bool(np.all(np.diag(a) == 0))
    ((10, 10), True)
    """
    rng = np.random.default_rng(rng)
    if d < 2:
        return np.zeros((d, d), dtype=int)
    p = min(1.0, 2.0 * expected_degree / (d - 1))
    lower = np.tril(rng.random((d, d)) < p, k=-1).astype(int)
    perm = rng.permutation(d)
    return lower[np.ix_(perm, perm)].T


def random_weights(adjacency: np.ndarray, low: float = 0.5, high: float = 2.0,
                   rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Edge weights ``±U[low, high]`` (random sign) on the edges of ``adjacency``."""
    rng = np.random.default_rng(rng)
    a = np.asarray(adjacency) != 0
    w = rng.uniform(low, high, a.shape) * rng.choice([-1.0, 1.0], a.shape)
    return np.where(a, w, 0.0)


def simulate_linear_sem(weights: np.ndarray, n: int, noise_scale: float | np.ndarray = 1.0,
                        standardise: bool = False,
                        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Sample ``n`` rows of ``X = X W + E`` with Gaussian ``E`` (``W[i, j]`` is the i → j weight).

    Args:
        weights: ``d × d`` weighted adjacency of a DAG.
        n: number of samples.
        noise_scale: standard deviation of each variable's noise (scalar or per variable).
        standardise: rescale every column to mean 0, variance 1. This removes the
            variance ordering ("varsortability", Reisach et al. 2021) that raw
            equal-noise SEM data leak to methods such as NOTEARS.
        rng: seed or generator.

    **Example**

    >>> w = np.array([[0.0, 2.0], [0.0, 0.0]])
    >>> x = simulate_linear_sem(w, 5000, rng=0)
    >>> bool(abs(np.cov(x.T)[0, 1] - 2.0) < 0.2)
    True
    """
    rng = np.random.default_rng(rng)
    w = np.asarray(weights, dtype=float)
    d = w.shape[0]
    import networkx as nx

    order = list(nx.topological_sort(nx.DiGraph(w != 0)))
    scale = np.broadcast_to(np.asarray(noise_scale, dtype=float), (d,))
    x = np.zeros((n, d))
    for j in order:
        x[:, j] = x @ w[:, j] + scale[j] * rng.standard_normal(n)
    if standardise:
        x = (x - x.mean(0)) / x.std(0)
    return x


def simulate_lagged_sem(d: int, n: int, max_lag: int = 2, expected_degree: float = 2.0,
                        autoregressive: float = 0.0, standardise: bool = False,
                        rng: np.random.Generator | int | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """A linear vector-autoregressive time series with random lagged links.

    Cross links follow an ER DAG (``expected_degree · d`` edges); each gets a lag
    drawn from ``1..max_lag`` and a weight ``±U[0.5, 2]``. If the process would be
    unstable the cross weights are shrunk together until the companion matrix
    has spectral radius 0.9.

    Returns:
        ``(x, links)``: the ``n × d`` series and a ``d × d × (max_lag + 1)`` array with
        ``links[i, j, tau]`` the weight of ``x_i(t - tau) → x_j(t)``.

    **Example**

    >>> x, links = simulate_lagged_sem(5, 300, rng=0)
    >>> x.shape, links.shape
    ((300, 5), (5, 5, 3))
    """
    rng = np.random.default_rng(rng)
    adj = random_dag(d, expected_degree, rng)
    w = random_weights(adj, rng=rng)
    links = np.zeros((d, d, max_lag + 1))
    for i, j in zip(*np.nonzero(adj)):
        links[i, j, rng.integers(1, max_lag + 1)] = w[i, j]
    links[np.arange(d), np.arange(d), 1] += autoregressive
    companion = np.zeros((d * max_lag, d * max_lag))
    for tau in range(1, max_lag + 1):
        companion[:d, (tau - 1) * d: tau * d] = links[:, :, tau].T
    companion[d:, :-d] = np.eye(d * (max_lag - 1))
    radius = np.max(np.abs(np.linalg.eigvals(companion)))
    if radius > 0.9:
        cross = links.copy()
        cross[np.arange(d), np.arange(d), 1] -= autoregressive
        lo, hi = 0.0, 1.0
        for _ in range(40):   # bisection on a common shrink factor for the cross weights
            mid = (lo + hi) / 2
            trial = mid * cross
            trial[np.arange(d), np.arange(d), 1] += autoregressive
            companion[:d] = np.hstack([trial[:, :, t].T for t in range(1, max_lag + 1)])
            if np.max(np.abs(np.linalg.eigvals(companion))) <= 0.9:
                lo = mid
            else:
                hi = mid
        links = lo * cross
        links[np.arange(d), np.arange(d), 1] += autoregressive
    burn = 100
    x = np.zeros((n + burn, d))
    for t in range(max_lag, n + burn):
        x[t] = sum(x[t - tau] @ links[:, :, tau] for tau in range(1, max_lag + 1))
        x[t] += rng.standard_normal(d)
    x = x[burn:]
    if standardise:
        x = (x - x.mean(0)) / x.std(0)
    return x, links

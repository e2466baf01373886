"""The PC algorithm (PC-stable) with Fisher-z conditional-independence tests.

Three phases (Spirtes, Glymour & Scheines 2000; Colombo & Maathuis 2014):

1. **Skeleton.** Start from the complete graph. For conditioning-set sizes
   ``l = 0, 1, 2, …`` test every adjacent pair ``(x, y)`` against every subset of
   size ``l`` of ``adj(x) \\ {y}``; remove the edges found independent only after
   the whole level (the "stable" order-independent variant). Every separating set
   found at the removal level is kept.
2. **v-structures.** For each unshielded triple ``a — b — c`` orient ``a → b ← c``
   when ``b`` lies in none of the separating sets of ``(a, c)``, unless an earlier
   collider already points an edge out of ``b`` ("prioritise existing colliders").
3. **Meek rules** R1–R3 propagate the remaining compelled orientations.

These choices are causal-learn's defaults (``stable=True, uc_rule=0,
uc_priority=2``), and the test suite checks that both return the same CPDAG.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from classical.causal.graph import meek_closure


def partial_correlation(corr: np.ndarray, i: int, j: int, cond: tuple[int, ...] = ()) -> float:
    """Partial correlation of variables ``i`` and ``j`` given ``cond``, from a correlation matrix.

    It is read off the inverse of the correlation sub-matrix over ``(i, j, *cond)``.
    """
    idx = [i, j, *cond]
    sub = corr[np.ix_(idx, idx)]
    try:
        prec = np.linalg.inv(sub)
    except np.linalg.LinAlgError:
        raise ValueError("the data's correlation matrix is singular (a column is constant or a "
                         "copy of others); drop or merge those columns before the test.") from None
    r = -prec[0, 1] / math.sqrt(abs(prec[0, 0] * prec[1, 1]))
    return float(np.clip(r, -1 + 1e-15, 1 - 1e-15))


def fisher_z_pvalue(r: float, n: int, n_cond: int) -> float:
    """Two-sided p-value of a partial correlation ``r`` from ``n`` samples given ``n_cond`` variables.

    ``z = atanh(r) · sqrt(n − n_cond − 3)`` is standard normal under independence.
    """
    dof = n - n_cond - 3
    if dof <= 0:
        raise ValueError(f"{n} samples are too few to condition on {n_cond} variables; "
                         "collect more data or limit the conditioning-set size (max_cond).")
    return math.erfc(math.sqrt(dof) * abs(math.atanh(r)) / math.sqrt(2.0))


def fisher_z_test(corr: np.ndarray, n: int, i: int, j: int, cond: tuple[int, ...] = ()) -> float:
    """p-value of ``X_i ⊥ X_j | X_cond`` for Gaussian data (Fisher's z on the partial correlation).

    **Example**

    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=2000); x = z + rng.normal(size=2000); y = z + rng.normal(size=2000)
    >>> c = np.corrcoef(np.c_[x, y, z].T)
    >>> fisher_z_test(c, 2000, 0, 1) < 0.01, fisher_z_test(c, 2000, 0, 1, (2,)) > 0.01
    (True, True)
    """
    return fisher_z_pvalue(partial_correlation(corr, i, j, cond), n, len(cond))


def pc_skeleton(data: np.ndarray, alpha: float = 0.05, max_cond: int | None = None
                ) -> tuple[np.ndarray, dict[frozenset, list[set]]]:
    """Phase 1 of PC-stable: the undirected skeleton and the separating sets found.

    Returns:
        ``(adjacency, sepsets)``: a symmetric 0/1 matrix and, for each removed pair
        ``frozenset({x, y})``, the list of separating-set unions found (one per endpoint
        whose neighbourhood yielded one).
    """
    x = _check_data(data)
    n, d = x.shape
    corr = np.corrcoef(x.T)
    adj = np.ones((d, d), dtype=bool) & ~np.eye(d, dtype=bool)
    sepsets: dict[frozenset, list[set]] = {}
    depth = -1
    while d > 1 and adj.sum(1).max() - 1 > depth:
        depth += 1
        if max_cond is not None and depth > max_cond:
            break
        removals = set()
        for a in range(d):
            neighbours = np.flatnonzero(adj[a])
            for b in neighbours:
                others = [int(k) for k in neighbours if k != b]
                separators: set = set()
                separated = False
                for cond in combinations(others, depth):
                    if fisher_z_test(corr, n, a, int(b), cond) > alpha:
                        separated = True
                        separators |= set(cond)
                if separated:
                    removals.add((a, int(b)))
                    sepsets.setdefault(frozenset((a, int(b))), []).append(separators)
        for a, b in removals:
            adj[a, b] = adj[b, a] = False
    return adj.astype(int), sepsets


def orient_v_structures(skeleton: np.ndarray, sepsets: dict[frozenset, list[set]]) -> np.ndarray:
    """Phase 2: orient ``a → b ← c`` for unshielded colliders (existing colliders win)."""
    g = np.asarray(skeleton).astype(int).copy()
    d = g.shape[0]
    triples = [(a, b, c) for b in range(d) for a in range(d) for c in range(a + 1, d)
               if g[a, b] and g[b, c] and not g[a, c] and a != c and a != b and c != b]
    for a, b, c in triples:
        if any(b in s for s in sepsets.get(frozenset((a, c)), [set()])):
            continue
        points_out_of_b = (g[b, a] and not g[a, b]) or (g[b, c] and not g[c, b])
        if not points_out_of_b:
            g[a, b] = g[c, b] = 1
            g[b, a] = g[b, c] = 0
    return g


def pc(data: np.ndarray, alpha: float = 0.05, max_cond: int | None = None) -> np.ndarray:
    """Estimate the CPDAG of Gaussian data with PC-stable and Fisher-z tests.

    Args:
        data: ``n × d`` samples, one column per variable.
        alpha: significance level; a pair is declared independent when p > alpha.
        max_cond: largest conditioning set tried (``None``: no limit).

    Returns:
        ``d × d`` 0/1 adjacency: ``A[i, j] = 1, A[j, i] = 0`` is ``i → j``;
        ``A[i, j] = A[j, i] = 1`` is an undirected edge.

    **Example**

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 3000))
    >>> c = a + b + rng.normal(size=3000)            # collider a → c ← b
    >>> pc(np.c_[a, b, c])
    array([[0, 0, 1],
           [0, 0, 1],
           [0, 0, 0]])
    """
    skeleton, sepsets = pc_skeleton(data, alpha, max_cond)
    return meek_closure(orient_v_structures(skeleton, sepsets))


def _check_data(data: np.ndarray) -> np.ndarray:
    x = np.asarray(data, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"data must be a 2-D array (samples × variables), got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("data contain NaN or infinite values; drop or impute those rows first.")
    if x.shape[0] < 4:
        raise ValueError(f"{x.shape[0]} samples are too few for Fisher-z tests; give at least 4.")
    return x

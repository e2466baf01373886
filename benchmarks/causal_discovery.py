"""Causal discovery on random ER2 linear SEMs: SHD / TPR / FDR and runtime per method.

Grid: ``d ∈ {10, 20}``, ``n ∈ {200, 1000}``, seeds ``0..4``, data raw and standardised.
Each cell draws an ER2 DAG (2·d edges expected), weights ``±U[0.5, 2]``, unit Gaussian
noise (:mod:`classical.causal.metrics`). Methods:

* ``pc``: own PC-stable, Fisher-z, alpha 0.05; scored against the DAG and against
  the true CPDAG (``shd_cpdag``), since PC can only identify the CPDAG.
* ``notears``: own linear NOTEARS, lambda1 0.1, threshold 0.3.
* ``varsort``: the "sortnregress" baseline of Reisach et al. (2021): order the
  variables by marginal variance, regress each on all lower-variance ones by least
  squares, keep ``|coef| ≥ 0.3``. It shows how much of a method's score raw data's
  variance ordering alone can buy.
* ``pcmci``: own PCMCI (tau_max 2, pc_alpha 0.2, alpha 0.05, Benjamini–Hochberg) on a
  *time series* of ``n`` steps from a lagged linear SEM over an ER2 graph (each edge
  gets a lag in {1, 2}, weights ``±U[0.5, 2]`` shrunk to a stable process); scored on
  the summary graph (``i → j`` at any lag) without self-links.

Scoring conventions are those of :mod:`classical.causal.metrics`. Threads: one.

**Example**

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/causal_discovery.py --d 10 --n 200 --seeds 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

from classical.causal import edge_scores, notears, pc, pcmci  # noqa: E402
from classical.causal.graph import cpdag_from_dag  # noqa: E402
from classical.causal.metrics import (  # noqa: E402
    random_dag,
    random_weights,
    simulate_lagged_sem,
    simulate_linear_sem,
)


def sort_and_regress(x: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Variance-sort baseline: regress each variable on all lower-variance ones."""
    order = np.argsort(x.var(0))
    xc = x - x.mean(0)
    w = np.zeros((x.shape[1], x.shape[1]))
    for k in range(1, len(order)):
        target, preds = order[k], order[:k]
        coef, *_ = np.linalg.lstsq(xc[:, preds], xc[:, target], rcond=None)
        w[preds, target] = coef
    w[np.abs(w) < threshold] = 0.0
    return w


def run_cell(d: int, n: int, seed: int, standardise: bool) -> list[dict]:
    rng = np.random.default_rng(1000 * d + seed)
    dag = random_dag(d, 2, rng)
    x = simulate_linear_sem(random_weights(dag, rng=rng), n, standardise=standardise, rng=rng)
    rows = []
    for name, method in [("pc", pc), ("notears", notears), ("varsort", sort_and_regress)]:
        t0 = time.perf_counter()
        est = method(x)
        seconds = time.perf_counter() - t0
        row = {"method": name, **edge_scores(dag, est), "seconds": seconds}
        if name == "pc":
            row["shd_cpdag"] = edge_scores(cpdag_from_dag(dag), est)["shd"]
        rows.append(row)
    series, links = simulate_lagged_sem(d, n, max_lag=2, standardise=standardise,
                                        rng=np.random.default_rng(7000 + 1000 * d + seed))
    truth = (links != 0).any(axis=2).astype(int)
    np.fill_diagonal(truth, 0)
    t0 = time.perf_counter()
    res = pcmci(series, tau_max=2, fdr_method="bh")
    seconds = time.perf_counter() - t0
    rows.append({"method": "pcmci", **edge_scores(truth, res.summary_adjacency()),
                 "seconds": seconds})
    for r in rows:
        r.update(d=d, n=n, seed=seed, data="std" if standardise else "raw")
    return rows


def summarise(rows: list[dict]) -> str:
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["d"], r["n"], r["data"], r["method"])].append(r)
    lines = ["| d | n | data | method | SHD | SHD vs CPDAG | TPR | FDR | edges (true/est) | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], ["pc", "notears", "varsort",
                                                                   "pcmci"].index(k[3]))):
        g = groups[key]

        def ms(field, fmt="{:.1f}"):
            v = np.array([r[field] for r in g], dtype=float)
            return f"{fmt.format(v.mean())} ± {fmt.format(v.std())}"

        cpdag = ms("shd_cpdag") if "shd_cpdag" in g[0] else "–"
        edges = (f"{np.mean([r['true_edges'] for r in g]):.1f} / "
                 f"{np.mean([r['est_edges'] for r in g]):.1f}")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {ms('shd')} | {cpdag} | "
                     f"{ms('tpr', '{:.2f}')} | {ms('fdr', '{:.2f}')} | {edges} | "
                     f"{ms('seconds', '{:.2f}')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--n", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", nargs="+", default=["raw", "std"], choices=["raw", "std"])
    parser.add_argument("--out", default=None, help="write every row as JSON here")
    args = parser.parse_args()

    rows = []
    for d in args.d:
        for n in args.n:
            for data in args.data:
                for seed in range(args.seeds):
                    cell = run_cell(d, n, seed, data == "std")
                    rows += cell
                    print(f"d={d} n={n} {data} seed={seed}: " + ", ".join(
                        f"{r['method']} shd={r['shd']} ({r['seconds']:.1f}s)" for r in cell),
                        flush=True)
    print()
    print(summarise(rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

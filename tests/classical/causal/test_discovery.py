"""PC, NOTEARS and PCMCI on known graphs; PC against causal-learn; metrics."""

import warnings

import numpy as np
import pytest

from classical.causal import edge_scores, notears, pc, pcmci, shd
from classical.causal.graph import cpdag_from_dag
from classical.causal.metrics import (
    random_dag,
    random_weights,
    simulate_lagged_sem,
    simulate_linear_sem,
)

# 4 nodes: collider 0 → 2 ← 1, chain 2 → 3 (fully identifiable from data)
COLLIDER_CHAIN = np.array([[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])


def collider_chain_data(n=5000, seed=0):
    w = COLLIDER_CHAIN * np.array([[0, 0, 1.2, 0], [0, 0, -0.9, 0], [0, 0, 0, 1.5], [0] * 4])
    return simulate_linear_sem(w, n, rng=seed)


def test_pc_recovers_collider_and_chain():
    est = pc(collider_chain_data())
    assert shd(COLLIDER_CHAIN, est) == 0
    assert np.array_equal(est, COLLIDER_CHAIN)


def test_notears_recovers_collider_and_chain():
    est = notears(collider_chain_data())
    assert shd(COLLIDER_CHAIN, est) == 0
    assert est[2, 3] == pytest.approx(1.5, abs=0.1)


def test_pc_leaves_a_chain_undirected():
    x = simulate_linear_sem(np.array([[0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]]), 3000, rng=1)
    assert np.array_equal(pc(x), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))


def test_pc_matches_causal_learn_on_random_graphs():
    from causallearn.search.ConstraintBased.PC import pc as causallearn_pc

    for seed in range(6):
        rng = np.random.default_rng(seed)
        d = 6 + seed
        w = random_weights(random_dag(d, 2, rng), rng=rng)
        x = simulate_linear_sem(w, [200, 1000][seed % 2], rng=rng, standardise=seed % 3 == 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cg = causallearn_pc(x, 0.05, show_progress=False)
        # causal-learn: graph[i, j] = -1 and graph[j, i] = 1 is i → j; both -1 is i — j
        theirs = (cg.G.graph == -1).astype(int)
        assert np.array_equal(pc(x, alpha=0.05), theirs), f"seed {seed}"


def test_pc_recovers_the_cpdag_of_a_six_node_graph():
    # 0 → 2 ← 1, 2 → 3 → 4 ← 5 ← 1, plus an undirected-in-the-CPDAG root edge 6 — 0
    edges = [(0, 2), (1, 2), (2, 3), (3, 4), (1, 5), (5, 4), (6, 0)]
    a = np.zeros((7, 7), dtype=int)
    for i, j in edges:
        a[i, j] = 1
    x = simulate_linear_sem(0.8 * a, 4000, rng=5)
    truth = cpdag_from_dag(a)
    assert truth[0, 6] == 1 and truth[6, 0] == 1
    assert np.array_equal(pc(x), truth)


def test_pcmci_recovers_lagged_links():
    x, links = simulate_lagged_sem(5, 1500, max_lag=2, rng=2)
    res = pcmci(x, tau_max=2, fdr_method="bh")
    truth = (links != 0).astype(int)
    truth[:, :, 0] = 0
    assert np.array_equal(res.graph, truth)
    assert res.summary_adjacency().shape == (5, 5)


def test_pcmci_does_not_confuse_autocorrelation_with_a_link():
    rng = np.random.default_rng(0)
    x = np.zeros((2000, 2))
    for t in range(1, 2000):   # two independent, strongly autocorrelated series
        x[t] = 0.9 * x[t - 1] + rng.normal(size=2)
    res = pcmci(x, tau_max=2)
    assert res.summary_adjacency().sum() == 0
    assert res.graph[0, 0, 1] == 1 and res.graph[1, 1, 1] == 1


def test_scores_on_hand_built_case():
    true = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])      # 0 → 1 → 2
    est = np.array([[0, 0, 0], [1, 0, 1], [1, 0, 0]])       # 1 → 0 (reversed), 1 → 2, 2 → 0 (extra)
    s = edge_scores(true, est)
    assert (s["shd"], s["tp"], s["reversed"], s["extra"]) == (2, 1, 1, 1)
    assert s["tpr"] == 0.5 and s["fdr"] == pytest.approx(2 / 3)
    undirected = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    assert edge_scores(true, undirected)["tpr"] == 1.0 and shd(true, undirected) == 2


def test_generator_weights_and_standardise():
    import networkx as nx

    sizes = [random_dag(20, 2, rng=s).sum() for s in range(30)]
    assert 35 <= np.mean(sizes) <= 45     # ER2: 2·d edges expected
    a = random_dag(20, 2, rng=0)
    assert nx.is_directed_acyclic_graph(nx.DiGraph(a))
    w = random_weights(a, rng=0)
    nz = np.abs(w[a != 0])
    assert nz.min() >= 0.5 and nz.max() <= 2.0 and np.all(w[a == 0] == 0)
    x = simulate_linear_sem(w, 500, standardise=True, rng=0)
    assert np.allclose(x.std(0), 1.0) and np.allclose(x.mean(0), 0.0)


def test_input_errors_are_plain():
    with pytest.raises(ValueError, match="2-D"):
        pc(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        notears(np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="same variables"):
        shd(np.zeros((2, 2)), np.zeros((3, 3)))


def test_importing_the_package_stays_cheap():
    import subprocess
    import sys

    code = ("import sys, classical.causal; "
            "print(sorted(m for m in ('torch', 'causallearn', 'qrl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

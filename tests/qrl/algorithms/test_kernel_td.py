"""Kernel LSTD with the fidelity and the RBF kernel against the random walk's exact values."""

import numpy as np
import pytest

from qrl.algorithms.kernel_td import (
    compare,
    fidelity_features,
    fit_lstd,
    random_walk_transitions,
    rbf_features,
    true_values,
    value_rmse,
)


def test_one_hot_lstd_is_the_certainty_equivalent_value():
    n = 7
    data = random_walk_transitions(15, n, seed=1234)
    v = fit_lstd(data, lambda s: np.eye(n)[np.asarray(s)], n, ridge=0.0)
    # the empirical MDP: counts of s -> s', rewards, exits; V = (I - P)^-1 R
    p, rew, visits = np.zeros((n, n)), np.zeros(n), np.zeros(n)
    for s, r, s2, d in zip(data["s"], data["r"], data["s2"], data["done"]):
        visits[s] += 1
        rew[s] += r
        if not d:
            p[s, s2] += 1
    seen = visits > 0
    p[seen] /= visits[seen, None]
    rew[seen] /= visits[seen]
    exact = np.linalg.solve(np.eye(n)[seen][:, seen] - p[seen][:, seen], rew[seen])
    np.testing.assert_allclose(v[seen], exact, atol=1e-9)


def test_true_values_solve_the_bellman_equation():
    v = true_values(5)
    padded = np.concatenate([[0.0], v, [1.0]])            # the right exit is worth its reward, 1
    np.testing.assert_allclose(v, 0.5 * padded[:-2] + 0.5 * padded[2:])


@pytest.mark.parametrize("features", ["rbf", "fidelity"])
def test_kernel_lstd_converges_to_the_true_values(features):
    n = 9
    phi = rbf_features(n, 10.0) if features == "rbf" else fidelity_features(n, n_qubits=2, n_layers=2,
                                                                             bandwidth=0.5)
    data = random_walk_transitions(2000, n, seed=1234)
    assert value_rmse(fit_lstd(data, phi, n), n) < 0.02


def test_fidelity_features_are_a_kernel_table():
    phi = fidelity_features(5, n_qubits=2, n_layers=1, bandwidth=0.5)
    table = phi(np.arange(5))
    np.testing.assert_allclose(np.diag(table), 1.0, atol=1e-9)
    np.testing.assert_allclose(table, table.T, atol=1e-9)
    assert (table >= -1e-12).all() and (table <= 1 + 1e-9).all()


def test_compare_reports_both_kernels_per_seed():
    out = compare([1234, 1235], n_episodes=20, n_states=9)
    assert set(out) == {"quantum_fidelity", "classical_rbf"} and all(len(v) == 2 for v in out.values())
    assert all(0 < e < 0.3 for v in out.values() for e in v)

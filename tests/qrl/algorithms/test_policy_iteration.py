"""Quantum policy evaluation (amplitude estimation) and Grover policy search against exact references."""

import math

import gymnasium as gym
import numpy as np
import pennylane as qml
import pytest

from qrl.algorithms.amplitude_estimation import good_probability, loglog_slope, mlae, mlae_cramer_rao
from qrl.algorithms.policy_iteration import (
    ReturnTask,
    all_policy_values,
    evaluation_error_vs_calls,
    frozen_lake,
    grover_distribution,
    grover_policy_search,
    policy_from_index,
    policy_value,
    value_iteration,
)

SMALL = ["SF", "HG"]
LAKE3 = ["SFF", "FHF", "FFG"]


def test_transition_matrix_matches_gymnasium():
    mdp = frozen_lake(LAKE3, horizon=5)
    p, r = mdp.transition_matrix()
    env = gym.make("FrozenLake-v1", desc=LAKE3, is_slippery=True).unwrapped
    for s in mdp.free_states:
        for a in range(4):
            expected = np.zeros(9)
            for prob, s2, _, _ in env.P[s][a]:
                expected[s2] += prob
            np.testing.assert_allclose(p[s, a], expected)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert r[5, 1] == pytest.approx(1 / 3)          # down from 5 reaches the goal 8 with probability 1/3


@pytest.mark.parametrize("policy", [(2, 1, 0, 0), (1, 2, 0, 0), (0, 0, 0, 0), (3, 1, 0, 0)])
def test_amplitude_is_the_exact_value(policy):
    mdp = frozen_lake(SMALL, horizon=3)
    task = ReturnTask(mdp, policy)
    assert task.n_qubits == 7
    assert good_probability(task, 0) == pytest.approx(policy_value(mdp, policy), abs=1e-9)


def test_amplitude_on_the_3x3_lake_and_grover_powers():
    mdp = frozen_lake(LAKE3, horizon=3)
    rng = np.random.default_rng(7)
    for _ in range(3):
        policy = tuple(rng.integers(0, 4, 9))
        task = ReturnTask(mdp, policy)
        assert good_probability(task, 0) == pytest.approx(policy_value(mdp, policy), abs=1e-9)
    task = ReturnTask(frozen_lake(SMALL, horizon=3), (2, 1, 0, 0))
    theta = math.asin(math.sqrt(task.value))
    for k in (1, 2, 3):
        assert good_probability(task, k) == pytest.approx(math.sin((2 * k + 1) * theta) ** 2, abs=1e-9)


def test_discounted_returns_are_rescaled_and_exact():
    mdp = frozen_lake(LAKE3, horizon=4, gamma=0.9)
    assert mdp.return_bound == pytest.approx(0.9 ** 3)      # the goal is four steps away at best
    task = ReturnTask(mdp, value_iteration(mdp)[1][0])
    assert good_probability(task, 0) == pytest.approx(policy_value(mdp, task.policy) / 0.9 ** 3, abs=1e-9)


def test_sampled_returns_match_gymnasium_rollouts():
    mdp = frozen_lake(SMALL, horizon=3)
    task = ReturnTask(mdp, (2, 1, 0, 0))
    env = gym.make("FrozenLake-v1", desc=SMALL, is_slippery=True, max_episode_steps=3)
    wins, n = 0, 3000
    for episode in range(n):
        s, _ = env.reset(seed=5000 + episode)
        done, ret = False, 0.0
        while not done:
            s, r, terminated, truncated, _ = env.step(task.policy[s])
            ret += r
            done = terminated or truncated
        wins += ret
    se = math.sqrt(task.value * (1 - task.value) / n)
    assert abs(wins / n - task.value) < 4 * se
    sampled = task.sample_returns(20000, np.random.default_rng(3)).mean()
    assert abs(sampled - task.value) < 4 * math.sqrt(task.value * (1 - task.value) / 20000)


def test_value_iteration_equals_the_best_stationary_policy():
    mdp = frozen_lake(LAKE3, horizon=5)
    v_star, policies = value_iteration(mdp)
    values = all_policy_values(mdp)
    assert len(values) == 4 ** 7
    assert values.max() == pytest.approx(v_star) == pytest.approx(0.0658436214, abs=1e-9)
    best = policy_from_index(mdp, int(values.argmax()))
    assert policy_value(mdp, best) == pytest.approx(v_star)
    assert policy_value(mdp, policies[0]) == pytest.approx(v_star)   # VI's first-step policy is stationary-optimal


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_grover_distribution_matches_a_pennylane_circuit(k):
    n = 4
    marked = np.zeros(2 ** n, dtype=bool)
    marked[[3, 11]] = True

    @qml.qnode(qml.device("default.qubit", wires=n))
    def circuit():
        for w in range(n):
            qml.Hadamard(w)
        for _ in range(k):
            qml.DiagonalQubitUnitary(np.where(marked, -1.0, 1.0), wires=range(n))
            qml.GroverOperator(wires=range(n))
        return qml.probs(wires=range(n))

    np.testing.assert_allclose(grover_distribution(marked, k), circuit(), atol=1e-12)


def test_grover_search_finds_value_iterations_value_in_few_queries():
    mdp = frozen_lake(LAKE3, horizon=5)
    v_star, _ = value_iteration(mdp)
    found = [grover_policy_search(mdp, seed=seed) for seed in (1234, 1235, 1236)]
    for result in found:
        assert result["value"] == pytest.approx(v_star)
        assert policy_value(mdp, result["policy"]) == pytest.approx(v_star)
        assert result["queries_to_best"] < 300            # exhaustive search evaluates 16384 policies


def test_mlae_follows_its_cramer_rao_bound_and_beats_monte_carlo_by_a_power_of_calls():
    task = ReturnTask(frozen_lake(SMALL, horizon=3), (2, 1, 0, 0))
    shots = 100
    rows = evaluation_error_vs_calls(task, repeats=100, shots=shots, max_powers=8, seed=1234)
    by = {m: {r["calls"]: r["rmse"] for r in rows if r["method"] == m} for m in ("mlae", "monte_carlo", "cramer_rao")}
    # the first budget is k = 0 only: MLAE is then the Monte Carlo estimate and the bound is its exact error
    first = min(by["cramer_rao"])
    assert by["cramer_rao"][first] == pytest.approx(math.sqrt(task.value * (1 - task.value) / shots))
    # efficient (100 repeats: ~7% noise) from k = 2 on; with k = 0, 1 alone sin^2(3 theta) has an alias
    # (V = 0.32 for 0.185) that 100 shots of k = 0 do not always rule out
    for calls, bound in by["cramer_rao"].items():
        if calls >= 9 * shots:
            assert 0.75 < by["mlae"][calls] / bound < 1.3, (calls, by["mlae"][calls], bound)
    # the quadratic gap: once the largest Grover power dominates (k >= 4) MLAE falls as calls^-1
    assert loglog_slope(rows, "mlae", min_calls=18 * shots) < -0.9
    assert -0.6 < loglog_slope(rows, "monte_carlo") < -0.4
    last = max(by["mlae"])
    assert by["mlae"][last] < by["monte_carlo"][last] / 5
    assert abs(mlae(task, 6, 100, np.random.default_rng(0)) - task.value) < 0.01


def test_the_cramer_rao_bound_is_the_closed_form_fisher_information():
    value, shots = 0.3, 40
    theta = math.asin(math.sqrt(value))
    # Fisher information of one shot of Q^k A about theta: (dp/dtheta)^2 / (p (1 - p)) = 4 (2k + 1)^2
    for k in (0, 1, 4):
        p = math.sin((2 * k + 1) * theta) ** 2
        dp = (2 * k + 1) * math.sin(2 * (2 * k + 1) * theta)
        assert dp**2 / (p * (1 - p)) == pytest.approx(4 * (2 * k + 1) ** 2)
    info = shots * 4 * sum((2 * k + 1) ** 2 for k in (0, 1, 2, 4))
    assert mlae_cramer_rao(value, 4, shots) == pytest.approx(math.sin(2 * theta) / math.sqrt(info))


def test_bad_policy_is_refused():
    with pytest.raises(ValueError, match=r"policy must give one action in 0..3 for each of the 4 states"):
        ReturnTask(frozen_lake(SMALL, horizon=3), (0, 1))

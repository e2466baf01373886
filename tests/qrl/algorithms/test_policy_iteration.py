"""Quantum policy evaluation (amplitude estimation) and Grover policy search against exact references."""

import math

import gymnasium as gym
import numpy as np
import pennylane as qml
import pytest

from qrl.algorithms.amplitude_estimation import good_probability, loglog_slope, mlae
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


def test_mlae_beats_monte_carlo_with_a_steeper_slope():
    task = ReturnTask(frozen_lake(SMALL, horizon=3), (2, 1, 0, 0))
    rows = evaluation_error_vs_calls(task, repeats=60, shots=50, max_powers=6, seed=1234)
    assert loglog_slope(rows, "mlae") < -0.75
    assert -0.7 < loglog_slope(rows, "monte_carlo") < -0.3
    last = {r["method"]: r["rmse"] for r in rows if r["setting"] in ("powers=6", f"episodes={rows[-1]['calls']}")}
    assert last["mlae"] < last["monte_carlo"] / 3
    assert abs(mlae(task, 6, 100, np.random.default_rng(0)) - task.value) < 0.01


def test_bad_policy_is_refused():
    with pytest.raises(ValueError, match=r"policy must give one action in 0..3 for each of the 4 states"):
        ReturnTask(frozen_lake(SMALL, horizon=3), (0, 1))

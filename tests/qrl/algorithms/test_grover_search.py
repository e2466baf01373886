"""Grover action search (Dong et al. 2008) and its classical counterpart, tabular Q-learning."""

import numpy as np
import pytest

from classical.common.config import resolve_algo
from classical.common.rundir import RunDir
from classical.rl import tabular_q
from qrl.algorithms import grover_search
from qrl.algorithms.grover_search import GroverSearch, grover_matrices
from qrl.experiments.spec import read_preset


def test_grover_iteration_is_the_reflection_product():
    n = 4
    psi0 = np.full(n, 0.5)
    for a, g in enumerate(grover_matrices(n)):
        u_a = np.eye(n) - 2 * np.outer(np.eye(n)[a], np.eye(n)[a])
        u_psi = 2 * np.outer(psi0, psi0) - np.eye(n)
        np.testing.assert_allclose(g, u_psi @ u_a, atol=1e-12)
        after = g @ psi0
        assert after[a] ** 2 == pytest.approx(1.0)      # four actions: one iteration finds the marked one


def test_update_rule_value_and_amplitudes():
    agent = GroverSearch(grover_search.Config(env_kwargs={"is_slippery": False}, episodes=1, k=10.0,
                                              lr={"default": 0.5}, gamma=0.9))
    agent.v[14] = 0.0
    agent.observe(14, 2, 1.0, 15, terminated=True)          # right into the goal: r + V = 1, L = 10 -> capped 1
    assert agent.v[14] == pytest.approx(0.5)
    np.testing.assert_allclose(agent.probabilities(14), [0, 0, 1, 0], atol=1e-12)
    before = agent.amplitudes[13].copy()
    agent.observe(13, 1, 0.0, 9, terminated=False)          # V(9) = 0: no amplification, only V moves
    np.testing.assert_allclose(agent.amplitudes[13], before)
    agent.observe(14, 2, 1.0, 15, terminated=True)          # already certain: a further iteration would undo it
    np.testing.assert_allclose(agent.probabilities(14), [0, 0, 1, 0], atol=1e-12)


def test_q_learning_update_is_the_textbook_rule():
    agent = tabular_q.QLearning(tabular_q.Config(env_kwargs={"is_slippery": False}, episodes=1,
                                                 lr={"default": 0.5}, gamma=0.9))
    agent.q[15 - 1, 2] = 0.2
    agent.q[10] = [0.0, 0.4, 0.1, 0.0]
    agent.observe(14, 2, 1.0, 15, terminated=True)
    assert agent.q[14, 2] == pytest.approx(0.2 + 0.5 * (1.0 - 0.2))
    agent.observe(9, 1, 0.0, 10, terminated=False)
    assert agent.q[9, 1] == pytest.approx(0.5 * 0.9 * 0.4)


def test_save_load_round_trip(tmp_path):
    agent = GroverSearch(grover_search.Config(env_kwargs={"is_slippery": False}, episodes=30, seed=1234))
    agent.learn(progress=False)
    agent.save(tmp_path / "agent.pt")
    loaded = GroverSearch.load(tmp_path / "agent.pt")
    np.testing.assert_allclose(loaded.amplitudes, agent.amplitudes)
    assert loaded.episodes_done == agent.episodes_done == 30
    states = np.arange(16)
    np.testing.assert_array_equal(loaded.predict(states)[0], agent.predict(states)[0])


@pytest.mark.learning
@pytest.mark.parametrize("algo", ["grover_search", "qlearning_tabular"])
def test_presets_solve_the_deterministic_frozenlake(algo, tmp_path):
    spec, _ = read_preset(f"configs/frozenlake_{algo}.yaml")   # the trainer's keys; `solved` is for `qrl seeds`
    module = resolve_algo(spec.pop("algo"))
    spec["seed"] = 4321
    summary = module.run(module.Config(**spec), RunDir(tmp_path / algo))
    assert summary["solved"] and summary["episodes_to_solve"] <= 1500
    assert summary["eval_return_mean"] == 1.0
    assert (tmp_path / algo / "eval.csv").exists()


def test_odd_action_counts_are_refused():
    with pytest.raises(ValueError, match="GroverSearch needs a power-of-two number of actions; Taxi-v4 has 6\\."):
        GroverSearch(grover_search.Config(env_id="Taxi-v4", episodes=1))

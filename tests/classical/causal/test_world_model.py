"""Causal world model: mechanisms per variable, interventions, counterfactual rollouts."""

import numpy as np
import pytest
import torch

from classical.causal.world_model import CausalWorldModel, InterventionalDataset, discover_parents

# s0' = 0.9 s0 + 0.5 a ; s1' = 0.8 s1 + 0.7 s0 ; s2' = 0.5 s2 - 0.6 s1   (+ N(0, 0.1²) noise)
A = np.array([[0.9, 0.7, 0.0], [0.0, 0.8, -0.6], [0.0, 0.0, 0.5]])
B = np.array([0.5, 0.0, 0.0])
TRUE_PARENTS = (A != 0).astype(int)


def step(s, a, u):
    return s @ A + np.outer(a, B) + u


def simulate(n, rng, do_s1=False):
    s = rng.normal(size=(n, 3))
    a = rng.choice([-1.0, 1.0], size=n)
    nxt = step(s, a, 0.1 * rng.normal(size=(n, 3)))
    intervened = np.zeros((n, 3), dtype=bool)
    if do_s1:   # half the rows: s1' forced to random values by an experimenter
        rows = rng.random(n) < 0.5
        nxt[rows, 1] = rng.normal(3.0, 1.0, size=rows.sum())
        intervened[rows, 1] = True
    return InterventionalDataset(s, a, nxt, intervened)


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    data = simulate(2000, np.random.default_rng(0))
    wm = CausalWorldModel(TRUE_PARENTS, action_dim=1, hidden=())
    wm.fit(data, epochs=400, lr=0.05)
    return wm


def test_mechanisms_learn_the_dynamics(fitted):
    rng = np.random.default_rng(1)
    s, a = rng.normal(size=(200, 3)), rng.choice([-1.0, 1.0], size=200)
    truth = step(s, a, 0.0)
    assert np.max(np.abs(fitted.predict(s, a[:, None]) - truth)) < 0.05
    assert np.allclose(fitted.noise_std.numpy(), 0.1, atol=0.02)


def test_intervene_cuts_incoming_edges_and_propagates_downstream(fitted):
    held = fitted.intervene({1: 2.0})
    traj = held.rollout(np.array([1.0, -1.0, 0.0]), np.ones((6, 1)))
    assert np.all(traj[:, 1] == 2.0)
    expect_s2 = 0.0
    for t in range(6):   # s2' = 0.5 s2 - 0.6 * 2
        expect_s2 = 0.5 * expect_s2 - 1.2
        assert traj[t + 1, 2] == pytest.approx(expect_s2, abs=0.05)
    assert fitted.interventions == {}   # the original model is untouched


def test_counterfactual_rollout(fitted):
    rng = np.random.default_rng(2)
    T = 8
    actions = rng.choice([-1.0, 1.0], size=(T, 1))
    u = 0.1 * rng.normal(size=(T, 3))
    states = np.zeros((T + 1, 3))
    states[0] = [0.5, -0.2, 0.1]
    for t in range(T):
        states[t + 1] = step(states[t][None], actions[t], u[t][None])[0]
    same = fitted.counterfactual_rollout(states, actions)
    assert np.allclose(same, states, atol=1e-5)          # abduction reproduces the facts
    flipped = actions.copy()
    flipped[0] = -flipped[0]
    cf = fitted.counterfactual_rollout(states, actions, counterfactual_actions=flipped)
    # hand computation with the true model and the same noise
    truth = np.zeros_like(states)
    truth[0] = states[0]
    for t in range(T):
        truth[t + 1] = step(truth[t][None], flipped[t], u[t][None])[0]
    assert np.allclose(cf, truth, atol=0.1)   # learned coefficients, compounded over 8 steps
    assert abs(cf[1, 0] - states[1, 0]) == pytest.approx(1.0, abs=0.05)   # 0.5 · Δa, Δa = 2


def test_interventional_rows_are_left_out_of_the_intervened_mechanism():
    data = simulate(3000, np.random.default_rng(3), do_s1=True)
    masked = CausalWorldModel(TRUE_PARENTS, 1, hidden=())
    masked.fit(data, epochs=400, lr=0.05)
    naive = CausalWorldModel(TRUE_PARENTS, 1, hidden=())
    naive.fit(InterventionalDataset(data.states, data.actions, data.next_states), epochs=400, lr=0.05)
    s = np.random.default_rng(4).normal(size=(300, 3))
    a = np.ones((300, 1))
    truth = step(s, a[:, 0], 0.0)[:, 1]
    assert np.max(np.abs(masked.predict(s, a)[:, 1] - truth)) < 0.1
    assert np.mean(np.abs(naive.predict(s, a)[:, 1] - truth)) > 0.5


def test_discover_parents_recovers_the_transition_graph():
    data = simulate(3000, np.random.default_rng(5))
    assert np.array_equal(discover_parents(data), TRUE_PARENTS)


def test_errors():
    with pytest.raises(ValueError, match="same number of rows"):
        InterventionalDataset(np.zeros((3, 2)), np.zeros((2, 1)), np.zeros((3, 2)))
    wm = CausalWorldModel(np.eye(2), 1)
    with pytest.raises(ValueError, match="indices run"):
        wm.intervene({5: 1.0})
    with pytest.raises(ValueError, match="needs 3 states"):
        wm.abduct(np.zeros((2, 2)), np.zeros((2, 1)))

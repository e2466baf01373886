"""Causal planning and CoDA on CausalShift-v0: the causal variants keep their return under the shift."""

import numpy as np
import pytest

from classical.causal.causal_planning import Config, coda_augment, collect, reward_parents, run
from classical.common.rundir import RunDir


def test_collected_transitions_chain_and_discovery_keeps_the_causes():
    cfg = Config(episodes=20)
    data = collect(cfg)
    assert data["x"].shape == (1000, 5) and data["x_next"].shape == (1000, 5)
    same_episode = np.arange(999) % 50 != 49
    np.testing.assert_allclose(data["x_next"][:-1][same_episode], data["x"][1:][same_episode])
    np.testing.assert_allclose(data["x_next"][:, 4], data["r"])       # the reward column is r_t
    assert reward_parents(data, cfg) == [0, 1]
    assert reward_parents(data, Config(features="all")) == [0, 1, 2, 3]


def test_coda_swaps_only_the_non_parent_components_and_keeps_their_marginals():
    x = np.random.default_rng(0).standard_normal((200, 4))
    out = coda_augment(x, [0, 1], 3, np.random.default_rng(1))
    assert out.shape == (600, 4)
    np.testing.assert_array_equal(out[:, :2], np.tile(x[:, :2], (3, 1)))
    for copy in out.reshape(3, 200, 4):
        np.testing.assert_array_equal(np.sort(copy[:, 2]), np.sort(x[:, 2]))
        # n and s move together (one donor per row)
        donors = [np.flatnonzero(x[:, 2] == v)[0] for v in copy[:, 2]]
        np.testing.assert_array_equal(copy[:, 3], x[donors, 3])


@pytest.mark.learning
def test_causal_plan_and_coda_keep_their_return_after_the_shift(tmp_path):
    seed = 123
    kw = {"eval_episodes": 4, "seed": seed}
    causal = run(Config(method="plan", features="causal", **kw), RunDir(tmp_path / "pc"))
    full = run(Config(method="plan", features="all", **kw), RunDir(tmp_path / "pa"))
    coda = run(Config(method="coda", augment=4, **kw), RunDir(tmp_path / "c4"))
    plain = run(Config(method="coda", augment=0, **kw), RunDir(tmp_path / "c0"))
    assert causal["eval_return_shifted_mean"] > 20 and full["eval_return_shifted_mean"] < -20
    assert full["eval_return_mean"] > causal["eval_return_mean"]       # s is the better predictor before
    assert coda["eval_return_shifted_mean"] > plain["eval_return_shifted_mean"] + 30

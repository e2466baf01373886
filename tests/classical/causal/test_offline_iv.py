"""Confounded bandit and offline IV policy learning: the naive learner is biased, 2SLS is not."""

import numpy as np
import pytest

from classical.causal.confounded_env import ORACLE_VALUE, ConfoundedBanditEnv, collect_logged_data
from classical.causal.iv import two_stage_least_squares
from classical.causal.offline_iv import Config, OfflineIVAgent, run
from classical.common.rundir import RunDir


def test_logged_actions_are_confounded_and_the_instrument_is_not():
    d = collect_logged_data(40, seed=0)
    assert np.corrcoef(d["a"], d["u"])[0, 1] > 0.5          # the logger followed U
    assert abs(np.corrcoef(d["z"], d["u"])[0, 1]) < 0.05     # the coin did not
    assert np.corrcoef(d["z"], d["a"])[0, 1] > 0.3           # but moved the action


def test_oracle_value_matches_monte_carlo():
    env = ConfoundedBanditEnv(horizon=200_000, confounding=0.0)
    obs, _ = env.reset(seed=0)
    total = 0.0
    for _ in range(200_000):
        obs_next, r, *_ = env.step(int(obs[0] > 0.5))
        total += r - 0.5 * obs[0]        # drop the action-independent baseline term
        obs = obs_next
    assert total / 200_000 == pytest.approx(ORACLE_VALUE, abs=0.01)


def test_linear_iv_learner_agrees_with_closed_form_2sls():
    d = collect_logged_data(60, seed=3)
    agent = OfflineIVAgent(Config(model={"type": "mlp", "hidden": []}, baseline_hidden=[],
                                  fit_steps=1500, lr={"default": 0.05}, seed=3))
    agent.learn(d)
    s = d["s"]
    fit = two_stage_least_squares(np.column_stack([d["z"], d["z"] * s]),
                                  np.column_stack([d["a"], d["a"] * s]), d["r"], covariates=s)
    slope = agent.tau([1.0])[0] - agent.tau([0.0])[0]
    assert agent.tau([0.0])[0] == pytest.approx(fit.coef[0], abs=0.1)
    assert slope == pytest.approx(fit.coef[1], abs=0.1)


def test_save_and_load_round_trip(tmp_path):
    agent = OfflineIVAgent(Config(fit_steps=20))
    agent.learn(collect_logged_data(3, seed=0))
    agent.save(tmp_path / "agent.pt")
    again = OfflineIVAgent.load(tmp_path / "agent.pt")
    grid = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(again.tau(grid), agent.tau(grid))
    action, state = again.predict(grid[:, None])
    assert state is None and action.dtype == np.int64


def test_missing_budget_is_refused():
    with pytest.raises(ValueError, match="no training budget: set episodes and/or total_env_steps"):
        Config(total_env_steps=None)


@pytest.mark.learning
def test_iv_policy_near_oracle_and_naive_policy_far_below(tmp_path):
    out = {}
    for est in ("naive", "iv"):
        out[est] = run(Config(estimator=est, total_env_steps=3000, fit_steps=400, eval_episodes=10,
                              seed=123), RunDir(tmp_path / est))
    oracle = out["iv"]["oracle_value_per_step"]
    assert out["iv"]["value_per_step"] > oracle - 0.03
    assert out["naive"]["value_per_step"] < oracle - 0.15
    assert out["iv"]["tau_rmse"] < 0.3 < out["naive"]["tau_rmse"]

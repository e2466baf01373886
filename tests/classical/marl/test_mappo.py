import numpy as np
import pytest
import torch
from pydantic import ValidationError

from classical.common.rundir import RunDir
from classical.marl import mappo
from classical.marl.envs import make_joint_env

TINY = dict(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 5}, episodes=8, episodes_per_update=4,
            eval_episodes=2, checkpoint_every=1)


def test_mappo_runs_the_training_contract(tmp_path):
    summary = mappo.run(mappo.Config(**TINY), RunDir(tmp_path))
    for name in ("metrics.csv", "checkpoint.pt", "curve.png", "eval.csv"):
        assert (tmp_path / name).exists(), name
    assert summary["episodes"] == 8 and summary["env_steps"] == 40
    assert np.isfinite(summary["eval_return_mean"]) and summary["n_params"] > 0
    assert {"eval_return_agent_0_mean", "eval_return_agent_1_mean", "wall_seconds"} <= set(summary)


def test_the_step_budget_stops_first(tmp_path):
    summary = mappo.run(mappo.Config(**{**TINY, "episodes": None, "total_env_steps": 12}), RunDir(tmp_path))
    assert summary["env_steps"] == 20          # whole batches of whole episodes: 4 episodes of 5 steps


def test_gae_matches_a_hand_computation():
    agent = mappo.MAPPO(mappo.Config(**{**TINY, "value_norm": False, "gamma": 0.9, "gae_lambda": 0.5}))
    agent.values = lambda states: states[:, :2]          # V_i(s) = s_i, to check the recursion by hand
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
    state = torch.tensor([[0.5, 0.0], [1.0, 1.0], [0.0, 2.0]])
    next_state = torch.tensor([[1.0, 1.0], [0.0, 2.0], [4.0, 4.0]])
    batch = {"rewards": rewards, "state": state, "next_state": next_state,
             "terminated": torch.tensor([0.0, 0.0, 0.0]), "truncated": torch.tensor([0.0, 1.0, 1.0])}
    adv, returns = agent.advantages(batch)
    d0 = rewards[0] + 0.9 * next_state[0] - state[0]
    d1 = rewards[1] + 0.9 * next_state[1] - state[1]      # step 1 ends an episode (truncated: bootstraps)
    d2 = rewards[2] + 0.9 * next_state[2] - state[2]
    assert torch.allclose(adv[2], d2) and torch.allclose(adv[1], d1)
    assert torch.allclose(adv[0], d0 + 0.45 * d1)
    assert torch.allclose(returns, adv + state)


def test_per_agent_actors_save_and_load_in_a_fresh_learner(tmp_path):
    agent = mappo.MAPPO(mappo.Config(**{**TINY, "share_actor": False}))
    assert isinstance(agent.actor, torch.nn.ModuleList) and len(agent.actor) == 2
    agent.returns_stats.update(np.array([1.0, 3.0]))
    agent.save(tmp_path / "a.pt")
    loaded = mappo.MAPPO.load(tmp_path / "a.pt")
    obs = {"agent_0": np.ones(10, np.float32), "agent_1": -np.ones(10, np.float32)}
    assert loaded.predict(obs) == agent.predict(obs)
    assert loaded.returns_stats.mean == pytest.approx(2.0)


def test_lr_per_network_and_bad_configs():
    agent = mappo.MAPPO(mappo.Config(**{**TINY, "lr": {"default": 1e-3, "critic": 5e-3}}))
    assert sorted(g["lr"] for g in agent.opt.param_groups) == [1e-3, 5e-3]
    with pytest.raises(ValidationError, match="no training budget"):
        mappo.Config(episodes=None)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        mappo.Config(env="simple_spread")
    with pytest.raises(ValueError, match="env_kwargs for 'particle'"):
        make_joint_env("particle", {"N": 3})

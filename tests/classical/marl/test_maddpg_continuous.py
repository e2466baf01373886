import numpy as np
import pytest
import torch

from classical.common.rundir import RunDir
from classical.marl import maddpg_continuous as cm
from classical.marl.envs import make_joint_env

TINY = dict(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 5, "continuous_actions": True},
            episodes=6, warmup_steps=10, batch_size=8, eval_episodes=2, checkpoint_every=3)


def test_continuous_maddpg_runs_the_training_contract(tmp_path):
    summary = cm.run(cm.Config(**TINY), RunDir(tmp_path))
    for name in ("metrics.csv", "checkpoint.pt", "curve.png", "eval.csv"):
        assert (tmp_path / name).exists(), name
    assert summary["episodes"] == 6 and summary["env_steps"] == 30 and np.isfinite(summary["eval_return_mean"])


def test_mpe_spread_actions_are_tanh_bounded_and_noise_stays_in_range():
    env = make_joint_env("simple_spread", {"N": 3, "max_cycles": 5, "continuous_actions": True})
    agent = cm.ContinuousMADDPG(cm.Config(), env)
    obs, _ = env.reset(seed=0)
    greedy = agent._act(obs, explore=False)
    assert greedy.shape == (3, 5) and np.abs(greedy).max() < 1
    noisy = agent._act(obs, explore=True, progress=0.0, rng=np.random.default_rng(0))
    assert np.abs(noisy).max() <= 1 and not np.allclose(noisy, greedy)


def test_td3_pieces_twin_critics_and_policy_delay():
    env = make_joint_env("particle", {"n_agents": 2, "continuous_actions": True})
    agent = cm.ContinuousMADDPG(cm.Config(policy_delay=2), env)
    assert len(agent.critic) == 2
    b = 4
    batch = {"obs": torch.randn(b, 2, 10), "next_obs": torch.randn(b, 2, 10), "actions": torch.rand(b, 2, 2) * 2 - 1,
             "rewards": torch.randn(b, 2), "terminated": torch.zeros(b)}
    before = [p.clone() for p in agent.actor.parameters()]
    assert "actor_loss" not in agent.update(batch)                    # first update: critics only
    assert all(torch.equal(p, q) for p, q in zip(before, agent.actor.parameters()))
    assert "actor_loss" in agent.update(batch)
    assert not all(torch.equal(p, q) for p, q in zip(before, agent.actor.parameters()))
    single = cm.ContinuousMADDPG(cm.Config(twin_critics=False), env)
    assert len(single.critic) == 1


def test_save_load_and_discrete_envs_are_refused(tmp_path):
    env = make_joint_env("particle", {"n_agents": 2, "continuous_actions": True})
    agent = cm.ContinuousMADDPG(cm.Config(**TINY), env)
    agent.save(tmp_path / "m.pt")
    loaded = cm.ContinuousMADDPG.load(tmp_path / "m.pt")
    obs = {"agent_0": np.ones(10, np.float32), "agent_1": np.zeros(10, np.float32)}
    assert np.allclose(loaded.predict(obs)[0]["agent_0"], agent.predict(obs)[0]["agent_0"])
    with pytest.raises(ValueError, match="continuous MADDPG needs Box actions"):
        cm.ContinuousMADDPG(cm.Config(), make_joint_env("particle", {"n_agents": 2}))

"""MAPPO, continuous MADDPG and PSRO self-play learn (fixed seeds outside the tuning range 0-9)."""

import numpy as np
import pytest

from classical.common.rundir import RunDir
from classical.marl import maddpg_continuous as cm
from classical.marl import mappo, selfplay
from classical.marl.baselines import RandomPolicy
from classical.marl.envs import make_joint_env
from classical.marl.loop import evaluate


class RandomBox:
    def act(self, obs, explore, progress=1.0, rng=None):
        return rng.uniform(-1, 1, (len(obs), 2)).astype(np.float32)


@pytest.mark.learning
def test_mappo_beats_random_on_position_control_particles(tmp_path):
    # Friction 1 and a strong push make each step's move the action itself, so PPO learns in a few hundred episodes.
    kw = {"n_agents": 2, "mode": "mixed", "max_steps": 5, "friction": 1.0, "accel": 20.0}
    cfg = mappo.Config(env_id="particle", env_kwargs=kw, episodes=300, eval_episodes=50, seed=11, gamma=0.9,
                       lr={"default": 3e-3}, episodes_per_update=8, minibatches=2, ent_coef=0.0)
    summary = mappo.run(cfg, RunDir(tmp_path))
    env = make_joint_env("particle", kw)
    random = np.mean([r["return"] for r in evaluate(env, RandomPolicy(env), 50, seed=11)])
    assert summary["eval_return_mean"] >= random + 1.5, (summary["eval_return_mean"], random)


@pytest.mark.learning
def test_continuous_maddpg_beats_random_on_cooperative_particles(tmp_path):
    kw = {"n_agents": 2, "mode": "cooperative", "max_steps": 10, "continuous_actions": True}
    cfg = cm.Config(env_id="particle", env_kwargs=kw, episodes=150, warmup_steps=200, batch_size=128,
                    train_every=1, eval_episodes=50, seed=11)
    summary = cm.run(cfg, RunDir(tmp_path))
    random = np.mean([r["return"] for r in evaluate(make_joint_env("particle", kw), RandomBox(), 50, seed=11)])
    assert summary["eval_return_mean"] >= random + 4.0, (summary["eval_return_mean"], random)

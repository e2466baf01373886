import numpy as np
import pytest
import torch

import qrl.models  # noqa: F401  (registers the vqc model type)
from classical.common.rundir import RunDir
from classical.rl.ppo import PPO, Config, load_agent, run

SMALL = {"type": "mlp", "hidden": [16]}


def test_gae_matches_a_hand_computation():
    agent = PPO(Config(actor=SMALL, critic=SMALL, gamma=0.5, gae_lambda=0.5, n_envs=1))
    batch = {"value": torch.tensor([[1.0], [2.0]]), "reward": torch.tensor([[1.0], [1.0]]),
             "done": torch.tensor([[0.0], [1.0]]), "boot": torch.zeros(2, 1), "last_value": torch.tensor([5.0])}
    adv, ret = agent.advantages(batch)
    d1 = 1.0 - 2.0                       # terminal: no bootstrap
    d0 = 1.0 + 0.5 * 2.0 - 1.0
    assert adv[:, 0].tolist() == pytest.approx([d0 + 0.25 * d1, d1])
    assert ret[:, 0].tolist() == pytest.approx([d0 + 0.25 * d1 + 1.0, d1 + 2.0])


@pytest.mark.parametrize("env_id, actor", [("CartPole-v1", SMALL), ("Pendulum-v1", SMALL),
                                           ("CartPole-v1", {"type": "vqc", "n_layers": 1})])
def test_smoke_discrete_and_gaussian_heads_and_resume(tmp_path, env_id, actor):
    cfg = Config(env_id=env_id, actor=actor, critic=SMALL, backend="default.qubit", n_envs=2, n_steps=16,
                 epochs=1, minibatch_size=16, total_env_steps=64, eval_episodes=1,
                 env_kwargs={"max_episode_steps": 20}, lr={"actor": 0.01, "critic": 1e-3})
    summary = run(cfg, RunDir(tmp_path))
    assert summary["env_steps"] == 64 and np.isfinite(summary["eval_return_mean"])
    agent = load_agent(tmp_path)
    assert agent.updates_done == 2
    action, _ = agent.predict(np.zeros((3, agent.obs_dim)))
    assert action.shape == ((3,) if env_id == "CartPole-v1" else (3, 1))


def test_episodes_run_on_across_rollouts():
    cfg = Config(actor=SMALL, critic=SMALL, n_envs=1, n_steps=8, epochs=1, minibatch_size=8, total_env_steps=64,
                 env_kwargs={"max_episode_steps": 20})
    agent = PPO(cfg)
    agent.learn(progress=False)
    # 64 steps with episodes capped at 20 and rollouts of 8: only runs across rollouts give length-20 episodes
    assert agent.episodes_done >= 3 and 20.0 in list(agent.recent)


def test_resume_continues_to_the_same_metrics(tmp_path):
    base = dict(actor=SMALL, critic=SMALL, n_envs=2, n_steps=32, minibatch_size=32, seed=4, eval_episodes=1)
    run(Config(**base, total_env_steps=256), RunDir(tmp_path / "full"))
    run(Config(**base, total_env_steps=128), RunDir(tmp_path / "part"))
    run(Config(**base, total_env_steps=256), RunDir(tmp_path / "part", resume=True))
    rows = lambda p: [(r["episode"], r["return"]) for r in RunDir(p, resume=True).read_metrics()]  # noqa: E731
    assert rows(tmp_path / "part") == rows(tmp_path / "full")


@pytest.mark.learning
def test_mlp_ppo_learns_cartpole(tmp_path):
    cfg = Config(actor={"type": "mlp", "hidden": [32]}, critic={"type": "mlp", "hidden": [32]},
                 lr={"default": 0.003}, n_envs=4, n_steps=128,
                 total_env_steps=20_000, seed=0, eval_episodes=5)
    run(cfg, RunDir(tmp_path))
    returns = [float(r["return"]) for r in RunDir(tmp_path, resume=True).read_metrics()]
    assert np.mean(returns[:20]) < 40
    # measured last-20 means after 20k steps: 252 (seed 0), 166 (seed 1), 217 (seed 2)
    assert np.mean(returns[-20:]) > 120


@pytest.mark.learning
def test_quantum_actor_ppo_learns_cartpole(tmp_path):
    import yaml

    spec = yaml.safe_load(open("configs/cartpole_vqc_ppo.yaml"))
    spec.pop("algo")
    run(Config(**{**spec, "total_env_steps": 4096, "seed": 1, "eval_episodes": 1}), RunDir(tmp_path))
    returns = [float(r["return"]) for r in RunDir(tmp_path, resume=True).read_metrics()]
    # measured after 4,096 steps (first-20 / last-20 means): seed 0 19 / 96, seed 1 19 / 108, seed 2 24 / 90
    assert np.mean(returns[:20]) < 30
    assert np.mean(returns[-20:]) > 60

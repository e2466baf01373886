import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils.env_checker import check_env

from classical.world_models.envs import FOUR_D_ID, FourDControlEnv, four_d_dynamics, pendulum_reward


def test_four_d_env_follows_the_sketch_dynamics_and_reward():
    env = FourDControlEnv(noise_std=0.0)
    check_env(env, skip_render_check=True)
    x, _ = env.reset(seed=3)
    x = x.astype(float)
    a = np.array([0.4, -0.7])
    obs, reward, terminated, truncated, _ = env.step(a)
    expected = np.array([x[0] + 0.04 + 0.05 * np.sin(x[1]), x[1] - 0.07 + 0.02 * x[0] * x[2],
                         0.9 * x[2] + 0.1 * np.tanh(-0.3), 0.95 * x[3]])
    np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-6)
    assert abs(reward - (-(expected**2).sum() - 0.01 * (a**2).sum())) < 1e-5
    assert not terminated and not truncated
    torch.testing.assert_close(four_d_dynamics(torch.tensor(x), torch.tensor(a)), torch.tensor(expected))


def test_four_d_env_is_registered_and_truncates():
    env = gym.make(FOUR_D_ID, max_steps=5)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


def test_pendulum_reward_matches_gymnasium():
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.uniform(-2, 2, 1).astype(np.float32)
        r_model = float(pendulum_reward(torch.as_tensor(obs)[None], torch.as_tensor(a)[None])[0])
        obs, r, *_ = env.step(a)
        assert abs(r_model - r) < 1e-4

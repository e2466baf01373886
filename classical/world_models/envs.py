"""Environments for the world-model agents.

``FourDControlEnv`` is the course sketch's 4-D continuous control task, written as a
gymnasium environment and registered as ``qrl/FourDControl-v0``. Pendulum-v1 comes
from gymnasium itself; :func:`pendulum_reward` is its reward written in torch so a
planner can use the known reward (PETS-style).
"""

from __future__ import annotations


import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

FOUR_D_ID = "qrl/FourDControl-v0"


class FourDControlEnv(gym.Env):
    """Drive a coupled 4-D state to the origin with a 2-D bounded action.

    Dynamics (one step)::

        x0 += 0.1·a0 + 0.05·sin(x1)
        x1 += 0.1·a1 + 0.02·x0·x2
        x2  = 0.9·x2 + 0.1·tanh(a0 + a1)
        x3  = 0.95·x3 + noise          (noise ~ N(0, noise_std²), uncontrollable)

    Reward ``-‖x‖² - 0.01‖a‖²`` on the state after the step. Actions are clipped to
    ``[-1, 1]²``; the initial state is uniform in ``[-1, 1]⁴``; an episode lasts
    ``max_steps`` steps (truncation, never termination).

    Args:
        max_steps: episode length.
        noise_std: standard deviation of the noise on x3.

    **Example**

    >>> env = FourDControlEnv()
    >>> obs, _ = env.reset(seed=0)
    >>> obs, r, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
    >>> obs.shape, bool(r <= 0)
    ((4,), True)
    """

    metadata = {"render_modes": []}

    def __init__(self, max_steps: int = 50, noise_std: float = 0.01):
        self.max_steps = int(max_steps)
        self.noise_std = float(noise_std)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        self._x = np.zeros(4)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._x = self.np_random.uniform(-1.0, 1.0, size=4)
        self._t = 0
        return self._x.astype(np.float32), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=float).reshape(2), -1.0, 1.0)
        noise = self.np_random.normal(0.0, self.noise_std)
        self._x = four_d_dynamics(self._x, a, noise)
        self._t += 1
        reward = float(-np.sum(self._x**2) - 0.01 * np.sum(a**2))
        truncated = self._t >= self.max_steps
        return self._x.astype(np.float32), reward, False, truncated, {}


def four_d_dynamics(x, a, noise=0.0):
    """One step of the 4-D task for numpy arrays or torch tensors (last axis = features)."""
    lib = torch if isinstance(x, torch.Tensor) else np
    x0, x1, x2, x3 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
    a0, a1 = a[..., 0], a[..., 1]
    n0 = x0 + 0.1 * a0 + 0.05 * lib.sin(x1)
    n1 = x1 + 0.1 * a1 + 0.02 * x0 * x2
    n2 = 0.9 * x2 + 0.1 * lib.tanh(a0 + a1)
    n3 = 0.95 * x3 + noise
    return lib.stack([n0, n1, n2, n3], -1)


def four_d_reward(next_obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The 4-D task's reward from the state after the step and the action (torch)."""
    return -(next_obs**2).sum(-1) - 0.01 * (action**2).sum(-1)


def pendulum_reward(obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Pendulum-v1's reward from the observation *before* the step and the torque.

    ``obs = (cos θ, sin θ, θ̇)``; reward ``-(θ² + 0.1·θ̇² + 0.001·u²)`` with θ in [-π, π].
    """
    theta = torch.atan2(obs[..., 1], obs[..., 0])
    u = action[..., 0].clamp(-2.0, 2.0)
    return -(theta**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2)


def make_env(env_id: str, seed: int | None = None, **kwargs) -> gym.Env:
    """``gym.make`` with a plain error for unknown ids."""
    try:
        env = gym.make(env_id, **kwargs)
    except gym.error.Error as err:
        raise ValueError(f"unknown environment '{env_id}' ({err}); use 'Pendulum-v1' or "
                         f"'{FOUR_D_ID}'.") from None
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


if FOUR_D_ID not in gym.registry:
    gym.register(id=FOUR_D_ID, entry_point=FourDControlEnv, max_episode_steps=None)

def eval_start_seed(seed: int, episode: int) -> int:
    """Reset seed of evaluation episode ``episode`` of a run with ``seed`` (shared by every agent here)."""
    return 10_000 + 1000 * seed + episode


def fixed_policy_return(env_id: str, policy: str, seed: int, episodes: int = 10) -> float:
    """Mean return of the ``"zero"`` action or of ``"random"`` uniform actions on the evaluation
    starts of a run with ``seed``: the floor a learning agent must beat.

    **Example**

    >>> round(fixed_policy_return(FOUR_D_ID, "zero", seed=0, episodes=2), 1) < 0
    True
    """
    if policy not in ("zero", "random"):
        raise ValueError(f"unknown fixed policy '{policy}'; use 'zero' or 'random'.")
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    totals = []
    for i in range(episodes):
        env.reset(seed=eval_start_seed(seed, i))
        total, done = 0.0, False
        while not done:
            action = np.zeros_like(low) if policy == "zero" else rng.uniform(low, high).astype(np.float32)
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        totals.append(total)
    return float(np.mean(totals))


__all__ = ["FourDControlEnv", "FOUR_D_ID", "four_d_dynamics", "four_d_reward",
           "pendulum_reward", "make_env", "eval_start_seed", "fixed_policy_return"]


def known_reward_fn(env_id: str):
    """The known reward ``r(obs, action, next_obs)`` of an environment, for PETS-style planning."""
    if env_id == "Pendulum-v1":
        return lambda obs, action, next_obs: pendulum_reward(obs, action)
    if env_id == FOUR_D_ID:
        return lambda obs, action, next_obs: four_d_reward(next_obs, action)
    raise ValueError(f"no known reward for '{env_id}'; use reward: learned, or one of "
                     f"'Pendulum-v1', '{FOUR_D_ID}'.")

"""Rollout collection and evaluation, written once for every single-agent algorithm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np


CARTPOLE_SCALE = (2.4, 2.5, 0.21, 2.5)   # CartPole's position and angle limits and typical velocities


def make_env(env_id: str, **kwargs) -> gym.Env:
    """``gym.make`` with a message naming the id when it is unknown."""
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as err:
        raise ValueError(f"cannot make environment '{env_id}': {err}") from None


def make_vector_env(env_id: str, n: int, **kwargs) -> gym.vector.SyncVectorEnv:
    """``n`` copies of ``env_id`` stepped together (autoreset on the next step)."""
    make_env(env_id, **kwargs).close()  # fail early with a clear message
    return gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **kwargs) for _ in range(n)])


@dataclass
class Episode:
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    infos: list = field(default_factory=list)

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)


def collect_episodes(envs: gym.vector.VectorEnv, act: Callable[[np.ndarray], np.ndarray],
                     seed: int) -> list[Episode]:
    """Run one episode in every sub-environment of ``envs``.

    ``act`` receives the observations of the still-running environments as one
    batch [n_active, obs_dim] and returns their actions, so a policy is called
    once per vector step however many environments there are.
    """
    n = envs.num_envs
    obs, _ = envs.reset(seed=seed)
    active = np.ones(n, dtype=bool)
    traj = [([], [], [], []) for _ in range(n)]
    while active.any():
        idx = np.flatnonzero(active)
        a_active = np.asarray(act(obs[idx]))
        actions = np.zeros((n, *a_active.shape[1:]), dtype=a_active.dtype)
        actions[idx] = a_active
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        for k, i in enumerate(idx):
            o, a, r, inf = traj[i]
            o.append(obs[i])
            a.append(a_active[k])
            r.append(rewards[i])
            if terminated[i] or truncated[i]:
                active[i] = False
                inf.append({key: infos[key][i] for key in infos if not key.startswith("_")})
        obs = next_obs
    return [Episode(np.asarray(o), np.asarray(a), np.asarray(r, dtype=np.float64), inf)
            for o, a, r, inf in traj]


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = Σ_k γ^k r_{t+k} for one episode."""
    out = np.zeros_like(rewards, dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def evaluate_policy(env_id: str, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int,
                    env_kwargs: dict | None = None,
                    extra: Callable[[dict], dict] | None = None,
                    info_keys: tuple[str, ...] | list[str] = ()) -> list[dict]:
    """Play ``episodes`` episodes with a deterministic ``act``; one row per episode.

    ``info_keys`` copies those entries of the last step's info into the row
    (e.g. ``success``, ``fidelity``; missing keys are left empty); ``extra(info)``
    may add any other task-specific columns.
    """
    env = make_env(env_id, **(env_kwargs or {}))
    rows = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        total, steps, done = 0.0, 0, False
        while not done:
            action = np.asarray(act(np.asarray(obs)[None]))[0]
            obs, r, terminated, truncated, info = env.step(action)
            total += float(r)
            steps += 1
            done = terminated or truncated
        row = {"episode": ep, "return": total, "steps": steps}
        row.update({key: _plain(info[key]) if key in info else None for key in info_keys})
        if extra is not None:
            row.update(extra(info))
        rows.append(row)
    env.close()
    return rows


def _plain(value):
    """A numpy scalar or 0-d array as a Python number, so CSV cells read back cleanly."""
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()

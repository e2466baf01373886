"""FrozenLake with the state index given as bits, for basis-encoded quantum agents.

Chen et al. (2020) encode a discrete state s of FrozenLake as the computational
basis state |b(s)⟩ of ⌈log2 n⌉ qubits. :class:`BinaryObservation` turns the
index into that bit vector (most significant bit first); a circuit with
``encoding: rx`` and ``obs_scale`` 1/π maps bit 1 to RX(π)|0⟩ = −i|1⟩, i.e. the
basis state. It also adds ``info["success"]``: the episode reached the goal.

**Example**

>>> import gymnasium as gym
>>> env = BinaryObservation(gym.make("FrozenLake-v1", is_slippery=False))
>>> env.reset(seed=0)[0].tolist(), env.observation_space.shape
([0.0, 0.0, 0.0, 0.0], (4,))
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np


def bits(index: int, n_bits: int) -> np.ndarray:
    """``index`` as ``n_bits`` floats, most significant first: bits(5, 4) → [0, 1, 0, 1]."""
    return np.array([(index >> (n_bits - 1 - k)) & 1 for k in range(n_bits)], dtype=np.float32)


class BinaryObservation(gym.Wrapper):
    """Discrete observations as bit vectors, plus ``success`` in the info of every step."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        if not isinstance(env.observation_space, gym.spaces.Discrete):
            raise ValueError(f"BinaryObservation needs a Discrete observation space, not {env.observation_space}.")
        self.n_bits = max(1, math.ceil(math.log2(env.observation_space.n)))
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.n_bits,), dtype=np.float32)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return bits(int(obs), self.n_bits), {**info, "success": False}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return bits(int(obs), self.n_bits), reward, terminated, truncated, {**info, "success": bool(reward > 0)}


def frozen_lake_bits(**kwargs) -> gym.Env:
    """``FrozenLake-v1`` (4x4 unless ``map_name`` says otherwise) with bit observations."""
    return BinaryObservation(gym.make("FrozenLake-v1", **kwargs))

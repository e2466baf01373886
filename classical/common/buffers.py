"""Replay buffers, written once for every off-policy agent."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch


class ReplayBuffer:
    """A fixed-size ring buffer of named arrays.

    Fields are declared by the first :meth:`add` call (their trailing shapes and
    dtypes); every later call must match. Sampling returns torch tensors.

    **Example**

    >>> buf = ReplayBuffer(capacity=4)
    >>> buf.add(obs=np.zeros((2, 3)), reward=np.ones(2))   # a batch of two
    >>> len(buf), buf.sample(2, np.random.default_rng(0))["obs"].shape
    (2, torch.Size([2, 3]))
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data: dict[str, np.ndarray] = {}
        self._pos = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, **batch: np.ndarray) -> None:
        """Add a batch of transitions; every field has the batch on its first axis."""
        arrays = {k: np.asarray(v) for k, v in batch.items()}
        n = len(next(iter(arrays.values())))
        if not self._data:
            self._data = {k: np.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
                          for k, v in arrays.items()}
        idx = (self._pos + np.arange(n)) % self.capacity
        for k, v in arrays.items():
            self._data[k][idx] = v
        self._pos = (self._pos + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self._size, size=batch_size)
        return {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}

    def sample_n_step(self, batch_size: int, n: int, gamma: float, rng: np.random.Generator,
                      reward: str = "reward", next_keys: tuple[str, ...] = ("next_obs", "terminated", "truncated"),
                      ) -> dict[str, torch.Tensor]:
        """Random transitions with ``n``-step returns, cut at episode ends and at the newest transition.

        Needs ``terminated`` and ``truncated`` fields and transitions added in time
        order from one environment. For a sampled start ``t`` the batch holds every
        field of step ``t``, except: ``reward`` = sum over the ``k <= n`` steps taken of
        ``gamma^j r_{t+j}``; the ``next_keys`` fields of step ``t+k-1``; ``discount`` =
        ``gamma^k`` (the weight of the bootstrapped value); ``n_steps`` = k; and
        ``step_<reward>`` = ``r_t``. A step that ends its episode (terminated or
        truncated) is the last one summed.

        **Example**

        >>> buf = ReplayBuffer(capacity=8)
        >>> for t in range(3):
        ...     buf.add(obs=np.full((1, 1), t), reward=np.ones(1), next_obs=np.full((1, 1), t + 1),
        ...             terminated=np.zeros(1), truncated=np.array([t == 2]))
        >>> b = buf.sample_n_step(1, n=5, gamma=0.5, rng=np.random.default_rng(1))   # starts at t = 1
        >>> b["reward"].tolist(), b["discount"].tolist(), b["next_obs"].tolist()
        ([1.5], [0.25], [[3]])
        """
        start = rng.integers(0, self._size, size=batch_size)
        steps = np.arange(n)
        idx = (start[:, None] + steps) % self.capacity                       # [B, n]
        newer = (self._pos - 1 - start) % self.capacity                       # transitions after the start
        ends = (self._data["terminated"][idx] + self._data["truncated"][idx]) > 0
        ended_before = np.cumsum(ends, axis=1) - ends > 0                     # an episode end at an earlier step
        taken = (steps[None] <= newer[:, None]) & ~ended_before               # [B, n], first column always True
        k = taken.sum(1)
        last = idx[np.arange(batch_size), k - 1]
        weights = np.where(taken, gamma ** steps, 0.0).astype(np.float32)     # [B, n]
        out = {key: v[start] for key, v in self._data.items()}
        out[f"step_{reward}"] = out[reward]
        out[reward] = np.einsum("bj,bj...->b...", weights, self._data[reward][idx])
        out.update(discount=(gamma ** k).astype(np.float32), n_steps=k.astype(np.float32),
                   **{key: self._data[key][last] for key in next_keys})
        return {key: torch.as_tensor(v) for key, v in out.items()}

    def state_dict(self) -> dict:
        return {"data": {k: v[: self._size].copy() if self._size < self.capacity else v.copy()
                         for k, v in self._data.items()},
                "pos": self._pos, "size": self._size}

    def load_state_dict(self, state: Mapping) -> None:
        self._pos, self._size = state["pos"], state["size"]
        self._data = {}
        for k, v in state["data"].items():
            full = np.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
            full[: len(v)] = v
            self._data[k] = full

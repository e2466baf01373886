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

"""The multi-agent replay buffer: joint transitions on top of the common ring buffer."""

from __future__ import annotations

import numpy as np
import torch

from classical.common.buffers import ReplayBuffer


class MultiAgentReplayBuffer(ReplayBuffer):
    """Joint transitions ``(obs[N, D], state, actions[N], rewards[N], next_obs, next_state, terminated, truncated)``.

    Off-policy learners sample from it; on-policy learners (COMA) read the
    transitions of the last episodes in order with :meth:`recent` and then
    :meth:`clear` it.

    **Example**

    >>> buf = MultiAgentReplayBuffer(capacity=10)
    >>> z = np.zeros((2, 3), np.float32)
    >>> buf.add_step(z, np.zeros(4), np.array([0, 1]), np.ones(2), z, np.zeros(4), False)
    >>> buf.recent(1)["actions"].tolist()
    [[0, 1]]
    """

    def add_step(self, obs, state, actions, rewards, next_obs, next_state, terminated,
                 truncated: bool = False) -> None:
        """Add one joint transition; ``terminated`` stops bootstrapping, ``truncated`` marks a time limit."""
        self.add(obs=np.asarray(obs, np.float32)[None], state=np.asarray(state, np.float32)[None],
                 actions=np.asarray(actions, np.int64)[None], rewards=np.asarray(rewards, np.float32)[None],
                 next_obs=np.asarray(next_obs, np.float32)[None],
                 next_state=np.asarray(next_state, np.float32)[None],
                 terminated=np.asarray([terminated], np.float32),
                 truncated=np.asarray([truncated], np.float32))

    def recent(self, n: int) -> dict[str, torch.Tensor]:
        """The last ``n`` transitions in the order they were added."""
        n = min(n, len(self))
        idx = (self._pos - n + np.arange(n)) % self.capacity
        return {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}

    def clear(self) -> None:
        self._pos = self._size = 0

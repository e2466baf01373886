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
        """Add one joint transition; ``terminated`` stops bootstrapping, ``truncated`` marks a time limit.

        Discrete actions ``[N]`` are stored as integers, continuous ones ``[N, A]`` as floats.
        """
        actions = np.asarray(actions)
        actions = actions.astype(np.float32 if np.issubdtype(actions.dtype, np.floating) else np.int64)
        self.add(obs=np.asarray(obs, np.float32)[None], state=np.asarray(state, np.float32)[None],
                 actions=actions[None], rewards=np.asarray(rewards, np.float32)[None],
                 next_obs=np.asarray(next_obs, np.float32)[None],
                 next_state=np.asarray(next_state, np.float32)[None],
                 terminated=np.asarray([terminated], np.float32),
                 truncated=np.asarray([truncated], np.float32))

    def sample_n_step(self, batch_size: int, n: int, gamma: float, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Random joint transitions with ``n``-step returns (:meth:`ReplayBuffer.sample_n_step`).

        ``rewards`` are summed per agent; ``next_obs``, ``next_state``, ``terminated`` and
        ``truncated`` come from the last step taken; ``step_rewards`` holds ``r_t``.

        **Example**

        >>> buf = MultiAgentReplayBuffer(capacity=8)
        >>> z = np.zeros((1, 2), np.float32)
        >>> for t in range(3):
        ...     buf.add_step(z, np.zeros(1), np.array([0]), np.ones(1), z + t + 1, np.zeros(1), False, t == 2)
        >>> b = buf.sample_n_step(1, n=5, gamma=0.5, rng=np.random.default_rng(1))   # starts at t = 1
        >>> b["rewards"].tolist(), b["discount"].tolist(), b["next_obs"][0, 0, 0].item()
        ([[1.5]], [0.25], 3.0)
        """
        return super().sample_n_step(batch_size, n, gamma, rng, reward="rewards",
                                     next_keys=("next_obs", "next_state", "terminated", "truncated"))

    def recent(self, n: int) -> dict[str, torch.Tensor]:
        """The last ``n`` transitions in the order they were added."""
        n = min(n, len(self))
        idx = (self._pos - n + np.arange(n)) % self.capacity
        return {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}

    def clear(self) -> None:
        self._pos = self._size = 0

"""Replay buffers, written once for every off-policy agent."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016).

    Transition i is drawn with probability P(i) = p_i^α / Σ_j p_j^α, p_i = |δ_i| + ε from its
    last TD error (new transitions get the largest priority so far, so each is replayed at
    least once soon); the batch carries importance weights w_i = (N · P(i))^(−β) / max_j w_j
    (max over the buffer, so weights only scale updates down) and the sampled ``indices``, and
    the learner hands the new TD errors back through :meth:`update_priorities`. β rises
    linearly from ``beta`` to 1 over ``beta_steps`` samples. Sampling is an O(N) draw from
    the normalised priorities (no sum tree: buffers here hold tens of thousands).

    **Example**

    >>> buf = PrioritizedReplayBuffer(capacity=4, alpha=1.0, beta=1.0)
    >>> buf.add(x=np.arange(3.0))
    >>> buf.update_priorities(np.array([0, 1, 2]), np.array([1.0, 3.0, 0.0]), eps=0.0)
    >>> buf.probabilities().tolist()
    [0.25, 0.75, 0.0]
    """

    def __init__(self, capacity: int, alpha: float = 0.6, beta: float = 0.4, beta_steps: int = 100_000,
                 eps: float = 1e-3):
        super().__init__(capacity)
        for name, value, ok, rule in (("alpha", alpha, lambda v: v >= 0, ">= 0"),
                                      ("beta", beta, lambda v: 0 <= v <= 1, "in [0, 1]"),
                                      ("beta_steps", beta_steps, lambda v: v > 0, "> 0"),
                                      ("eps", eps, lambda v: v >= 0, ">= 0")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ValueError(f"option '{name}' = {value!r} must be a number {rule}")
        self.alpha, self.beta0, self.beta_steps, self.eps = alpha, beta, beta_steps, eps
        self.priorities = np.zeros(self.capacity)
        self.samples_drawn = 0

    def add(self, **batch: np.ndarray) -> None:
        n = len(next(iter(batch.values())))
        idx = (self._pos + np.arange(n)) % self.capacity
        top = self.priorities[: self._size].max() if self._size else 1.0
        super().add(**batch)
        self.priorities[idx] = top

    def probabilities(self) -> np.ndarray:
        """P(i) over the stored transitions."""
        p = self.priorities[: self._size] ** self.alpha
        return p / p.sum()

    @property
    def beta(self) -> float:
        return min(1.0, self.beta0 + (1.0 - self.beta0) * self.samples_drawn / self.beta_steps)

    def importance_weights(self, idx: np.ndarray) -> np.ndarray:
        """(N · P(i))^(−β), divided by the largest weight over the buffer."""
        probs = self.probabilities()
        n = self._size
        positive = probs[probs > 0]
        w_max = (n * positive.min()) ** (-self.beta)
        return ((n * probs[idx]) ** (-self.beta) / w_max).astype(np.float32)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.choice(self._size, size=batch_size, p=self.probabilities())
        out = {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}
        out["weights"] = torch.as_tensor(self.importance_weights(idx))
        out["indices"] = torch.as_tensor(idx)
        self.samples_drawn += batch_size
        return out

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray, eps: float | None = None) -> None:
        self.priorities[np.asarray(idx)] = np.abs(np.asarray(td_errors, dtype=float)) + \
            (self.eps if eps is None else eps)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "priorities": self.priorities[: self._size].tolist(),
                "samples_drawn": self.samples_drawn}

    def load_state_dict(self, state: Mapping) -> None:
        super().load_state_dict(state)
        self.priorities = np.zeros(self.capacity)
        self.priorities[: len(state["priorities"])] = state["priorities"]
        self.samples_drawn = state["samples_drawn"]


_BUFFERS: dict[str, Callable[..., ReplayBuffer]] = {"uniform": ReplayBuffer, "prioritized": PrioritizedReplayBuffer}


def register_buffer(kind: str, factory: Callable[..., ReplayBuffer]) -> None:
    """Make ``replay: {type: kind, ...}`` build ``factory(capacity, **options)``."""
    _BUFFERS[kind] = factory


def build_buffer(spec: Mapping, capacity: int) -> ReplayBuffer:
    """The replay buffer of a ``replay:`` config mapping, e.g. ``{type: prioritized, alpha: 0.6}``."""
    options = dict(spec)
    kind = options.pop("type", "uniform")
    if kind not in _BUFFERS:
        hint = " (type quantum registers itself when qrl.models is imported; the qrl CLI does this)" \
            if kind == "quantum" else ""
        raise ValueError(f"replay type '{kind}' is unknown; use one of {sorted(_BUFFERS)}{hint}.")
    import inspect

    params = inspect.signature(_BUFFERS[kind]).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [n for n in params if n != "capacity"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"replay type '{kind}' has no option {', '.join(map(repr, unknown))}; its options are "
                             f"{', '.join(known) or 'none'}.")
    try:
        return _BUFFERS[kind](capacity, **options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"replay type '{kind}': {err}.") from None

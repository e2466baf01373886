"""A causal world model: one learned mechanism per state variable, following a graph.

The dynamics ``s_{t+1} = f(s_t, a_t) + u_t`` are factorised along a causal graph over
state variables: ``s_{t+1, j} = f_j(s_{t, pa(j)}, a_t) + u_{t, j}``, each ``f_j`` its own
small network (linear with ``hidden=()``). Because every variable has its own
mechanism,

* :meth:`CausalWorldModel.intervene` can replace a mechanism by a constant — the
  incoming edges are cut and nothing else changes — which a monolithic model
  ``f(s, a)`` cannot express;
* :meth:`CausalWorldModel.counterfactual_rollout` answers "what would this
  trajectory have been had the actions (or an intervention) differed": the noise
  ``u_t`` of the observed trajectory is abducted (additive noise) and replayed;
* mechanisms learn from :class:`InterventionalDataset` correctly: a sample whose
  ``s_{t+1, j}`` was set by an intervention says nothing about ``f_j`` and is left out
  of ``f_j``'s loss, while it still informs the mechanisms of ``j``'s children.

The graph is given, or found from data with :func:`discover_parents` (PC skeleton
between ``s_t`` and ``s_{t+1}``; time orients every edge).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from classical.causal.pc import pc_skeleton


@dataclass
class InterventionalDataset:
    """Transitions ``(s, a, s')`` with a mask of the next-state variables set by ``do()``.

    Args:
        states: ``N × d`` states ``s_t``.
        actions: ``N × k`` actions ``a_t`` (use one-hot for discrete actions).
        next_states: ``N × d`` states ``s_{t+1}``.
        intervened: ``N × d`` booleans, ``True`` where ``s_{t+1, j}`` was set by an
            intervention; ``None`` means purely observational data.

    **Example**

    >>> ds = InterventionalDataset(np.zeros((4, 2)), np.zeros((4, 1)), np.ones((4, 2)),
    ...                            intervened=np.array([[1, 0]] * 2 + [[0, 0]] * 2, bool))
    >>> len(ds), len(ds.observational()), int(ds.mechanism_rows(0).sum())
    (4, 2, 2)
    """

    states: np.ndarray
    actions: np.ndarray
    next_states: np.ndarray
    intervened: np.ndarray | None = None

    def __post_init__(self):
        self.states = np.asarray(self.states, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.actions.ndim == 1:
            self.actions = self.actions[:, None]
        self.next_states = np.asarray(self.next_states, dtype=np.float32)
        n, d = self.states.shape
        if self.intervened is None:
            self.intervened = np.zeros((n, d), dtype=bool)
        self.intervened = np.asarray(self.intervened, dtype=bool)
        if not (len(self.actions) == len(self.next_states) == len(self.intervened) == n):
            raise ValueError("states, actions, next_states and intervened must have the same number "
                             f"of rows (got {n}, {len(self.actions)}, {len(self.next_states)}, "
                             f"{len(self.intervened)}).")
        if self.next_states.shape[1] != d or self.intervened.shape[1] != d:
            raise ValueError("next_states and intervened need one column per state variable "
                             f"({d}); check their shapes.")

    def __len__(self) -> int:
        return len(self.states)

    def mechanism_rows(self, j: int) -> np.ndarray:
        """Rows whose ``s_{t+1, j}`` came from its own mechanism."""
        return ~self.intervened[:, j]

    def observational(self) -> InterventionalDataset:
        keep = ~self.intervened.any(axis=1)
        return InterventionalDataset(self.states[keep], self.actions[keep],
                                     self.next_states[keep], self.intervened[keep])

    def concat(self, other: InterventionalDataset) -> InterventionalDataset:
        return InterventionalDataset(np.vstack([self.states, other.states]),
                                     np.vstack([self.actions, other.actions]),
                                     np.vstack([self.next_states, other.next_states]),
                                     np.vstack([self.intervened, other.intervened]))


def discover_parents(data: InterventionalDataset, alpha: float = 0.01) -> np.ndarray:
    """State-to-next-state parents from observational transitions.

    Runs the PC skeleton on ``[s_t, a_t, s_{t+1}]`` and keeps the adjacencies from a
    ``s_{t, i}`` to a ``s_{t+1, j}``; time orients them ``i → j``.

    Returns:
        ``d × d`` 0/1 matrix, ``A[i, j] = 1`` meaning ``s_{t, i}`` is a parent of ``s_{t+1, j}``.
    """
    obs = data.observational()
    d = obs.states.shape[1]
    k = obs.actions.shape[1]
    cols = np.hstack([obs.states, obs.actions, obs.next_states]).astype(float)
    keep = cols.std(0) > 0        # a constant action column carries no information
    skeleton, _ = pc_skeleton(cols[:, keep], alpha=alpha)
    full = np.zeros((cols.shape[1], cols.shape[1]), dtype=int)
    full[np.ix_(keep, keep)] = skeleton
    return full[:d, d + k:]


class _Mechanism(nn.Module):
    def __init__(self, n_in: int, hidden: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        sizes = [n_in, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class CausalWorldModel(nn.Module):
    """Per-variable mechanisms ``s_{t+1, j} = f_j(s_{t, pa(j)}, a_t) + u_j``.

    Args:
        parents: ``d × d`` matrix, ``parents[i, j] != 0`` if ``s_{t, i}`` causes ``s_{t+1, j}``.
        action_dim: size of the action vector.
        hidden: hidden sizes of each mechanism; ``()`` gives linear mechanisms.
        action_parents: which variables the action drives (default: all).

    **Example**

    >>> wm = CausalWorldModel(np.eye(2), action_dim=1, hidden=())
    >>> wm.intervene({1: 3.0}).predict(np.zeros((5, 2)), np.zeros((5, 1)))[:, 1]
    array([3., 3., 3., 3., 3.], dtype=float32)
    """

    def __init__(self, parents: np.ndarray, action_dim: int, hidden: Sequence[int] = (32,),
                 action_parents: Sequence[bool] | None = None):
        super().__init__()
        self.parents = (np.asarray(parents) != 0)
        d = self.parents.shape[0]
        if self.parents.shape != (d, d):
            raise ValueError(f"parents must be a square d × d matrix, got shape {self.parents.shape}.")
        self.d, self.action_dim = d, int(action_dim)
        self.action_parents = np.ones(d, bool) if action_parents is None \
            else np.asarray(action_parents, bool)
        self.mechanisms = nn.ModuleList(
            _Mechanism(int(self.parents[:, j].sum()) + self.action_dim * int(self.action_parents[j]),
                       hidden) for j in range(d))
        self.register_buffer("noise_std", torch.ones(d))
        self.interventions: dict[int, float] = {}

    # -- the mechanisms ------------------------------------------------------
    def _inputs(self, s: torch.Tensor, a: torch.Tensor, j: int) -> torch.Tensor:
        parts = [s[:, np.flatnonzero(self.parents[:, j])]]
        if self.action_parents[j]:
            parts.append(a)
        return torch.cat(parts, dim=1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Next-state means; intervened variables take their fixed values."""
        cols = []
        for j in range(self.d):
            if j in self.interventions:
                cols.append(torch.full((len(s),), self.interventions[j], dtype=s.dtype))
            else:
                cols.append(self.mechanisms[j](self._inputs(s, a, j)))
        return torch.stack(cols, dim=1)

    def fit(self, data: InterventionalDataset, epochs: int = 300, lr: float = 0.02,
            seed: int = 0) -> list[float]:
        """Full-batch Adam on each mechanism's squared error over its non-intervened rows.

        Returns the mean training MSE per epoch; sets :attr:`noise_std` from the residuals.
        """
        torch.manual_seed(seed)
        s = torch.as_tensor(data.states)
        a = torch.as_tensor(data.actions)
        target = torch.as_tensor(data.next_states)
        mask = torch.as_tensor(~data.intervened, dtype=torch.float32)
        if (mask.sum(0) == 0).any():
            j = int(torch.nonzero(mask.sum(0) == 0)[0])
            raise ValueError(f"variable {j} is intervened on in every sample, so its mechanism "
                             "cannot be learned; add observational transitions.")
        opt = torch.optim.Adam(self.mechanisms.parameters(), lr=lr)
        saved, self.interventions = self.interventions, {}
        history = []
        for _ in range(epochs):
            pred = self(s, a)
            per_var = ((pred - target) ** 2 * mask).sum(0) / mask.sum(0)
            loss = per_var.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(per_var.detach().mean()))
        with torch.no_grad():
            resid = (self(s, a) - target) * mask
            self.noise_std.copy_(torch.sqrt((resid ** 2).sum(0) / mask.sum(0)))
        self.interventions = saved
        return history

    @torch.no_grad()
    def predict(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Next-state means for a batch (numpy in, numpy out)."""
        s = torch.as_tensor(np.asarray(states, np.float32)).reshape(-1, self.d)
        a = torch.as_tensor(np.asarray(actions, np.float32)).reshape(len(s), -1)
        return self(s, a).numpy()

    # -- interventions and rollouts -----------------------------------------
    def intervene(self, interventions: Mapping[int, float]) -> CausalWorldModel:
        """A model sharing these mechanisms in which each ``s_j`` in ``interventions`` is held
        at its value (at every step, the initial state included): its incoming edges are cut."""
        bad = [j for j in interventions if not 0 <= int(j) < self.d]
        if bad:
            raise ValueError(f"cannot intervene on variables {bad}; indices run 0..{self.d - 1}.")
        twin = copy.copy(self)     # shares the mechanism modules and noise_std
        twin.interventions = {**self.interventions,
                              **{int(j): float(v) for j, v in interventions.items()}}
        return twin

    def _hold(self, s: np.ndarray) -> np.ndarray:
        s = s.copy()
        for j, v in self.interventions.items():
            s[..., j] = v
        return s

    def rollout(self, s0: np.ndarray, actions: np.ndarray,
                rng: np.random.Generator | int | None = None,
                noise: np.ndarray | None = None) -> np.ndarray:
        """Simulate ``T`` steps from ``s0``: ``(T + 1) × d`` states.

        Noise comes from ``noise`` (``T × d``) if given, else Gaussian with the fitted
        :attr:`noise_std` drawn from ``rng``, else none (mean dynamics) if both are ``None``.
        """
        actions = np.asarray(actions, np.float32).reshape(len(actions), -1)
        T = len(actions)
        if noise is None and rng is not None:
            noise = np.random.default_rng(rng).standard_normal((T, self.d)) * self.noise_std.numpy()
        out = np.zeros((T + 1, self.d), dtype=np.float32)
        out[0] = self._hold(np.asarray(s0, np.float32))
        for t in range(T):
            nxt = self.predict(out[t][None], actions[t][None])[0]
            if noise is not None:
                nxt = nxt + noise[t]
            out[t + 1] = self._hold(nxt)
        return out

    def abduct(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The noise ``u_t = s_{t+1} − f(s_t, a_t)`` of an observed trajectory (``T × d``)."""
        states = np.asarray(states, np.float32)
        actions = np.asarray(actions, np.float32).reshape(len(actions), -1)
        if len(states) != len(actions) + 1:
            raise ValueError(f"a trajectory of {len(actions)} actions needs {len(actions) + 1} "
                             f"states, got {len(states)}.")
        factual = copy.copy(self)
        factual.interventions = {}
        return states[1:] - factual.predict(states[:-1], actions)

    def counterfactual_rollout(self, states: np.ndarray, actions: np.ndarray,
                               interventions: Mapping[int, float] | None = None,
                               counterfactual_actions: np.ndarray | None = None) -> np.ndarray:
        """Abduction, action, prediction along a trajectory.

        Args:
            states: observed ``(T + 1) × d`` states.
            actions: the ``T`` actions actually taken.
            interventions: variables to hold fixed in the counterfactual world.
            counterfactual_actions: the actions to take instead (default: the same).

        Returns:
            The ``(T + 1) × d`` counterfactual trajectory; with no change it reproduces
            ``states``.
        """
        noise = self.abduct(states, actions)
        model = self.intervene(interventions or {})
        acts = actions if counterfactual_actions is None else counterfactual_actions
        return model.rollout(np.asarray(states)[0], acts, noise=noise)

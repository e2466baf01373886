"""Cross-entropy-method model-predictive control, vectorised over candidates and batch.

The planner scores whole action sequences in a model: ``step_fn(states, actions)``
returns the next states, the rewards and (optionally) continue probabilities for a
flat batch of ``B·N`` rollouts at once, so one planning iteration is ``horizon``
batched model calls, never a Python loop over candidates or batch items. The model
can be a known simulator with a known reward (PETS-style), a learned dynamics model,
or an RSSM in latent space (states may be a tuple of tensors).

Fixes to the course sketch: the plan is warm-started by shifting the previous plan
one step (not re-sampled from scratch), actions stay inside their bounds, rewards
are discounted and multiplied by the predicted continue probabilities.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

State = torch.Tensor | tuple[torch.Tensor, ...]
# step_fn(states [M, ...], actions [M, A]) -> (next_states, reward [M], continue [M] or None)
StepFn = Callable[[State, torch.Tensor], tuple[State, torch.Tensor, torch.Tensor | None]]


def _map(state: State, fn) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _batch_size(state: State) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[0]


def rollout_returns(step_fn: StepFn, state: State, actions: torch.Tensor, discount: float = 1.0,
                    terminal_value: Callable[[State], torch.Tensor] | None = None) -> torch.Tensor:
    """Discounted model returns of ``M`` action sequences ``actions [M, H, A]`` from ``state [M, ...]``.

    Return ``Σ_t γ^t (Π_{k<t} c_k) r_t + γ^H (Π c) V(s_H)``: each reward is weighted by the
    probability that the episode is still running (``c`` = continue probability).
    """
    m, horizon = actions.shape[:2]
    total = torch.zeros(m, dtype=actions.dtype, device=actions.device)
    weight = torch.ones_like(total)
    for t in range(horizon):
        state, reward, cont = step_fn(state, actions[:, t])
        total = total + weight * reward
        weight = weight * discount * (cont if cont is not None else 1.0)
    if terminal_value is not None:
        total = total + weight * terminal_value(state)
    return total


@torch.no_grad()
def cem_plan(step_fn: StepFn, state: State, horizon: int, low: Sequence[float] | torch.Tensor,
             high: Sequence[float] | torch.Tensor, n_candidates: int = 500, n_elites: int = 50,
             n_iters: int = 5, discount: float = 1.0, init_mean: torch.Tensor | None = None,
             init_std: float | torch.Tensor | None = None, momentum: float = 0.1,
             terminal_value: Callable[[State], torch.Tensor] | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Plan action sequences for a batch of states with the cross-entropy method.

    Args:
        step_fn: the model, called on ``B·N`` states and actions at once.
        state: the current states, a tensor ``[B, ...]`` or a tuple of such tensors.
        horizon: planning horizon ``H``.
        low, high: action bounds, each of length ``A``.
        n_candidates: sequences sampled per state and iteration (``N``).
        n_elites: best sequences refitting the sampling distribution.
        n_iters: CEM iterations.
        discount: ``γ`` for the model rewards.
        init_mean: ``[B, H, A]`` starting mean (warm start); the bounds' middle if ``None``.
        init_std: starting standard deviation; half the bound width if ``None``.
        momentum: weight of the old mean/std in each refit (0 = replace).
        terminal_value: optional ``V(s_H)`` added to each sequence's return.
        generator: torch generator for the samples (reproducible planning).

    Returns:
        ``(plan, best_return)``: the final mean sequence ``[B, H, A]`` and the best
        candidate's return ``[B]`` in the last iteration.

    **Example**

    >>> step = lambda s, a: (s + a, -((s + a) ** 2).sum(-1), None)
    >>> plan, _ = cem_plan(step, torch.tensor([[0.5]]), horizon=3, low=[-1.0], high=[1.0])
    >>> round(float(plan[0, 0, 0]), 1)
    -0.5
    """
    low = torch.as_tensor(low, dtype=torch.float32)
    high = torch.as_tensor(high, dtype=torch.float32)
    batch, n_actions = _batch_size(state), low.numel()
    if n_elites > n_candidates:
        raise ValueError(f"n_elites={n_elites} exceeds n_candidates={n_candidates}; lower n_elites.")
    mean = ((low + high) / 2).expand(batch, horizon, n_actions).clone() if init_mean is None \
        else init_mean.clone()
    std = ((high - low) / 2 if init_std is None else torch.as_tensor(init_std)) \
        * torch.ones(batch, horizon, n_actions)
    # every candidate starts from its batch item's state: [B, ...] -> [B·N, ...]
    flat_state = _map(state, lambda s: s.repeat_interleave(n_candidates, 0))
    best = torch.full((batch,), -float("inf"))
    for _ in range(n_iters):
        noise = torch.randn(batch, n_candidates, horizon, n_actions, generator=generator)
        actions = mean[:, None] + std[:, None] * noise
        actions[:, 0] = mean  # keep the current mean (the shifted old plan) as a candidate
        actions = torch.maximum(torch.minimum(actions, high), low)
        returns = rollout_returns(step_fn, flat_state, actions.reshape(-1, horizon, n_actions),
                                  discount, terminal_value).reshape(batch, n_candidates)
        returns = torch.nan_to_num(returns, nan=-float("inf"))
        top, idx = returns.topk(n_elites, dim=1)
        elites = torch.gather(actions, 1, idx[:, :, None, None].expand(-1, -1, horizon, n_actions))
        mean = momentum * mean + (1 - momentum) * elites.mean(1)
        std = momentum * std + (1 - momentum) * elites.std(1)
        best = top[:, 0]
    return mean, best


class CEMPlanner:
    """Receding-horizon controller around :func:`cem_plan` with a warm start.

    Each call plans for the current states, returns the first action and keeps the
    rest of the plan, shifted by one step (the new last step starts at the bounds'
    middle), as the next call's starting mean. Call :meth:`reset` at episode starts.

    Args:
        step_fn: the model (see :func:`cem_plan`).
        low, high: action bounds.
        horizon, n_candidates, n_elites, n_iters, discount, momentum: as in :func:`cem_plan`.
        terminal_value: optional value of the last planned state.
        seed: seed of the planner's own torch generator.

    **Example**

    >>> step = lambda s, a: (s + a, -((s + a) ** 2).sum(-1), None)
    >>> planner = CEMPlanner(step, low=[-1.0], high=[1.0], horizon=3)
    >>> planner.act(torch.tensor([[0.5]])).shape
    torch.Size([1, 1])
    """

    def __init__(self, step_fn: StepFn, low, high, horizon: int = 12, n_candidates: int = 500,
                 n_elites: int = 50, n_iters: int = 5, discount: float = 1.0,
                 momentum: float = 0.1, terminal_value=None, seed: int = 0):
        self.step_fn = step_fn
        self.low = torch.as_tensor(low, dtype=torch.float32).reshape(-1)
        self.high = torch.as_tensor(high, dtype=torch.float32).reshape(-1)
        self.horizon, self.n_candidates, self.n_elites = horizon, n_candidates, n_elites
        self.n_iters, self.discount, self.momentum = n_iters, discount, momentum
        self.terminal_value = terminal_value
        self.generator = torch.Generator().manual_seed(seed)
        self._plan: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the previous plan (start of an episode)."""
        self._plan = None

    def act(self, state: State) -> torch.Tensor:
        """First action ``[B, A]`` of the plan for ``state``."""
        batch = _batch_size(state)
        init = None
        if self._plan is not None and self._plan.shape[0] == batch:
            middle = ((self.low + self.high) / 2).expand(batch, 1, -1)
            init = torch.cat([self._plan[:, 1:], middle], 1)
        plan, _ = cem_plan(self.step_fn, state, self.horizon, self.low, self.high,
                           self.n_candidates, self.n_elites, self.n_iters, self.discount,
                           init_mean=init, momentum=self.momentum,
                           terminal_value=self.terminal_value, generator=self.generator)
        self._plan = plan
        return plan[:, 0]

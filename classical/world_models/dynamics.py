"""Learned dynamics and reward models on (observation, action) for model-predictive control.

An ensemble of MLPs (``ensemble_size=1`` is a single MLP) predicts the normalised
change of the observation and the reward from the normalised observation and action.
All ensemble members run as one batched matrix product, so planning with 500
candidates costs one call per planning step, not one per member or candidate.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied to ``x [E, B, in]`` in one batched product."""

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / np.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class Normaliser(nn.Module):
    """Per-feature mean and standard deviation, fitted to data and saved with the model."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.std + self.mean


class DynamicsModel(nn.Module):
    """Ensemble MLP predicting ``next_obs - obs`` and the reward from ``(obs, action)``.

    Args:
        obs_dim, action_dim: sizes of observation and action.
        hidden: the hidden widths (a list), or one width repeated ``n_layers`` times.
        n_layers: number of hidden layers when ``hidden`` is one width.
        ensemble_size: number of members; predictions are their mean.

    **Example**

    >>> model = DynamicsModel(3, 1, hidden=16)
    >>> obs, act = torch.randn(64, 3), torch.randn(64, 1)
    >>> _ = model.fit(obs, act, obs + 0.1 * act, -obs.pow(2).sum(1), n_steps=5)
    >>> next_obs, reward = model(obs[:2], act[:2])
    >>> next_obs.shape, reward.shape
    (torch.Size([2, 3]), torch.Size([2]))
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: int | Sequence[int] = 200, n_layers: int = 2,
                 ensemble_size: int = 1):
        super().__init__()
        self.obs_dim, self.action_dim, self.ensemble_size = obs_dim, action_dim, ensemble_size
        dims = [obs_dim + action_dim] + ([hidden] * n_layers if isinstance(hidden, int) else list(hidden))
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [EnsembleLinear(ensemble_size, a, b), nn.SiLU()]
        layers.append(EnsembleLinear(ensemble_size, dims[-1], obs_dim + 1))
        self.net = nn.Sequential(*layers)
        self.input_norm = Normaliser(obs_dim + action_dim)
        self.target_norm = Normaliser(obs_dim + 1)

    def _raw(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(torch.cat([obs, action], -1))
        return self.net(x.expand(self.ensemble_size, *x.shape))  # [E, B, obs_dim + 1]

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted ``(next_obs [B, obs_dim], reward [B])``, averaged over the ensemble."""
        out = self.target_norm.inverse(self._raw(obs, action).mean(0))
        return obs + out[:, :-1], out[:, -1]

    def fit(self, obs, action, next_obs, reward, n_steps: int = 500, batch_size: int = 256,
            lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
            generator: torch.Generator | None = None) -> float:
        """Refit normalisers and train on all data; return the last minibatch's mean squared error.

        Each ensemble member draws its own minibatches (a bootstrap over steps).
        """
        obs, action, next_obs, reward = (torch.as_tensor(v, dtype=torch.float32)
                                         for v in (obs, action, next_obs, reward))
        target = torch.cat([next_obs - obs, reward.reshape(-1, 1)], -1)
        self.input_norm.fit(torch.cat([obs, action], -1))
        self.target_norm.fit(target)
        x_all = self.input_norm(torch.cat([obs, action], -1))
        y_all = self.target_norm(target)
        optimizer = optimizer or torch.optim.Adam(self.parameters(), lr=lr)
        n = len(obs)
        loss = torch.tensor(float("nan"))
        for _ in range(n_steps):
            idx = torch.randint(0, n, (self.ensemble_size, min(batch_size, n)), generator=generator)
            loss = ((self.net(x_all[idx]) - y_all[idx]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return loss.item()

    def step_fn(self, reward_fn=None):
        """A planner's ``step_fn`` using this model; ``reward_fn(obs, action, next_obs)`` replaces
        the learned reward when given (PETS-style)."""
        def step(obs: torch.Tensor, action: torch.Tensor):
            next_obs, reward = self(obs, action)
            if reward_fn is not None:
                reward = reward_fn(obs, action, next_obs)
            return next_obs, reward, None
        return step

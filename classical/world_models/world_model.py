"""A latent world model around the RSSM, and a replay of sequences to train it.

``WorldModel`` = encoder (observation → embedding) + :class:`~classical.world_models.rssm.RSSM`
+ decoder, reward and continue heads on the latent feature ``[h, z]``. Its loss on a
batch of sequences is

    reconstruction + β·max(KL, free_nats) + reward + continue

with the KL optionally balanced between prior and posterior (DreamerV2).

Sequence convention (as in Dreamer): step ``t`` holds ``obs[t]``, the ``action[t]`` that
led to it (zeros at an episode start), the ``reward[t]`` received on arriving, and
``cont[t] = 0`` if ``obs[t]`` is terminal; ``is_first[t]`` marks episode starts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from classical.world_models.rssm import RSSM, LatentState


def mlp(in_dim: int, out_dim: int, hidden: int = 128, n_layers: int = 2) -> nn.Sequential:
    """ELU MLP with ``n_layers`` hidden layers."""
    dims = [in_dim] + [hidden] * n_layers
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ELU()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class SequenceReplay:
    """Transitions stored in order; samples contiguous windows (which may cross episode starts:
    ``is_first`` resets the RSSM there).

    **Example**

    >>> replay = SequenceReplay(100)
    >>> for t in range(20):
    ...     replay.add(obs=np.zeros(3), action=np.zeros(1), reward=0.0, cont=1.0, is_first=t == 0)
    >>> replay.sample(4, 5, np.random.default_rng(0))["obs"].shape
    torch.Size([4, 5, 3])
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data: dict[str, np.ndarray] = {}
        self._size = 0
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def add(self, **step) -> None:
        """Add one step (obs, action, reward, cont, is_first)."""
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in step.items()}
        if not self._data:
            self._data = {k: np.zeros((self.capacity, *v.shape), np.float32) for k, v in arrays.items()}
        for k, v in arrays.items():
            self._data[k][self._pos] = v
        self._pos = (self._pos + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def sample(self, batch: int, length: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``batch`` windows of ``length`` consecutive steps, as tensors ``[batch, length, ...]``."""
        if self._size < length:
            raise ValueError(f"replay holds {self._size} steps, fewer than the sequence length "
                             f"{length}; collect more steps first.")
        # windows never straddle the ring's write position (oldest and newest data)
        oldest = self._pos if self._size == self.capacity else 0
        starts = (oldest + rng.integers(0, self._size - length + 1, size=batch)) % self.capacity
        idx = (starts[:, None] + np.arange(length)) % self.capacity
        out = {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}
        out["is_first"][:, 0] = 1.0  # a window starts from the zero state
        return out

    def state_dict(self) -> dict:
        return {"data": {k: v.copy() for k, v in self._data.items()}, "size": self._size, "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self._data = {k: v.copy() for k, v in state["data"].items()}
        self._size, self._pos = state["size"], state["pos"]


class WorldModel(nn.Module):
    """Encoder, RSSM, decoder, reward and continue heads.

    Args:
        obs_dim, action_dim: observation and action sizes (vector observations).
        deter_dim, stoch_dim, hidden: RSSM sizes.
        latent: ``"gaussian"`` or ``"categorical"``.
        kl_scale: β, the KL weight.
        free_nats: KL below this many nats (batch mean) is not penalised.
        kl_balance: α for KL balancing, or ``None`` for the plain KL.

    **Example**

    >>> wm = WorldModel(obs_dim=4, action_dim=2, deter_dim=16, stoch_dim=4, hidden=16)
    >>> batch = {"obs": torch.randn(3, 6, 4), "action": torch.randn(3, 6, 2),
    ...          "reward": torch.randn(3, 6), "cont": torch.ones(3, 6), "is_first": torch.zeros(3, 6)}
    >>> loss, metrics, post = wm.loss(batch)
    >>> loss.shape, post.feature.shape
    (torch.Size([]), torch.Size([6, 3, 20]))
    """

    def __init__(self, obs_dim: int, action_dim: int, deter_dim: int = 128, stoch_dim: int = 16,
                 hidden: int = 128, latent: Literal["gaussian", "categorical"] = "gaussian",
                 kl_scale: float = 1.0, free_nats: float = 1.0, kl_balance: float | None = 0.8):
        super().__init__()
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.encoder = mlp(obs_dim, hidden, hidden, 1)
        self.rssm = RSSM(action_dim, hidden, deter_dim, stoch_dim, hidden, latent)
        feat = self.rssm.feature_dim
        self.decoder = mlp(feat, obs_dim, hidden)
        self.reward_head = mlp(feat, 1, hidden)
        self.continue_head = mlp(feat, 1, hidden)
        self.kl_scale, self.free_nats, self.kl_balance = kl_scale, free_nats, kl_balance

    def observe(self, batch: dict[str, torch.Tensor]) -> tuple[LatentState, LatentState]:
        """Posterior and prior states ``[T, B, ...]`` of a batch ``[B, T, ...]``."""
        tb = lambda x: x.transpose(0, 1)  # noqa: E731
        return self.rssm.observe(tb(self.encoder(batch["obs"])), tb(batch["action"]), tb(batch["is_first"]))

    def reward(self, state: LatentState) -> torch.Tensor:
        return self.reward_head(state.feature).squeeze(-1)

    def cont_prob(self, state: LatentState) -> torch.Tensor:
        return torch.sigmoid(self.continue_head(state.feature).squeeze(-1))

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float], LatentState]:
        """World-model loss on a batch of sequences; returns (loss, metrics, posterior states)."""
        post, prior = self.observe(batch)
        tb = lambda x: x.transpose(0, 1)  # noqa: E731
        feat = post.feature
        recon = ((self.decoder(feat) - tb(batch["obs"])) ** 2).sum(-1).mean()
        reward = ((self.reward_head(feat).squeeze(-1) - tb(batch["reward"])) ** 2).mean()
        cont = F.binary_cross_entropy_with_logits(self.continue_head(feat).squeeze(-1), tb(batch["cont"]))
        kl_value = self.rssm.kl(post, prior).mean()
        kl_loss = self.rssm.kl(post, prior, self.kl_balance).mean()
        kl_loss = torch.clamp(kl_loss, min=self.free_nats) if self.free_nats > 0 else kl_loss
        total = recon + self.kl_scale * kl_loss + reward + cont
        metrics = {"wm_loss": total.item(), "recon": recon.item(), "kl": kl_value.item(),
                   "reward_loss": reward.item(), "cont_loss": cont.item()}
        return total, metrics, post

    @torch.no_grad()
    def one_step_prediction_error(self, batch: dict[str, torch.Tensor]) -> float:
        """Mean squared error of predicting ``obs[t+1]`` from the posterior at ``t`` and ``action[t+1]``
        (one prior step, decoded), over steps that do not start an episode."""
        post, _ = self.observe(batch)
        tb = lambda x: x.transpose(0, 1)  # noqa: E731
        actions, obs, first = tb(batch["action"]), tb(batch["obs"]), tb(batch["is_first"])
        prev = LatentState(post.h[:-1].flatten(0, 1), post.z[:-1].flatten(0, 1),
                           tuple(s[:-1].flatten(0, 1) for s in post.stats))
        prior = self.rssm.img_step(prev, actions[1:].flatten(0, 1))
        pred = self.decoder(torch.cat([prior.h, prior.stats[0] if self.rssm.latent == "gaussian"
                                       else prior.z], -1))
        err = ((pred - obs[1:].flatten(0, 1)) ** 2).mean(-1)
        mask = 1.0 - first[1:].flatten(0, 1)
        return float((err * mask).sum() / mask.sum())

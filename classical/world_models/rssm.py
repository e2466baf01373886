"""Recurrent state-space model (RSSM): a deterministic GRU path and a stochastic latent.

The latent state is ``(h, z)``: ``h`` is the GRU's deterministic state and ``z`` a
stochastic sample, either a diagonal Gaussian or (``latent="categorical"``) groups of
one-hot categoricals with straight-through gradients. The *prior* ``p(z_t | h_t)``
predicts ``z`` without seeing the observation (used to imagine); the *posterior*
``q(z_t | h_t, e_t)`` also sees the observation embedding ``e_t`` (used to observe).

Fixes to the course sketch: the KL is the exact KL of the two distributions (always
≥ 0; checked against ``torch.distributions`` in the tests), and both ``observe`` and
``imagine`` are fed the actions actually taken (never zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn


@dataclass
class LatentState:
    """One RSSM state for a batch: deterministic ``h``, sample ``z`` and the stats of ``z``'s law.

    For Gaussian latents ``stats = (mean, std)``; for categorical ones ``stats = (logits,)``.
    """

    h: torch.Tensor
    z: torch.Tensor
    stats: tuple[torch.Tensor, ...]

    @property
    def feature(self) -> torch.Tensor:
        """``[h, z]``: what the heads and the policy read."""
        return torch.cat([self.h, self.z], -1)

    def detach(self) -> "LatentState":
        return LatentState(self.h.detach(), self.z.detach(), tuple(s.detach() for s in self.stats))


def stack_states(states: list[LatentState], dim: int = 0) -> LatentState:
    """Stack a list of states along a new time axis ``dim``."""
    return LatentState(torch.stack([s.h for s in states], dim), torch.stack([s.z for s in states], dim),
                       tuple(torch.stack(parts, dim) for parts in zip(*(s.stats for s in states))))


def gaussian_kl(mean_q: torch.Tensor, std_q: torch.Tensor, mean_p: torch.Tensor,
                std_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(μq, σq²) ‖ N(μp, σp²))`` summed over the last axis; exact, hence ≥ 0.

    **Example**

    >>> float(gaussian_kl(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1, 2), torch.ones(1, 2))[0])
    0.0
    """
    var_ratio = (std_q / std_p) ** 2
    mahalanobis = ((mean_q - mean_p) / std_p) ** 2
    return 0.5 * (var_ratio + mahalanobis - 1.0 - torch.log(var_ratio)).sum(-1)


def categorical_kl(logits_q: torch.Tensor, logits_p: torch.Tensor) -> torch.Tensor:
    """KL between groups of categoricals ``[..., groups, classes]``, summed over groups."""
    log_q, log_p = F.log_softmax(logits_q, -1), F.log_softmax(logits_p, -1)
    return (log_q.exp() * (log_q - log_p)).sum((-1, -2))


def _mlp(in_dim: int, out_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ELU(), nn.Linear(hidden, out_dim))


class RSSM(nn.Module):
    """Recurrent state-space model.

    Args:
        action_dim: size of the action vector (one-hot for discrete actions).
        embed_dim: size of the observation embedding given to the posterior.
        deter_dim: GRU state size.
        stoch_dim: Gaussian latent size (ignored for categorical latents).
        hidden: width of the internal MLPs.
        latent: ``"gaussian"`` or ``"categorical"``.
        n_groups, n_classes: categorical latent shape (``z`` has ``n_groups·n_classes`` entries).
        min_std: floor of the Gaussian standard deviation.

    **Example**

    >>> rssm = RSSM(action_dim=2, embed_dim=8, deter_dim=16, stoch_dim=4, hidden=16)
    >>> post, prior = rssm.observe(torch.randn(5, 3, 8), torch.randn(5, 3, 2))
    >>> post.feature.shape, rssm.kl(post, prior).shape
    (torch.Size([5, 3, 20]), torch.Size([5, 3]))
    """

    def __init__(self, action_dim: int, embed_dim: int, deter_dim: int = 128, stoch_dim: int = 16,
                 hidden: int = 128, latent: Literal["gaussian", "categorical"] = "gaussian",
                 n_groups: int = 8, n_classes: int = 8, min_std: float = 0.1):
        super().__init__()
        self.latent, self.min_std = latent, min_std
        self.n_groups, self.n_classes = n_groups, n_classes
        self.stoch_dim = stoch_dim if latent == "gaussian" else n_groups * n_classes
        stats_dim = 2 * stoch_dim if latent == "gaussian" else n_groups * n_classes
        self.deter_dim, self.action_dim = deter_dim, action_dim
        self.feature_dim = deter_dim + self.stoch_dim
        self.input = nn.Sequential(nn.Linear(self.stoch_dim + action_dim, hidden), nn.ELU())
        self.gru = nn.GRUCell(hidden, deter_dim)
        self.prior_net = _mlp(deter_dim, stats_dim, hidden)
        self.post_net = _mlp(deter_dim + embed_dim, stats_dim, hidden)

    def initial(self, batch: int) -> LatentState:
        """The all-zero state for a batch (the state before the first observation)."""
        h = torch.zeros(batch, self.deter_dim)
        z = torch.zeros(batch, self.stoch_dim)
        return LatentState(h, z, self._stats(torch.zeros(batch, self.prior_net[-1].out_features)))

    def _stats(self, raw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.latent == "gaussian":
            mean, std = raw.chunk(2, -1)
            return mean, F.softplus(std) + self.min_std
        return (raw.reshape(*raw.shape[:-1], self.n_groups, self.n_classes),)

    def _sample(self, stats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.latent == "gaussian":
            mean, std = stats
            return mean + std * torch.randn_like(std)
        probs = F.softmax(stats[0], -1)
        index = torch.multinomial(probs.reshape(-1, self.n_classes), 1).reshape(probs.shape[:-1])
        onehot = F.one_hot(index, self.n_classes).to(probs.dtype)
        return (onehot + probs - probs.detach()).flatten(-2)  # straight-through gradient

    def img_step(self, state: LatentState, action: torch.Tensor) -> LatentState:
        """Prior step: advance ``h`` with the action taken, sample ``z`` from ``p(z | h)``."""
        h = self.gru(self.input(torch.cat([state.z, action], -1)), state.h)
        stats = self._stats(self.prior_net(h))
        return LatentState(h, self._sample(stats), stats)

    def obs_step(self, state: LatentState, action: torch.Tensor,
                 embed: torch.Tensor) -> tuple[LatentState, LatentState]:
        """Posterior step: the prior step, then ``z`` from ``q(z | h, embedding)``; returns (post, prior)."""
        prior = self.img_step(state, action)
        stats = self._stats(self.post_net(torch.cat([prior.h, embed], -1)))
        return LatentState(prior.h, self._sample(stats), stats), prior

    def observe(self, embeds: torch.Tensor, actions: torch.Tensor, is_first: torch.Tensor | None = None,
                state: LatentState | None = None) -> tuple[LatentState, LatentState]:
        """Filter a sequence: ``embeds [T, B, E]``, ``actions [T, B, A]`` (``actions[t]`` led to
        observation ``t``), ``is_first [T, B]`` resets the state at episode starts.

        Returns posterior and prior states stacked over time (``[T, B, ...]``).
        """
        state = state or self.initial(embeds.shape[1])
        posts, priors = [], []
        for t in range(embeds.shape[0]):
            action = actions[t]
            if is_first is not None:
                keep = (1.0 - is_first[t].float())[:, None]
                state = LatentState(state.h * keep, state.z * keep, state.stats)
                action = action * keep
            post, prior = self.obs_step(state, action, embeds[t])
            posts.append(post)
            priors.append(prior)
            state = post
        return stack_states(posts), stack_states(priors)

    def imagine(self, state: LatentState, actions: torch.Tensor) -> LatentState:
        """Roll the prior forward with a given action sequence ``[H, B, A]``; states ``[H, B, ...]``."""
        states = []
        for t in range(actions.shape[0]):
            state = self.img_step(state, actions[t])
            states.append(state)
        return stack_states(states)

    def kl(self, post: LatentState, prior: LatentState, balance: float | None = None) -> torch.Tensor:
        """``KL(q ‖ p)`` per state. With ``balance = α`` (KL balancing, DreamerV2) the prior is
        trained with weight α and the posterior with 1 − α; the value is the same KL."""
        def kl_of(q_stats, p_stats):
            if self.latent == "gaussian":
                return gaussian_kl(*q_stats, *p_stats)
            return categorical_kl(q_stats[0], p_stats[0])

        if balance is None:
            return kl_of(post.stats, prior.stats)
        detach = lambda stats: tuple(s.detach() for s in stats)  # noqa: E731
        return balance * kl_of(detach(post.stats), prior.stats) \
            + (1 - balance) * kl_of(post.stats, detach(prior.stats))

    def distribution(self, state: LatentState) -> D.Distribution:
        """The torch distribution of ``z`` given the stats (for tests and entropy)."""
        if self.latent == "gaussian":
            return D.Independent(D.Normal(*state.stats), 1)
        return D.Independent(D.OneHotCategorical(logits=state.stats[0]), 1)

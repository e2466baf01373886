"""Learned communication: each agent broadcasts a message computed from what it sees.

The message of agent j is ``m_j = sender(o_j, id_j)``; agent i's network receives the
messages of all the others this step. Messages are differentiable (continuous
``tanh`` messages, or discrete one-hot messages through straight-through
Gumbel-softmax), so the receivers' losses train the senders, as in DIAL. The
channel plugs into :class:`~classical.marl.networks.AgentNetwork` and so can be
switched on for MADDPG, MAAC, COMA and the value-based learners alike
(``comm="continuous"`` or ``comm="discrete"`` in their constructors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classical.marl.networks import gumbel_softmax_hard, mlp

KINDS = ("none", "continuous", "discrete")


class CommChannel(nn.Module):
    """Messages from every agent to every other agent, recomputed at each forward pass.

    Args:
        n_agents: number of agents N.
        obs_dim: per-agent observation width D (the sender also sees its one-hot id).
        msg_dim: message width (for discrete messages: the vocabulary size).
        kind: ``"continuous"`` or ``"discrete"``.

    In training mode discrete messages are Gumbel-softmax samples; in eval mode the
    most likely symbol. :attr:`last_messages` keeps the last messages sent (for
    the mutual-information analysis in :mod:`classical.marl.metrics`).

    **Example**

    >>> ch = CommChannel(n_agents=3, obs_dim=4, msg_dim=2)
    >>> ch(torch.zeros(5, 3, 4 + 3)).shape     # others' messages for each agent
    torch.Size([5, 3, 4])
    """

    def __init__(self, n_agents: int, obs_dim: int, msg_dim: int = 4, kind: str = "continuous",
                 hidden: tuple[int, ...] = (32,)):
        super().__init__()
        if kind not in ("continuous", "discrete"):
            raise ValueError(f"comm kind must be 'continuous' or 'discrete', got {kind!r}.")
        self.n_agents, self.msg_dim, self.kind = n_agents, msg_dim, kind
        self.sender = mlp(obs_dim + n_agents, msg_dim, hidden)
        others = [[j for j in range(n_agents) if j != i] for i in range(n_agents)]
        self.register_buffer("others", torch.tensor(others, dtype=torch.long).reshape(n_agents, -1))
        self.last_messages: torch.Tensor | None = None

    @property
    def received_dim(self) -> int:
        return (self.n_agents - 1) * self.msg_dim

    def forward(self, obs_with_ids: torch.Tensor) -> torch.Tensor:
        logits = self.sender(obs_with_ids)                     # [B, N, M]
        if self.kind == "continuous":
            messages = torch.tanh(logits)
        elif self.training:
            messages = gumbel_softmax_hard(logits)
        else:
            messages = F.one_hot(logits.argmax(-1), self.msg_dim).to(logits.dtype)
        self.last_messages = messages.detach()
        b = messages.shape[0]
        return messages[:, self.others].reshape(b, self.n_agents, -1)


def make_comm(kind: str, n_agents: int, obs_dim: int, msg_dim: int = 4) -> CommChannel | None:
    """A channel for ``kind`` in ``"continuous"``/``"discrete"``, or ``None`` for ``"none"``."""
    if kind not in KINDS:
        raise ValueError(f"comm must be one of {KINDS}, got {kind!r}.")
    return None if kind == "none" else CommChannel(n_agents, obs_dim, msg_dim, kind)

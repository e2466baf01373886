"""QMIX: a monotonic mixing network whose weights come from hypernetworks of the state.

``Q_tot(s, a) = w2(s)^T elu(W1(s)^T q + b1(s)) + b2(s)`` with ``W1, w2 >= 0``
(absolute values of the hypernetworks' outputs), so ``dQ_tot / dQ_i >= 0``: each
agent's greedy action is also greedy for the team.

**Example**

>>> import torch
>>> mixer = QMixer(n_agents=3, state_dim=5)
>>> mixer(torch.zeros(4, 3), torch.zeros(4, 5)).shape
torch.Size([4])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classical.marl.envs import JointEnv
from classical.marl.iql import QLearner
from classical.marl.networks import mlp


class QMixer(nn.Module):
    """Monotonic mixer of ``n_agents`` Q-values conditioned on the global state.

    Args:
        n_agents: number of agents.
        state_dim: width of the global state.
        embed_dim: width of the mixing layer.
        hyper_hidden: hidden width of the hypernetworks.
    """

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32, hyper_hidden: int = 64):
        super().__init__()
        self.n_agents, self.embed_dim = n_agents, embed_dim
        self.hyper_w1 = mlp(state_dim, n_agents * embed_dim, (hyper_hidden,))
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = mlp(state_dim, embed_dim, (hyper_hidden,))
        self.hyper_b2 = mlp(state_dim, 1, (embed_dim,))

    def forward(self, q_chosen: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        b = q_chosen.shape[0]
        w1 = self.hyper_w1(state).abs().view(b, self.n_agents, self.embed_dim)
        hidden = F.elu(torch.bmm(q_chosen.unsqueeze(1), w1) + self.hyper_b1(state).unsqueeze(1))
        w2 = self.hyper_w2(state).abs().view(b, self.embed_dim, 1)
        return (torch.bmm(hidden, w2).squeeze(-1) + self.hyper_b2(state)).squeeze(-1)


def make_qmix(env: JointEnv, embed_dim: int = 32, **kwargs) -> QLearner:
    """A :class:`~classical.marl.iql.QLearner` with the QMIX mixer on ``env``'s global state."""
    return QLearner(env, mixer=QMixer(env.n_agents, env.state_dim, embed_dim), **kwargs)

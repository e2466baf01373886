"""VDN: value decomposition networks, ``Q_tot = sum_i Q_i`` trained on the team reward.

**Example**

>>> import torch
>>> VDNMixer()(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 3))
tensor([3.])
"""

from __future__ import annotations

import torch
from torch import nn

from classical.marl.envs import JointEnv
from classical.marl.iql import QLearner


class VDNMixer(nn.Module):
    """The additive mixer: the team value is the sum of the chosen agents' Q-values."""

    def forward(self, q_chosen: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return q_chosen.sum(-1)


def make_vdn(env: JointEnv, **kwargs) -> QLearner:
    """A :class:`~classical.marl.iql.QLearner` with the additive mixer."""
    return QLearner(env, mixer=VDNMixer(), **kwargs)

"""Network pieces shared by every multi-agent learner.

All learners share one body across agents and append the agent's one-hot id
(parameter sharing), so the body can be swapped — an MLP here, a variational
circuit in ``hybrid.marl_quantum`` — through a ``make_body(in_dim, out_dim)`` factory.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from classical.rl.models import MLP

BodyFactory = Callable[[int, int], nn.Module]
NEG_INF = -1e9


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (64, 64)) -> MLP:
    """A ReLU multilayer perceptron (:class:`classical.rl.models.MLP`).

    **Example**

    >>> mlp(4, 2, hidden=(8,))(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """
    return MLP(in_dim, out_dim, hidden, activation="relu")


def mlp_factory(hidden: Sequence[int] = (64, 64)) -> BodyFactory:
    """A ``make_body`` factory building :func:`mlp` bodies with the given hidden widths."""
    return lambda in_dim, out_dim: mlp(in_dim, out_dim, hidden)


def with_agent_ids(x: torch.Tensor) -> torch.Tensor:
    """Append each agent's one-hot id: ``[B, N, D] -> [B, N, D + N]``."""
    b, n, _ = x.shape
    ids = torch.eye(n, dtype=x.dtype, device=x.device).expand(b, n, n)
    return torch.cat([x, ids], dim=-1)


def masked(logits: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """Set the logits / Q-values of actions an agent does not have to a large negative number."""
    return logits.masked_fill(~action_mask, NEG_INF)


def gumbel_softmax_hard(logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """A one-hot sample whose gradient is the relaxed sample's (straight-through Gumbel-softmax)."""
    return F.gumbel_softmax(logits, tau=tau, hard=True)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak-average ``source`` into ``target``: ``target <- (1 - tau) target + tau source``."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.mul_(1 - tau).add_(s, alpha=tau)


def n_params(*modules: nn.Module) -> int:
    """Number of trainable parameters in ``modules``."""
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)


class AgentNetwork(nn.Module):
    """Each agent's output (Q-values or action logits) from the joint observation.

    One body is shared by all agents; its input is the agent's own observation, its
    one-hot id and, when a :class:`~classical.marl.comm.CommChannel` is given, the
    messages the other agents sent this step.

    Args:
        n_agents: number of agents N.
        obs_dim: per-agent observation width D.
        out_dim: outputs per agent (the number of actions).
        make_body: ``(in_dim, out_dim) -> nn.Module`` (default: a 64x64 MLP).
        comm: an optional communication channel.

    **Example**

    >>> net = AgentNetwork(n_agents=3, obs_dim=6, out_dim=5)
    >>> net(torch.zeros(2, 3, 6)).shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, n_agents: int, obs_dim: int, out_dim: int, make_body: BodyFactory | None = None,
                 comm: nn.Module | None = None):
        super().__init__()
        self.n_agents, self.obs_dim, self.out_dim = n_agents, obs_dim, out_dim
        self.comm = comm
        extra = comm.received_dim if comm is not None else 0
        self.body = (make_body or mlp_factory())(obs_dim + n_agents + extra, out_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = with_agent_ids(obs)
        if self.comm is not None:
            x = torch.cat([x, self.comm(x)], dim=-1)
        b, n, d = x.shape
        return self.body(x.reshape(b * n, d)).reshape(b, n, -1)


class CentralCritic(nn.Module):
    """Q_i(o_1..o_N, a_1..a_N) for every agent i, from the joint observation and actions.

    ``actions`` is either one joint action ``[B, N, A]`` (the same for every agent's
    critic) or a joint action per critic ``[B, N, N, A]`` (row i is what agent i's
    critic sees, e.g. agent i's own action replaced by its current policy's).

    **Example**

    >>> critic = CentralCritic(n_agents=2, obs_dim=4, n_actions=3)
    >>> critic(torch.zeros(5, 2, 4), torch.zeros(5, 2, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.n_agents = n_agents
        self.net = mlp(n_agents * (obs_dim + n_actions) + n_agents, 1, hidden)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        b, n, _ = obs.shape
        if actions.dim() == 3:
            actions = actions.unsqueeze(1).expand(b, n, n, actions.shape[-1])
        joint_obs = obs.reshape(b, 1, -1).expand(b, n, -1)
        x = with_agent_ids(torch.cat([joint_obs, actions.reshape(b, n, -1)], dim=-1))
        return self.net(x).squeeze(-1)


def actor_and_critic(env, make_critic: Callable[[], nn.Module], actor_lr: float, critic_lr: float,
                     make_body: BodyFactory | None = None, comm: str = "none", msg_dim: int = 4):
    """The agents' shared actor (with learned messages) and a centralised critic, each with its Adam.

    The actor is built before ``make_critic()``, so a seeded run initialises both the same way in
    every learner (MADDPG, MAAC, COMA). Returns ``(actor, critic, actor_opt, critic_opt)``.
    """
    from classical.marl.comm import make_comm

    actor = AgentNetwork(env.n_agents, env.obs_dim, env.n_actions, make_body or mlp_factory(),
                         make_comm(comm, env.n_agents, env.obs_dim, msg_dim))
    critic = make_critic()
    return (actor, critic, torch.optim.Adam(actor.parameters(), lr=actor_lr),
            torch.optim.Adam(critic.parameters(), lr=critic_lr))


def policy_act(actor: AgentNetwork, obs, action_mask: torch.Tensor, explore: bool):
    """Actions of a stochastic policy for one joint observation: sampled when exploring, argmax otherwise."""
    actor.train(explore)
    with torch.no_grad():
        logits = masked(actor(torch.as_tensor(obs)[None]), action_mask)[0]
    if explore:
        return torch.distributions.Categorical(logits=logits).sample().numpy()
    return logits.argmax(-1).numpy()


def save_modules(owner, names) -> dict:
    """``{name: owner.name.state_dict()}`` for modules and optimisers, for checkpoints."""
    return {name: getattr(owner, name).state_dict() for name in names}


def load_modules(owner, state: dict) -> None:
    """Restore what :func:`save_modules` saved (keys that name no attribute with ``load_state_dict`` are skipped)."""
    for name, value in state.items():
        target = getattr(owner, name, None)
        if hasattr(target, "load_state_dict"):
            target.load_state_dict(value)

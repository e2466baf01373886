"""MAAC: actor-attention-critic (Iqbal & Sha, 2019) for discrete actions.

Agent i's critic ``Q_i(o, a)[.]`` encodes its own observation, then *attends* over
the other agents' (observation, action) encodings: which agents matter to i is
learned, and the critic's size does not grow with the joint input. The critic
returns Q for all of i's actions, so the actors get a counterfactual advantage
``Q_i(a_i) - sum_a pi_i(a) Q_i(a)`` and learn soft-actor-critic style with an
entropy bonus.

**Example**

>>> import torch
>>> critic = AttentionCritic(n_agents=3, obs_dim=4, n_actions=5)
>>> critic(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5)).shape
torch.Size([2, 3, 5])
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from classical.marl.envs import JointEnv
from classical.marl.networks import (AgentNetwork, BodyFactory, actor_and_critic, load_modules, masked, mlp,
                                     n_params, policy_act, save_modules, soft_update, with_agent_ids)
from classical.rl.base import MultiAgent


class AttentionCritic(nn.Module):
    """Q_i for all of agent i's actions, attending over the other agents' (o_j, a_j).

    Args:
        n_agents, obs_dim, n_actions: sizes.
        hidden: encoder width (split across heads).
        heads: attention heads.
    """

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64, heads: int = 4):
        super().__init__()
        assert hidden % heads == 0
        self.heads, self.head_dim = heads, hidden // heads
        self.encode_obs = mlp(obs_dim + n_agents, hidden, ())
        self.encode_obs_action = mlp(obs_dim + n_actions + n_agents, hidden, ())
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.value = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU())
        self.head = mlp(2 * hidden, n_actions, (hidden,))
        self.register_buffer("not_self", ~torch.eye(n_agents, dtype=torch.bool))
        self.last_attention: torch.Tensor | None = None

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        b, n, _ = obs.shape
        own = F.leaky_relu(self.encode_obs(with_agent_ids(obs)))                          # [B, N, H]
        pairs = F.leaky_relu(self.encode_obs_action(with_agent_ids(torch.cat([obs, actions], -1))))
        split = lambda x: x.view(b, n, self.heads, self.head_dim).transpose(1, 2)        # [B, h, N, d]
        q, k, v = split(self.query(own)), split(self.key(pairs)), split(self.value(pairs))
        scores = (q @ k.transpose(-1, -2)) / self.head_dim ** 0.5                       # [B, h, i, j]
        attention = torch.softmax(scores.masked_fill(~self.not_self, float("-inf")), dim=-1)
        self.last_attention = attention.detach()
        attended = (attention @ v).transpose(1, 2).reshape(b, n, -1)                     # [B, N, H]
        return self.head(torch.cat([own, attended], dim=-1))


class MAAC(MultiAgent):
    """Decentralised soft actors trained with a shared attention critic.

    Args:
        env: the task.
        actor_lr, critic_lr, gamma, tau: as usual.
        alpha: entropy temperature.
        make_body: actor body factory; comm: learned messages between actors.
        team_reward: critics regress the team reward instead of each agent's own.
    """

    on_policy = False

    def __init__(self, env: JointEnv, actor_lr: float = 1e-3, critic_lr: float = 1e-3, gamma: float = 0.95,
                 tau: float = 0.01, alpha: float = 0.01, make_body: BodyFactory | None = None, comm: str = "none",
                 msg_dim: int = 4, team_reward: bool = False, grad_clip: float = 10.0, critic_hidden: int = 64):
        self.env, self.n_agents, self.n_actions = env, env.n_agents, env.n_actions
        self.action_mask = torch.as_tensor(env.action_mask)
        self.actor, self.critic, self.actor_opt, self.critic_opt = actor_and_critic(
            env, lambda: AttentionCritic(env.n_agents, env.obs_dim, env.n_actions, critic_hidden),
            actor_lr, critic_lr, make_body, comm, msg_dim)
        self.target_actor, self.target_critic = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.gamma, self.tau, self.alpha = gamma, tau, alpha
        self.team_reward, self.grad_clip = team_reward, grad_clip

    @property
    def n_params(self) -> int:
        return n_params(self.actor, self.critic)

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng) -> np.ndarray:
        return policy_act(self.actor, obs, self.action_mask, explore)

    def _sample(self, actor: AgentNetwork, obs: torch.Tensor):
        """Sampled actions (one-hot and index) and log-probabilities of the whole policy."""
        log_pi = F.log_softmax(masked(actor(obs), self.action_mask), dim=-1)
        index = torch.distributions.Categorical(logits=log_pi).sample()
        return F.one_hot(index, self.n_actions).float(), index, log_pi

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        obs, next_obs, actions = batch["obs"], batch["next_obs"], batch["actions"]
        rewards = batch["rewards"]
        if self.team_reward:
            rewards = rewards.sum(-1, keepdim=True).expand_as(rewards)
        with torch.no_grad():
            next_onehot, next_index, next_log_pi = self._sample(self.target_actor, next_obs)
            next_q = self.target_critic(next_obs, next_onehot).gather(-1, next_index[..., None]).squeeze(-1)
            next_log = next_log_pi.gather(-1, next_index[..., None]).squeeze(-1)
            target = rewards + self.gamma * (1 - batch["terminated"])[:, None] * (next_q - self.alpha * next_log)
        q_taken = self.critic(obs, F.one_hot(actions, self.n_actions).float()).gather(-1, actions[..., None]).squeeze(-1)
        critic_loss = F.mse_loss(q_taken, target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), self.grad_clip)
        self.critic_opt.step()

        onehot, index, log_pi = self._sample(self.actor, obs)
        with torch.no_grad():
            q_all = self.critic(obs, onehot)                                             # [B, N, A]
            pi = log_pi.exp()
            advantage = q_all.gather(-1, index[..., None]).squeeze(-1) - (pi * q_all).sum(-1)
        log_taken = log_pi.gather(-1, index[..., None]).squeeze(-1)
        actor_loss = (log_taken * (self.alpha * log_taken.detach() - advantage)).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.grad_clip)
        self.actor_opt.step()
        soft_update(self.target_actor, self.actor, self.tau)
        soft_update(self.target_critic, self.critic, self.tau)
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach())}

    def state_dict(self) -> dict:
        return save_modules(self, ("actor", "critic", "target_actor", "target_critic", "actor_opt", "critic_opt"))

    def load_state_dict(self, state: dict) -> None:
        load_modules(self, state)

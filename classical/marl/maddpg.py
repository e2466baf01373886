"""MADDPG: decentralised actors, centralised critics, target networks; Gumbel-softmax for discrete actions.

Each agent's critic ``Q_i(o_1..o_N, a_1..a_N)`` sees everything, so the
environment looks stationary to it even while the other agents learn; each actor
``pi_i(o_i)`` acts on its own observation. Actions are discrete here, so the
actor's sample is a straight-through Gumbel-softmax one-hot: the forward pass is
a real action, the backward pass the relaxed sample's gradient, which lets the
critic's gradient reach the actor as in the continuous algorithm.

**Example**

>>> from classical.marl.envs import ParticleEnv, JointEnv
>>> env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
>>> actions, state = MADDPG(env).predict(env.env.reset(seed=0)[0])
>>> sorted(actions), state
(['agent_0', 'agent_1'], None)
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from classical.marl.envs import JointEnv
from classical.marl.networks import (BodyFactory, CentralCritic, actor_and_critic, gumbel_softmax_hard,
                                     load_modules, masked, n_params, policy_act, save_modules, soft_update)
from classical.rl.base import MultiAgent


class MADDPG(MultiAgent):
    """Multi-agent DDPG on discrete actions (parameters shared across agents, with agent ids).

    Args:
        env: the task.
        actor_lr, critic_lr: Adam step sizes.
        gamma: discount; tau: Polyak rate of the target networks.
        make_body: actor body factory (MLP by default; a VQC in ``hybrid.marl_quantum``).
        comm: ``"none"``, ``"continuous"`` or ``"discrete"`` learned messages between actors.
        team_reward: train every critic on the team reward (sum over agents) instead of
            the agent's own reward.
        logit_reg: weight of the squared-logit penalty that keeps Gumbel-softmax from saturating.
    """

    on_policy = False

    def __init__(self, env: JointEnv, actor_lr: float = 1e-3, critic_lr: float = 1e-3, gamma: float = 0.95,
                 tau: float = 0.01, make_body: BodyFactory | None = None, comm: str = "none", msg_dim: int = 4,
                 team_reward: bool = False, logit_reg: float = 1e-3, grad_clip: float = 0.5,
                 critic_hidden: tuple[int, ...] = (64, 64)):
        self.env, self.n_agents, self.n_actions = env, env.n_agents, env.n_actions
        self.action_mask = torch.as_tensor(env.action_mask)
        self.actor, self.critic, self.actor_opt, self.critic_opt = actor_and_critic(
            env, lambda: CentralCritic(env.n_agents, env.obs_dim, env.n_actions, critic_hidden),
            actor_lr, critic_lr, make_body, comm, msg_dim)
        self.target_actor, self.target_critic = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.gamma, self.tau, self.team_reward = gamma, tau, team_reward
        self.logit_reg, self.grad_clip = logit_reg, grad_clip

    @property
    def n_params(self) -> int:
        return n_params(self.actor, self.critic)

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng) -> np.ndarray:
        return policy_act(self.actor, obs, self.action_mask, explore)

    def _one_hot(self, actions: torch.Tensor) -> torch.Tensor:
        return F.one_hot(actions, self.n_actions).float()

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        obs, next_obs = batch["obs"], batch["next_obs"]
        rewards = batch["rewards"]
        if self.team_reward:
            rewards = rewards.sum(-1, keepdim=True).expand_as(rewards)
        taken = self._one_hot(batch["actions"])                                    # [B, N, A]

        # Critic: y_i = r_i + gamma * Q'_i(o', a' ~ pi'(o')).
        self.target_actor.train()
        with torch.no_grad():
            next_actions = gumbel_softmax_hard(masked(self.target_actor(next_obs), self.action_mask))
            target = rewards + self.gamma * (1 - batch["terminated"])[:, None] * self.target_critic(next_obs, next_actions)
        critic_loss = F.mse_loss(self.critic(obs, taken), target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), self.grad_clip)
        self.critic_opt.step()

        # Actors: agent i's critic sees its own action from the current policy, the others' from the buffer.
        self.actor.train()
        logits = masked(self.actor(obs), self.action_mask)
        own = gumbel_softmax_hard(logits)                                           # [B, N, A]
        eye = torch.eye(self.n_agents, dtype=torch.bool)[None, :, :, None]          # [1, i, j, 1]
        per_critic = torch.where(eye, own.unsqueeze(1), taken.unsqueeze(1))         # [B, i, j, A]
        actor_loss = -self.critic(obs, per_critic).mean()
        valid = self.action_mask.expand_as(logits)
        reg = (logits[valid] ** 2).mean()
        self.actor_opt.zero_grad()
        (actor_loss + self.logit_reg * reg).backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.grad_clip)
        self.actor_opt.step()

        soft_update(self.target_actor, self.actor, self.tau)
        soft_update(self.target_critic, self.critic, self.tau)
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach())}

    def state_dict(self) -> dict:
        return save_modules(self, ("actor", "critic", "target_actor", "target_critic", "actor_opt", "critic_opt"))

    def load_state_dict(self, state: dict) -> None:
        load_modules(self, state)

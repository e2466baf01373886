"""COMA: counterfactual multi-agent policy gradients (Foerster et al., 2018).

One centralised critic ``Q(s, o_i, a_{-i}, i)[.]`` returns the team value of
every action agent i could have taken while the others keep theirs. The
counterfactual baseline ``sum_a pi_i(a|o_i) Q(..)[a]`` then tells agent i how
much *its* action helped the team, which is the credit assignment a shared
reward lacks. On-policy: the loop hands over the last episodes in order; the
critic learns from TD(lambda) targets of a target critic.

**Example**

>>> import torch
>>> critic = COMACritic(n_agents=2, obs_dim=3, state_dim=4, n_actions=5)
>>> critic(torch.zeros(7, 4), torch.zeros(7, 2, 3), torch.zeros(7, 2, dtype=torch.long)).shape
torch.Size([7, 2, 5])
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from classical.marl.envs import JointEnv
from classical.marl.networks import (BodyFactory, actor_and_critic, load_modules, masked, mlp, n_params,
                                     save_modules, with_agent_ids)
from classical.rl.base import MultiAgent


class COMACritic(nn.Module):
    """Team Q-values of all of agent i's actions given the state, o_i and the others' actions."""

    def __init__(self, n_agents: int, obs_dim: int, state_dim: int, n_actions: int, hidden=(128, 128)):
        super().__init__()
        self.n_agents, self.n_actions = n_agents, n_actions
        self.net = mlp(state_dim + obs_dim + n_agents + n_agents * n_actions, n_actions, hidden)
        self.register_buffer("not_self", 1.0 - torch.eye(n_agents)[:, :, None])     # [i, j, 1]

    def forward(self, state: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        b, n, _ = obs.shape
        onehot = F.one_hot(actions, self.n_actions).float()                           # [B, j, A]
        others = (onehot.unsqueeze(1) * self.not_self).reshape(b, n, -1)              # agent i's own zeroed
        x = torch.cat([state.unsqueeze(1).expand(b, n, -1), with_agent_ids(obs), others], dim=-1)
        return self.net(x)


class COMA(MultiAgent):
    """Shared-parameter actors with the counterfactual baseline.

    Args:
        env: the task.
        actor_lr, critic_lr, gamma: as usual.
        td_lambda: lambda of the critic's TD(lambda) targets.
        critic_steps: critic gradient steps per batch of episodes.
        target_every: critic updates between target-critic copies.
        eps_start, eps_end, eps_fraction: the policy is mixed with epsilon-uniform
            exploration, annealed linearly over the first ``eps_fraction`` of the budget.
        entropy: entropy bonus of the actor loss.
        make_body, comm: actor body factory and learned messages.
        normalize_advantage: standardise the counterfactual advantages within each batch.
    """

    on_policy, team_reward = True, True

    def __init__(self, env: JointEnv, actor_lr: float = 1e-4, critic_lr: float = 1e-3, gamma: float = 0.95,
                 td_lambda: float = 0.8, critic_steps: int = 4, target_every: int = 20,
                 eps_start: float = 0.5, eps_end: float = 0.02, eps_fraction: float = 0.5, entropy: float = 0.01,
                 make_body: BodyFactory | None = None, comm: str = "none", msg_dim: int = 4,
                 grad_clip: float = 10.0, normalize_advantage: bool = True):
        self.env, self.n_agents, self.n_actions = env, env.n_agents, env.n_actions
        self.action_mask = torch.as_tensor(env.action_mask)
        self.actor, self.critic, self.actor_opt, self.critic_opt = actor_and_critic(
            env, lambda: COMACritic(env.n_agents, env.obs_dim, env.state_dim, env.n_actions),
            actor_lr, critic_lr, make_body, comm, msg_dim)
        self.target_critic = copy.deepcopy(self.critic)
        self.gamma, self.td_lambda, self.critic_steps, self.target_every = gamma, td_lambda, critic_steps, target_every
        self.eps_start, self.eps_end, self.eps_fraction = eps_start, eps_end, eps_fraction
        self.entropy, self.grad_clip, self.normalize_advantage = entropy, grad_clip, normalize_advantage
        self.epsilon_now, self.critic_updates = eps_start, 0

    @property
    def n_params(self) -> int:
        return n_params(self.actor, self.critic)

    def _probs(self, obs: torch.Tensor) -> torch.Tensor:
        pi = torch.softmax(masked(self.actor(obs), self.action_mask), dim=-1)
        uniform = self.action_mask.float() / self.action_mask.sum(-1, keepdim=True)
        return (1 - self.epsilon_now) * pi + self.epsilon_now * uniform

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng) -> np.ndarray:
        self.actor.train(explore)
        if explore:
            frac = min(1.0, progress / self.eps_fraction) if self.eps_fraction > 0 else 1.0
            self.epsilon_now = self.eps_start + frac * (self.eps_end - self.eps_start)
        with torch.no_grad():
            logits = masked(self.actor(torch.as_tensor(obs)[None]), self.action_mask)[0]
            if not explore:
                return logits.argmax(-1).numpy()
            return torch.distributions.Categorical(probs=self._probs(torch.as_tensor(obs)[None])[0]).sample().numpy()

    def _lambda_returns(self, rewards, q_taken_next, ends) -> torch.Tensor:
        """Backward TD(lambda) returns; an episode's end (time limit or terminal) is not bootstrapped."""
        returns = torch.zeros_like(q_taken_next)
        running = torch.zeros_like(q_taken_next[0])
        for t in reversed(range(len(rewards))):
            cont = 1.0 - ends[t]
            running = rewards[t] + self.gamma * cont * ((1 - self.td_lambda) * q_taken_next[t]
                                                        + self.td_lambda * running)
            returns[t] = running
        return returns

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        state, obs, actions = batch["state"], batch["obs"], batch["actions"]
        team = batch["rewards"].sum(-1, keepdim=True).expand(-1, self.n_agents)      # [T, N]
        ends = torch.maximum(batch["terminated"], batch["truncated"])[:, None]
        with torch.no_grad():
            q_target = self.target_critic(state, obs, actions).gather(-1, actions[..., None]).squeeze(-1)
            # Q of the next transition in the same episode (zero where the episode ended).
            q_next = torch.cat([q_target[1:], torch.zeros_like(q_target[:1])])
            targets = self._lambda_returns(team, q_next, ends)
        for _ in range(self.critic_steps):
            q_taken = self.critic(state, obs, actions).gather(-1, actions[..., None]).squeeze(-1)
            critic_loss = F.mse_loss(q_taken, targets)
            self.critic_opt.zero_grad()
            critic_loss.backward()
            nn.utils.clip_grad_norm_(self.critic.parameters(), self.grad_clip)
            self.critic_opt.step()
            self.critic_updates += 1
            if self.critic_updates % self.target_every == 0:
                self.target_critic.load_state_dict(self.critic.state_dict())

        self.actor.train()
        with torch.no_grad():
            q_all = self.critic(state, obs, actions)                                  # [T, N, A]
        pi = self._probs(obs)
        baseline = (pi.detach() * q_all).sum(-1)
        advantage = q_all.gather(-1, actions[..., None]).squeeze(-1) - baseline
        if self.normalize_advantage:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        log_taken = torch.log(pi.gather(-1, actions[..., None]).squeeze(-1) + 1e-10)
        entropy = -(pi * torch.log(pi + 1e-10)).sum(-1).mean()
        actor_loss = -(log_taken * advantage).mean() - self.entropy * entropy
        self.actor_opt.zero_grad()
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.grad_clip)
        self.actor_opt.step()
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach())}

    def state_dict(self) -> dict:
        return {**save_modules(self, ("actor", "critic", "target_critic", "actor_opt", "critic_opt")),
                "epsilon_now": self.epsilon_now, "critic_updates": self.critic_updates}

    def load_state_dict(self, state: dict) -> None:
        load_modules(self, state)
        self.epsilon_now, self.critic_updates = state["epsilon_now"], state["critic_updates"]

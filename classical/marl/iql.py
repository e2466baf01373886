"""Value-based multi-agent learning: independent DQN learners (IQL), and the learner VDN and QMIX reuse.

:class:`QLearner` trains per-agent Q-functions ``Q_i(o_i, a_i)`` (one shared network
with agent ids, optionally with learned communication) by double-DQN targets.

- Without a mixer it is **IQL**: each agent regresses its own Q on its own reward.
- With a mixer (``vdn.VDNMixer``, ``qmix.QMixer``) the chosen agents' Q-values are
  combined into ``Q_tot(s, a)`` and regressed on the team reward (sum over agents),
  so credit is assigned through the mixer.

**Example**

>>> from classical.marl.envs import ParticleEnv, JointEnv
>>> env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
>>> learner = make_iql(env)
>>> actions, _ = learner.predict(env.env.reset(seed=0)[0])
>>> sorted(actions)
['agent_0', 'agent_1']
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from classical.common.running_stats import RunningMeanStd
from classical.marl.comm import make_comm
from classical.marl.envs import JointEnv
from classical.marl.networks import AgentNetwork, BodyFactory, masked, mlp_factory, n_params, soft_update
from classical.rl.base import MultiAgent


class QLearner(MultiAgent):
    """Per-agent deep Q-learning with an optional value mixer.

    Args:
        env: the task (sizes and action masks are read from it).
        mixer: ``None`` (IQL) or a module ``(q_chosen[B, N], state[B, S]) -> Q_tot[B]``.
        lr, gamma: Adam step size and discount.
        tau: Polyak rate of the target networks (used when ``target_update_every`` is 0).
        target_update_every: if > 0, copy the online networks into the targets every this
            many gradient updates instead of Polyak-averaging them (pymarl's QMIX copies
            every 200 episodes with one update per episode).
        eps_start, eps_end, eps_fraction: epsilon-greedy schedule, linear over the
            first ``eps_fraction`` of the budget.
        make_body: body factory for the agent network (an MLP by default).
        comm: ``"none"``, ``"continuous"`` or ``"discrete"`` learned messages.
        grad_clip: gradient norm clip.
        standardize_rewards: regress on rewards standardised by their running mean and std
            (of the team reward with a mixer, of the agents' rewards without). MPE rewards are
            all negative, so raw Q-values are large and negative, and QMIX's ELU mixing layer
            then saturates (its gradient to the agents' Q-values vanishes). With no terminal
            states (MPE episodes only time out) subtracting a constant shifts every Q-value
            by the same amount, so the greedy policy is unchanged.
        n_step: bootstrap from ``n``-step returns (the loop then samples them with
            :meth:`~classical.marl.buffer.MultiAgentReplayBuffer.sample_n_step`); uncorrected
            for the replayed policy, like pymarl2's TD(lambda) for QMIX.
        clip_targets: clamp the bootstrapped value to ``[min r, max r] / (1 - gamma)`` over the
            (team or per-agent, standardised if so) rewards seen so far: no discounted return can
            leave that range, so a bootstrapped value outside it is an extrapolation error.
        q_net: a ready joint Q-network ``obs[B, N, D] -> Q[B, N, A]`` to use instead of
            building an :class:`~classical.marl.networks.AgentNetwork` (e.g. one circuit
            holding every agent's qubits, in ``hybrid.marl_quantum``).

    The constructor's defaults are the plain algorithm (Polyak targets, one-step
    returns, no clipping). ``qrl train`` and the hybrids build learners from
    :class:`classical.marl.train.Config`, whose defaults are the measured recipe
    (targets copied every 300 updates, 5-step returns, clipped targets); pass those
    keywords to get the same learner when building one directly.
    """

    on_policy = False

    def __init__(self, env: JointEnv, mixer: nn.Module | None = None, lr: float = 5e-4, gamma: float = 0.95,
                 tau: float = 0.01, eps_start: float = 1.0, eps_end: float = 0.05, eps_fraction: float = 0.5,
                 make_body: BodyFactory | None = None, comm: str = "none", msg_dim: int = 4,
                 grad_clip: float = 10.0, q_net: nn.Module | None = None, standardize_rewards: bool = False,
                 target_update_every: int = 0, n_step: int = 1, clip_targets: bool = False):
        if n_step < 1:
            raise ValueError(f"n_step must be at least 1, got {n_step}.")
        self.env, self.n_agents, self.n_actions = env, env.n_agents, env.n_actions
        self.action_mask = torch.as_tensor(env.action_mask)
        self.q_net = q_net or AgentNetwork(env.n_agents, env.obs_dim, env.n_actions, make_body or mlp_factory(),
                                           make_comm(comm, env.n_agents, env.obs_dim, msg_dim))
        self.mixer = mixer
        self.team_reward = mixer is not None
        self.target_q = copy.deepcopy(self.q_net)
        self.target_mixer = copy.deepcopy(mixer)
        params = list(self.q_net.parameters()) + (list(mixer.parameters()) if mixer is not None else [])
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.gamma, self.tau, self.grad_clip = gamma, tau, grad_clip
        self.target_update_every, self.n_updates = target_update_every, 0
        self.n_step = n_step
        self.clip_targets, self.reward_range = clip_targets, [float("inf"), float("-inf")]
        self.reward_stats = RunningMeanStd() if standardize_rewards else None
        self.eps_start, self.eps_end, self.eps_fraction = eps_start, eps_end, eps_fraction

    @property
    def n_params(self) -> int:
        return n_params(self.q_net, *([self.mixer] if self.mixer is not None else []))

    def epsilon(self, progress: float) -> float:
        frac = min(1.0, progress / self.eps_fraction) if self.eps_fraction > 0 else 1.0
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng: np.random.Generator | None) -> np.ndarray:
        self.q_net.train(explore)
        with torch.no_grad():
            q = masked(self.q_net(torch.as_tensor(obs)[None]), self.action_mask)[0]
        actions = q.argmax(-1).numpy()
        if explore:
            eps = self.epsilon(progress)
            for i in range(self.n_agents):
                if rng.random() < eps:
                    actions[i] = rng.choice(np.flatnonzero(self.action_mask[i].numpy()))
        return actions

    def _combine(self, mixer, q_chosen: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return q_chosen if mixer is None else mixer(q_chosen, state)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.q_net.train()
        obs, actions, next_obs = batch["obs"], batch["actions"], batch["next_obs"]
        not_done = 1.0 - batch["terminated"]
        discount = batch.get("discount", torch.full_like(not_done, self.gamma))   # gamma^k for k-step returns
        q_chosen = self.q_net(obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)       # [B, N]
        with torch.no_grad():
            # Double DQN: the online network picks, the target network evaluates.
            best = masked(self.q_net(next_obs), self.action_mask).argmax(-1, keepdim=True)
            q_next = self.target_q(next_obs).gather(-1, best).squeeze(-1)
            q_next = self._combine(self.target_mixer, q_next, batch["next_state"])
        q_pred = self._combine(self.mixer, q_chosen, batch["state"])
        rewards = batch["rewards"].sum(-1) if self.team_reward else batch["rewards"]
        if self.reward_stats is not None:
            rewards = self._standardize(batch, rewards)
        if self.clip_targets:
            q_next = self._clip_to_reward_range(batch, q_next)
        if self.team_reward:
            target = rewards + discount * not_done * q_next
        else:
            target = rewards + (discount * not_done)[:, None] * q_next
        loss = F.smooth_l1_loss(q_pred, target)
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], self.grad_clip)
        self.optimizer.step()
        self.n_updates += 1
        self._update_targets()
        return {"loss": float(loss.detach()), "q": float(q_pred.detach().mean())}

    def _clip_to_reward_range(self, batch: dict[str, torch.Tensor], q_next: torch.Tensor) -> torch.Tensor:
        step = batch.get("step_rewards", batch["rewards"])
        step = step.sum(-1) if self.team_reward else step
        if self.reward_stats is not None:
            step = self.reward_stats.standardize(step)
        low, high = self.reward_range
        self.reward_range = [min(low, float(step.min())), max(high, float(step.max()))]
        if self.gamma >= 1:
            return q_next
        low, high = (r / (1 - self.gamma) for r in self.reward_range)
        return q_next.clamp(low, high)

    def _standardize(self, batch: dict[str, torch.Tensor], rewards: torch.Tensor) -> torch.Tensor:
        """Standardise one-step rewards, or k-step sums as the sum of the k standardised rewards.

        The running statistics are of one-step rewards (``step_rewards`` in n-step batches).
        A k-step sum ``R`` (``n_steps`` = k) becomes ``(R - mean * sum_{j<k} gamma^j) / std``.
        """
        step = batch.get("step_rewards", batch["rewards"])
        self.reward_stats.update((step.sum(-1) if self.team_reward else step).numpy())
        if "step_rewards" not in batch:
            return self.reward_stats.standardize(rewards)
        k = batch["n_steps"]
        steps_weight = (1 - self.gamma ** k) / (1 - self.gamma) if self.gamma < 1 else k
        if not self.team_reward:
            steps_weight = steps_weight[:, None]
        return (rewards - self.reward_stats.mean * steps_weight) / self.reward_stats.std

    def _update_targets(self) -> None:
        pairs = [(self.target_q, self.q_net)]
        if self.mixer is not None:
            pairs.append((self.target_mixer, self.mixer))
        if self.target_update_every <= 0:
            for target, online in pairs:
                soft_update(target, online, self.tau)
        elif self.n_updates % self.target_update_every == 0:
            for target, online in pairs:
                target.load_state_dict(online.state_dict())

    def state_dict(self) -> dict:
        return {"n_updates": self.n_updates, "reward_range": list(self.reward_range),
                "q_net": self.q_net.state_dict(), "target_q": self.target_q.state_dict(),
                "mixer": self.mixer.state_dict() if self.mixer is not None else None,
                "target_mixer": self.target_mixer.state_dict() if self.mixer is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "reward_stats": self.reward_stats.state_dict() if self.reward_stats is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.q_net.load_state_dict(state["q_net"])
        self.target_q.load_state_dict(state["target_q"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.n_updates = state.get("n_updates", 0)
        self.reward_range = list(state.get("reward_range", [float("inf"), float("-inf")]))
        if self.reward_stats is not None and state.get("reward_stats") is not None:
            self.reward_stats.load_state_dict(state["reward_stats"])


def make_iql(env: JointEnv, **kwargs) -> QLearner:
    """Independent Q-learners: every agent learns from its own reward, no mixer."""
    return QLearner(env, mixer=None, **kwargs)

"""MAPPO: PPO for cooperative teams with decentralised actors and a centralised value function.

Each agent acts on its own observation (one actor shared by all agents, which also
sees the agent's one-hot id, or one actor per agent); one critic ``V_i(s)`` sees the
global state and the agent's id. One update:

1. roll out ``episodes_per_update`` whole episodes with the sampled policy;
2. evaluate the critic on every global state of the batch and turn its normalised
   outputs back into returns with the running statistics (value normalisation, as in
   Yu et al. 2022, "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games");
3. per-agent GAE-λ advantages (a time-limit truncation bootstraps from ``V(s_T)``);
4. advantages standardised over the batch, then ``epochs`` passes over shuffled minibatches
   of time steps (all agents of a step together): the clipped surrogate loss minus an entropy bonus for the actor; for the critic the squared error
   to the λ-returns standardised by the running statistics (which are updated first).

The actor and critic are model specs (``{type: mlp, hidden: [64, 64]}`` or
``{type: vqc, ...}``) built by :func:`classical.rl.models.build_model`.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 5}, episodes=8,
...              episodes_per_update=4, eval_episodes=2)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["episodes"], summary["env_steps"]
(8, 40)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir
from classical.common.running_stats import RunningMeanStd
from classical.common.seeding import episode_seed, rng_state, seed_everything, set_rng_state
from classical.common.training import LearningSession, adam_networks
from classical.marl.envs import JointEnv, make_joint_env
from classical.marl.loop import evaluate
from classical.marl.metrics import agent_returns, agent_summary
from classical.marl.networks import masked, n_params
from classical.rl.base import MultiAgent, load_multi_agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """MAPPO settings; ``configs/marl_*_mappo.yaml`` are presets of this."""

    env_id: str = Field("simple_spread", description="'particle' or an mpe2 task (see classical.marl.envs)")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"N": 3, "max_cycles": 25},
                                       description="keyword arguments of the task")
    actor: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                                  description="actor model spec (input: own observation and agent id)")
    critic: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                                   description="centralised value model spec (input: global state and agent id)")
    share_actor: bool = Field(True, description="one actor for all agents (with agent ids) or one per agent")
    backend: str | None = Field(None, description="backends.yaml entry for circuit models")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 7e-4},
                                 description="Adam step sizes: keys default, actor, critic, <net>.<group>, <group>")
    gamma: float = Field(0.99, gt=0, le=1, description="discount")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE λ")
    clip: float = Field(0.2, gt=0, description="PPO ratio clip ε")
    ent_coef: float = Field(0.01, ge=0, description="entropy bonus weight")
    epochs: int = Field(10, ge=1, description="passes over each batch")
    minibatches: int = Field(1, ge=1, description="minibatches per epoch")
    episodes_per_update: int = Field(16, ge=1, description="whole episodes per batch")
    team_reward: bool = Field(False, description="every agent learns the team reward (sum over agents)")
    value_norm: bool = Field(True, description="standardise the critic's targets with running statistics")
    max_grad_norm: float | None = Field(10.0, gt=0, description="gradient norm clip (None: off)")
    episodes: int | None = Field(4000, ge=1, description="training budget in episodes")
    total_env_steps: int | None = Field(None, ge=1, description="training budget in joint env steps")
    eval_episodes: int = Field(50, ge=1, description="greedy evaluation episodes at the end")
    checkpoint_every: int = Field(50, ge=1, description="updates between checkpoints")
    seed: int = Field(0, description="random seed")

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> JointEnv:
        """The task of ``env_id`` (what ``qrl train`` checks before a run)."""
        return make_joint_env(env_id, env_kwargs)


class MAPPO(MultiAgent):
    """The MAPPO learner: actors, critic, value statistics and their optimiser.

    Args:
        cfg: the settings.
        env: the task as a :class:`~classical.marl.envs.JointEnv` (built from ``cfg`` if omitted).

    **Example**

    >>> agent = MAPPO(Config(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 5}))
    >>> actions, state = agent.predict({"agent_0": np.zeros(10, np.float32), "agent_1": np.zeros(10, np.float32)})
    >>> sorted(actions), state
    (['agent_0', 'agent_1'], None)
    """

    on_policy, team_reward = True, False

    def __init__(self, cfg: Config, env: JointEnv | None = None, backend: Any = None):
        self.cfg = cfg
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.env = env or make_joint_env(cfg.env_id, cfg.env_kwargs)
        self._record_origin(type(self).__module__, cfg.model_dump(mode="json"))   # variants subclass MAPPO
        e = self.env
        self.n_agents, self.n_actions, self.obs_dim, self.state_dim = e.n_agents, e.n_actions, e.obs_dim, e.state_dim
        self.action_mask = torch.as_tensor(e.action_mask)
        if cfg.share_actor:
            self.actor = build_model(cfg.actor, "policy", self.obs_dim + self.n_agents, self.n_actions, backend)
        else:
            self.actor = nn.ModuleList([build_model(cfg.actor, "policy", self.obs_dim, self.n_actions, backend)
                                        for _ in range(self.n_agents)])
        self.critic = build_model(cfg.critic, "value", self.state_dim + self.n_agents, 1, backend)
        self.opt = adam_networks({"actor": self.actor, "critic": self.critic}, cfg.lr)
        self.returns_stats = RunningMeanStd()

    @property
    def n_params(self) -> int:
        return n_params(self.actor, self.critic)

    # -- acting ----------------------------------------------------------------
    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Masked action logits ``[B, N, A]`` from observations ``[B, N, D]``."""
        b = obs.shape[0]
        if self.cfg.share_actor:
            ids = torch.eye(self.n_agents).expand(b, -1, -1)
            x = torch.cat([obs, ids], dim=-1).reshape(b * self.n_agents, -1)
            out = self.actor(x).reshape(b, self.n_agents, -1)
        else:
            out = torch.stack([net(obs[:, i]) for i, net in enumerate(self.actor)], dim=1)
        return masked(out, self.action_mask)

    def values(self, states: torch.Tensor) -> torch.Tensor:
        """The critic's (normalised) values ``[B, N]`` of global states ``[B, S]``."""
        b = states.shape[0]
        ids = torch.eye(self.n_agents).expand(b, -1, -1)
        x = torch.cat([states[:, None].expand(-1, self.n_agents, -1), ids], dim=-1)
        return self.critic(x.reshape(b * self.n_agents, -1)).reshape(b, self.n_agents)

    def _act(self, obs: np.ndarray, explore: bool, progress: float = 1.0, rng=None) -> np.ndarray:
        """Actions ``[N]`` for one joint observation ``[N, D]``: sampled when exploring, argmax otherwise."""
        with torch.no_grad():
            logits = self.logits(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
        if explore:
            return torch.distributions.Categorical(logits=logits).sample().numpy()
        return logits.argmax(-1).numpy()

    # -- learning --------------------------------------------------------------
    def _denormalise(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.returns_stats.std + self.returns_stats.mean if self.cfg.value_norm else v

    def advantages(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-agent GAE-λ advantages and λ-returns ``[T, N]`` of a batch of whole episodes."""
        cfg = self.cfg
        rewards = batch["rewards"]
        if cfg.team_reward:
            rewards = rewards.sum(-1, keepdim=True).expand_as(rewards)
        with torch.no_grad():
            v = self._denormalise(self.values(batch["state"]))
            v_next = self._denormalise(self.values(batch["next_state"]))
        not_term = 1.0 - batch["terminated"][:, None]
        ends = (batch["terminated"] + batch["truncated"]).clamp(max=1.0)
        deltas = rewards + cfg.gamma * not_term * v_next - v
        adv = torch.zeros_like(rewards)
        running = torch.zeros(self.n_agents)
        for t in range(len(rewards) - 1, -1, -1):
            running = deltas[t] + cfg.gamma * cfg.gae_lambda * (1.0 - ends[t]) * running
            adv[t] = running
        return adv, adv + v

    def update(self, batch: dict[str, torch.Tensor], agents: list[int] | None = None) -> dict[str, float]:
        """One PPO update on a batch of whole episodes (keys as in ``MultiAgentReplayBuffer.recent``).

        ``agents``: the indices of the agents that learn from this batch (default: all); the
        others' samples are left out (e.g. fixed opponents in self-play).
        """
        cfg = self.cfg
        sel = list(range(self.n_agents)) if agents is None else list(agents)
        adv, returns = self.advantages(batch)
        adv, returns = adv[:, sel], returns[:, sel]
        if cfg.value_norm:
            self.returns_stats.update(returns.numpy())
            targets = (returns - self.returns_stats.mean) / self.returns_stats.std
        else:
            targets = returns
        obs, actions, states = batch["obs"], batch["actions"][:, sel], batch["state"]
        with torch.no_grad():
            old_logp = torch.distributions.Categorical(logits=self.logits(obs)[:, sel]).log_prob(actions)
        params = [p for g in self.opt.param_groups for p in g["params"]]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv
        n, stats = len(obs), {}
        for _ in range(cfg.epochs):
            for idx in torch.randperm(n).chunk(cfg.minibatches):
                a = adv[idx]
                dist = torch.distributions.Categorical(logits=self.logits(obs[idx])[:, sel])
                ratio = torch.exp(dist.log_prob(actions[idx]) - old_logp[idx])
                policy_loss = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a).mean()
                entropy = dist.entropy().mean()
                value_loss = F.mse_loss(self.values(states[idx])[:, sel], targets[idx])
                self.opt.zero_grad()
                (policy_loss - cfg.ent_coef * entropy + value_loss).backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.opt.step()
                stats = {"policy_loss": float(policy_loss.detach()), "value_loss": float(value_loss.detach()),
                         "entropy": float(entropy.detach())}
        return stats

    def learn(self, run: RunDir | None = None) -> MAPPO:
        """Collect-and-update until the budget (``episodes`` / ``total_env_steps``) is spent; metrics and
        checkpoints (every ``checkpoint_every`` updates) go to ``run``, which it resumes when asked to."""
        cfg, env = self.cfg, self.env
        rng = np.random.default_rng(cfg.seed)     # stored with the checkpoints
        episode, env_steps, updates, wall = 0, 0, 0, 0.0
        if run is not None and run.resume and (state := run.load_checkpoint()) is not None:
            self.load_state_dict(state["learner"])
            set_rng_state(state["rng"], rng)
            torch.set_rng_state(state["torch_rng"])
            episode, env_steps, updates, wall = state["episode"], state["env_steps"], state["updates"], state["wall"]
        max_episodes = cfg.episodes or float("inf")
        max_steps = cfg.total_env_steps or float("inf")
        start = time.perf_counter() - wall
        with LearningSession(run, cfg.checkpoint_every) as session:
            while episode < max_episodes and env_steps < max_steps:
                n = int(min(cfg.episodes_per_update, max_episodes - episode))
                batch, rows = collect_episodes(env, lambda o: self._act(o, explore=True), n, episode, cfg.seed)
                losses = self.update(batch)
                updates += 1
                for row in rows:
                    episode += 1
                    env_steps += row.pop("steps")
                    if run is not None:
                        run.log({"episode": episode, "env_steps": env_steps, **row, **losses})
                session.step_done(updates - 1, updates, lambda: {
                    "learner": self.state_dict(), "rng": rng_state(rng), "torch_rng": torch.get_rng_state(),
                    "episode": episode, "env_steps": env_steps, "updates": updates,
                    "wall": time.perf_counter() - start}, last=episode >= max_episodes or env_steps >= max_steps)
        self.episodes_done, self.env_steps, self.wall_seconds = episode, env_steps, time.perf_counter() - start
        return self

    # -- persistence -----------------------------------------------------------
    def state_dict(self) -> dict:
        s = self.returns_stats
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(), "opt": self.opt.state_dict(),
                "returns_stats": [float(s.mean), float(s.var), int(s.count)]}

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["opt"])
        s = self.returns_stats
        s.mean, s.var, s.count = state["returns_stats"]


def collect_episodes(env: JointEnv, act, episodes: int, first_episode: int, seed: int) -> tuple[dict, list[dict]]:
    """Roll out ``episodes`` whole episodes with ``act(obs) -> actions``.

    Returns the transitions as tensors (``obs``, ``state``, ``actions``, ``rewards``,
    ``next_state``, ``terminated``, ``truncated``; one row per joint step) and one
    metrics row per episode (team and per-agent returns).
    """
    keys = ("obs", "state", "actions", "rewards", "next_state", "terminated", "truncated")
    data: dict[str, list] = {k: [] for k in keys}
    rows = []
    for k in range(episodes):
        obs, state = env.reset(seed=episode_seed(seed, first_episode + k))
        per_agent, done, steps = np.zeros(env.n_agents), False, 0
        while not done:
            actions = act(obs)
            next_obs, next_state, rewards, terminated, truncated = env.step(actions)
            for key, value in zip(keys, (obs, state, actions, rewards, next_state, terminated, truncated)):
                data[key].append(value)
            per_agent += rewards
            obs, state, done, steps = next_obs, next_state, terminated or truncated, steps + 1
        rows.append({"return": float(per_agent.sum()), "steps": steps,
                     **agent_returns(per_agent, env.agents, env.zero_sum)})
    batch = {k: torch.as_tensor(np.asarray(v), dtype=torch.int64 if k == "actions" else torch.float32)
             for k, v in data.items()}
    return batch, rows


def run(cfg: Config, run_dir: RunDir, agent: MAPPO | None = None) -> dict:
    """Train MAPPO (or ``agent``, a variant), checkpoint, evaluate greedily into ``eval.csv``; return the summary."""
    torch.set_num_threads(1)
    seed_everything(cfg.seed)
    agent = agent or MAPPO(cfg, backend=run_dir.backend)
    env = agent.env
    agent.learn(run_dir)
    episode, env_steps, wall_seconds = agent.episodes_done, agent.env_steps, agent.wall_seconds
    run_dir.plot_curve(x="episode", y="return", title=f"MAPPO on {cfg.env_id}")
    rows = evaluate(env, agent, cfg.eval_episodes, seed=cfg.seed)
    run_dir.write_eval(rows)
    returns = np.array([r["return"] for r in rows])
    sampled = [r["return"] for r in evaluate(env, agent, cfg.eval_episodes, seed=cfg.seed, explore=True,
                                             coordination=False)]
    return {"episodes": episode, "env_steps": env_steps, "eval_return_mean": float(returns.mean()),
            "eval_return_std": float(returns.std()), "eval_sampled_return_mean": float(np.mean(sampled)),
            "n_params": agent.n_params, "wall_seconds": wall_seconds,
            "coverage": float(np.mean([r["coverage"] for r in rows])),
            "collisions": float(np.mean([r["collisions"] for r in rows])), **agent_summary(rows)}


def agent_from_config(config: dict) -> MAPPO:
    """The untrained learner of a run of ``config`` (a :class:`Config` as a dict), with its env."""
    return MAPPO(Config(**config))


def load_agent(run_dir, backend: str | None = None) -> MAPPO:
    """The trained learner of a run folder, ready to ``predict({agent: obs})`` (``qrl.load``)."""
    return load_multi_agent(run_dir, agent_from_config, backend)

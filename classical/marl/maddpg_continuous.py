"""MADDPG with continuous deterministic actors (tanh), centralised critics and TD3's fixes.

Each agent's deterministic actor ``mu(o_i, id_i)`` outputs an action in [-1, 1]^A
through a tanh (one actor shared by all agents, with agent ids); agent i's critic
``Q_i(o_1..o_N, a_1..a_N)`` sees every observation and action. Training follows
DDPG per agent (Lowe et al. 2017) with the three TD3 corrections (Fujimoto et al. 2018),
each switchable:

- ``twin_critics``: two critics, the target uses the smaller of their target values;
- ``smoothing_noise``/``smoothing_clip``: target policy smoothing, clipped Gaussian
  noise on the target actors' actions;
- ``policy_delay``: actors and targets move once per that many critic updates.

Exploration adds Gaussian noise whose scale falls linearly from ``noise_start`` to
``noise_end`` over the budget. The discrete variant (Gumbel-softmax) stays in
:mod:`classical.marl.maddpg`. Training uses the shared loop of :mod:`classical.marl.loop`.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 5, "continuous_actions": True},
...              episodes=4, warmup_steps=10, batch_size=8, eval_episodes=2)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["episodes"], summary["env_steps"]
(4, 20)
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything
from classical.common.training import adam_networks
from classical.marl.envs import JointEnv, make_joint_env
from classical.marl.loop import LoopSettings, evaluate, train
from classical.marl.metrics import agent_summary
from classical.marl.networks import (
    CentralCritic,
    load_modules,
    n_params,
    save_modules,
    soft_update,
    with_agent_ids,
)
from classical.rl.base import MultiAgent, load_multi_agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """Continuous MADDPG settings; ``configs/marl_*_maddpg_continuous.yaml`` are presets of this."""

    env_id: str = Field("simple_spread", description="'particle' or an mpe2 task (see classical.marl.envs)")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"N": 3, "max_cycles": 25,
                                                                "continuous_actions": True},
                                       description="keyword arguments of the task (continuous actions)")
    actor: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                                  description="actor model spec (input: own observation and agent id)")
    critic: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [128, 128]},
                                   description="centralised critic spec (an MLP on all observations and actions)")
    backend: str | None = Field(None, description="backends.yaml entry for circuit actors")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 1e-3},
                                 description="Adam step sizes: keys default, actor, critic, <net>.<group>, <group>")
    gamma: float = Field(0.95, gt=0, le=1, description="discount")
    tau: float = Field(0.01, gt=0, le=1, description="Polyak rate of the target networks")
    twin_critics: bool = Field(True, description="TD3 clipped double Q")
    smoothing_noise: float = Field(0.2, ge=0, description="TD3 target policy smoothing σ (0: off)")
    smoothing_clip: float = Field(0.5, ge=0, description="clip of the smoothing noise")
    policy_delay: int = Field(2, ge=1, description="critic updates per actor update")
    noise_start: float = Field(0.3, ge=0, description="exploration noise σ at the start")
    noise_end: float = Field(0.05, ge=0, description="exploration noise σ at the end of the budget")
    team_reward: bool = Field(False, description="every critic learns the team reward (sum over agents)")
    max_grad_norm: float | None = Field(0.5, gt=0, description="gradient norm clip (None: off)")
    episodes: int | None = Field(2000, ge=1, description="training budget in episodes")
    total_env_steps: int | None = Field(None, ge=1, description="training budget in joint env steps")
    batch_size: int = Field(256, ge=1, description="minibatch")
    buffer_size: int = Field(100_000, ge=1, description="replay capacity (joint transitions)")
    warmup_steps: int = Field(1000, ge=0, description="env steps before the first update")
    train_every: int = Field(4, ge=1, description="env steps between updates")
    eval_episodes: int = Field(50, ge=1, description="greedy (noise-free) evaluation episodes at the end")
    checkpoint_every: int = Field(100, ge=1, description="episodes between checkpoints")
    seed: int = Field(0, description="random seed")

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> JointEnv:
        """The task of ``env_id`` (what ``qrl train`` checks before a run)."""
        return make_joint_env(env_id, env_kwargs)


class ContinuousMADDPG(MultiAgent):
    """The learner: a shared tanh actor, one or two centralised critics, their targets.

    **Example**

    >>> env = make_joint_env("particle", {"n_agents": 2, "continuous_actions": True})
    >>> actions, _ = ContinuousMADDPG(Config(), env).predict(env.env.reset(seed=0)[0], deterministic=False)
    >>> actions["agent_0"].shape
    (2,)
    """

    on_policy = False

    def __init__(self, cfg: Config, env: JointEnv, backend: Any = None):
        if not env.continuous:
            raise ValueError(f"continuous MADDPG needs Box actions; build {cfg.env_id} with "
                             "env_kwargs continuous_actions: true (or use classical.marl.train's maddpg).")
        self.cfg, self.env = cfg, env
        self._record_origin("classical.marl.maddpg_continuous", cfg.model_dump(mode="json"))
        self.n_agents, self.action_dim, self.gamma = env.n_agents, env.action_dim, cfg.gamma
        self.team_reward = cfg.team_reward
        self.own = torch.as_tensor(env.action_mask, dtype=torch.float32)   # [N, A]: each agent's components
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.actor = build_model(cfg.actor, "policy", env.obs_dim + env.n_agents, env.action_dim, backend)
        spec = dict(cfg.critic)
        if spec.pop("type", "mlp") != "mlp" or set(spec) - {"hidden"}:
            raise ValueError(f"critic must be {{type: mlp, hidden: [...]}} (the centralised critic is an MLP), "
                             f"got {cfg.critic}.")
        hidden = spec.get("hidden", [128, 128])
        self.critic = nn.ModuleList([CentralCritic(env.n_agents, env.obs_dim, env.action_dim, hidden)
                                     for _ in range(2 if cfg.twin_critics else 1)])
        self.target_actor, self.target_critic = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_opt = adam_networks({"actor": self.actor}, cfg.lr)
        self.critic_opt = adam_networks({"critic": self.critic}, cfg.lr)
        self.updates = 0
        self.settings = LoopSettings(episodes=cfg.episodes or 10**12, max_env_steps=cfg.total_env_steps,
                                     batch_size=cfg.batch_size, buffer_size=cfg.buffer_size,
                                     warmup_steps=cfg.warmup_steps, train_every=cfg.train_every,
                                     checkpoint_every=cfg.checkpoint_every, seed=cfg.seed)

    @property
    def n_params(self) -> int:
        return n_params(self.actor, self.critic)

    def policy(self, obs: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Deterministic actions ``[B, N, A]`` in [-1, 1] from observations ``[B, N, D]``."""
        net = self.target_actor if target else self.actor
        x = with_agent_ids(obs)
        b, n, d = x.shape
        return torch.tanh(net(x.reshape(b * n, d))).reshape(b, n, -1) * self.own

    def _act(self, obs: np.ndarray, explore: bool, progress: float = 1.0, rng=None) -> np.ndarray:
        with torch.no_grad():
            a = self.policy(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
        if explore:
            sigma = self.cfg.noise_start + (self.cfg.noise_end - self.cfg.noise_start) * progress
            noise = (rng or np.random.default_rng()).normal(0.0, sigma, a.shape)
            a = np.clip(a + noise * self.own.numpy(), -1.0, 1.0)
        return a.astype(np.float32)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        obs, next_obs, actions = batch["obs"], batch["next_obs"], batch["actions"]
        rewards = batch["rewards"]
        if cfg.team_reward:
            rewards = rewards.sum(-1, keepdim=True).expand_as(rewards)
        with torch.no_grad():
            next_actions = self.policy(next_obs, target=True)
            if cfg.smoothing_noise > 0:
                noise = (torch.randn_like(next_actions) * cfg.smoothing_noise).clamp(-cfg.smoothing_clip,
                                                                                    cfg.smoothing_clip)
                next_actions = (next_actions + noise * self.own).clamp(-1.0, 1.0)
            next_q = torch.stack([q(next_obs, next_actions) for q in self.target_critic]).min(0).values
            target = rewards + self.gamma * (1 - batch["terminated"])[:, None] * next_q
        critic_loss = sum(F.mse_loss(q(obs, actions), target) for q in self.critic)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
        self.critic_opt.step()
        self.updates += 1
        out = {"critic_loss": float(critic_loss.detach())}
        if self.updates % cfg.policy_delay:
            return out
        # Agent i's critic sees its own action from the current actor, the others' from the buffer.
        own = self.policy(obs)
        eye = torch.eye(self.n_agents, dtype=torch.bool)[None, :, :, None]
        per_critic = torch.where(eye, own.unsqueeze(1), actions.unsqueeze(1))          # [B, i, j, A]
        actor_loss = -self.critic[0](obs, per_critic).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.max_grad_norm)
        self.actor_opt.step()
        soft_update(self.target_actor, self.actor, cfg.tau)
        soft_update(self.target_critic, self.critic, cfg.tau)
        return {**out, "actor_loss": float(actor_loss.detach())}

    def state_dict(self) -> dict:
        return {**save_modules(self, ("actor", "critic", "target_actor", "target_critic", "actor_opt",
                                      "critic_opt")), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        load_modules(self, state)
        self.updates = int(state.get("updates", 0))


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Train, checkpoint, evaluate the noise-free actors into ``eval.csv``; return the summary."""
    torch.set_num_threads(1)
    seed_everything(cfg.seed)
    env = make_joint_env(cfg.env_id, cfg.env_kwargs)
    agent = ContinuousMADDPG(cfg, env, backend=run_dir.backend)
    start = time.perf_counter()
    out = train(env, agent, agent.settings, run_dir)
    wall_seconds = time.perf_counter() - start
    run_dir.plot_curve(x="episode", y="return", title=f"continuous MADDPG on {cfg.env_id}")
    rows = evaluate(env, agent, cfg.eval_episodes, seed=cfg.seed)
    run_dir.write_eval(rows)
    returns = np.array([r["return"] for r in rows])
    return {"episodes": len(out["returns"]), "env_steps": out["env_steps"],
            "eval_return_mean": float(returns.mean()), "eval_return_std": float(returns.std()),
            "n_params": agent.n_params, "wall_seconds": wall_seconds,
            "coverage": float(np.mean([r["coverage"] for r in rows])),
            "collisions": float(np.mean([r["collisions"] for r in rows])), **agent_summary(rows)}


def agent_from_config(config: dict) -> ContinuousMADDPG:
    """The untrained learner of a run of ``config`` (a :class:`Config` as a dict), with its env."""
    cfg = Config(**config)
    return ContinuousMADDPG(cfg, make_joint_env(cfg.env_id, cfg.env_kwargs))


def load_agent(run_dir, backend: str | None = None) -> ContinuousMADDPG:
    """The trained learner of a run folder, ready to ``predict({agent: obs})`` (``qrl.load``)."""
    return load_multi_agent(run_dir, agent_from_config, backend)

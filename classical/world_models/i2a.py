"""Imagination-augmented agent (I2A, Weber et al. 2017) for continuous actions.

At every step the agent

1. imagines ``n_rollouts`` trajectories of ``rollout_depth`` steps in a learned
   environment model (:class:`~classical.world_models.dynamics.DynamicsModel`), each
   acting with its own *rollout policy* (a small Gaussian policy distilled from the
   agent's policy);
2. encodes each imagined trajectory ``(obs, reward)`` with a GRU read backwards (the
   imagination encoder) and concatenates the codes (the aggregator);
3. runs a model-free path (an MLP on the real observation);
4. feeds both into the policy (Gaussian) and value heads.

The agent learns by advantage actor-critic with GAE on its real episodes; the rollout
policy by imitation of the agent's mean action; the environment model by regression
on all real transitions (refitted every ``refit_every`` steps; imagination never
backpropagates into it).

Two details keep the actor-critic stable: the policy's mean is squashed into the
action bounds, and the value head predicts returns divided by a running return scale
(its last layer is rescaled with it, as in PopArt), so the critic's loss stays of
order one and does not swamp the policy gradient in the layers both share.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import episode_seed, rng_state, seed_everything, set_rng_state
from classical.common.training import LearningSession, budget_spent, lr_for
from classical.rl.base import run_checkpoint
from classical.world_models.dynamics import DynamicsModel
from classical.world_models.envs import eval_start_seed, make_env
from classical.world_models.world_model import mlp


class Config(TrainerConfig):
    """Imagination-augmented actor-critic."""

    env_id: str = Field("qrl/FourDControl-v0", description="gymnasium id with a Box action space")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    seed: int = Field(0, description="seed for environment, networks and sampling")
    total_env_steps: int | None = Field(5000, ge=1, description="budget in real environment steps")
    episodes: int | None = Field(None, ge=1, description="budget in real episodes")
    model_warmup_steps: int = Field(500, ge=1, description="random-action steps before the env model is first fitted")
    refit_every: int = Field(500, ge=1, description="refit the environment model every this many steps")
    model_fit_steps: int = Field(300, ge=1, description="gradient steps per env-model refit")
    n_rollouts: int = Field(3, ge=1, description="imagined trajectories per step")
    rollout_depth: int = Field(5, ge=1, description="steps per imagined trajectory")
    code_dim: int = Field(16, ge=1, description="imagination-encoder code per trajectory")
    width: int = Field(64, ge=1, description="hidden width of the networks")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 1e-3, "model": 1e-3},
                                 description="Adam learning rates: default (agent and rollout policy), "
                                             "model (the environment model) (README: lr)")
    gamma: float = Field(0.97, gt=0, le=1, description="discount")
    max_grad_norm: float | None = Field(10.0, gt=0, description="gradient norm clip of the agent "
                                                                 "(None: no clipping)")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE λ")
    entropy_scale: float = Field(1e-3, ge=0, description="entropy bonus")
    eval_episodes: int = Field(10, ge=1, description="deterministic evaluation episodes at the end")


class GaussianHead(nn.Module):
    """``x -> Normal(mean, std)`` with the mean squashed into the action bounds and a
    state-independent learned log-std.

    The squash matters: an unbounded mean can drift past the bounds, where every
    clipped action is the same and the policy gradient no longer pulls it back.
    """

    def __init__(self, in_dim: int, action_dim: int, hidden: int, low: float = -1.0, high: float = 1.0):
        super().__init__()
        self.mean = mlp(in_dim, action_dim, hidden, 1)
        self.log_std = nn.Parameter(torch.full((action_dim,), -0.5))
        self.centre, self.half_width = (high + low) / 2, (high - low) / 2

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        mean = self.centre + self.half_width * torch.tanh(self.mean(x))
        return torch.distributions.Normal(mean, self.log_std.exp().expand(x.shape[0], -1))


class I2A(nn.Module):
    """Imagination core + encoder + model-free path + policy/value heads.

    **Example**

    >>> model = DynamicsModel(4, 2, hidden=8)
    >>> agent = I2A(model, obs_dim=4, action_dim=2, low=-1.0, high=1.0, cfg=Config(n_rollouts=2))
    >>> dist, value = agent(torch.zeros(5, 4))
    >>> dist.mean.shape, value.shape
    (torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(self, env_model: DynamicsModel, obs_dim: int, action_dim: int, low, high, cfg: Config):
        super().__init__()
        self.env_model, self.cfg, self.obs_dim = env_model, cfg, obs_dim
        self.low, self.high = float(np.min(low)), float(np.max(high))
        self.rollout_policy = GaussianHead(obs_dim, action_dim, cfg.width, self.low, self.high)
        self.encoder = nn.GRU(obs_dim + 1, cfg.code_dim)
        self.model_free = mlp(obs_dim, cfg.width, cfg.width, 1)
        joint = cfg.n_rollouts * cfg.code_dim + cfg.width
        self.policy = GaussianHead(joint, action_dim, cfg.width, self.low, self.high)
        self.value = mlp(joint, 1, cfg.width, 1)
        # the value head predicts returns / return_scale, so its loss stays O(1) beside the policy's
        self.register_buffer("return_scale", torch.ones(()))

    @torch.no_grad()
    def imagine(self, obs: torch.Tensor) -> torch.Tensor:
        """Imagined trajectories ``[depth, B·K, obs_dim + 1]`` (next obs and reward per step)."""
        k = self.cfg.n_rollouts
        state = obs.repeat_interleave(k, 0)
        steps = []
        for _ in range(self.cfg.rollout_depth):
            action = self.rollout_policy(state).sample().clamp(self.low, self.high)
            state, reward = self.env_model(state, action)
            steps.append(torch.cat([state, reward[:, None]], -1))
        return torch.stack(steps)

    def forward(self, obs: torch.Tensor) -> tuple[torch.distributions.Normal, torch.Tensor]:
        traj = self.imagine(obs)
        _, code = self.encoder(traj.flip(0))  # read backwards: the last imagined step first
        imagined = code[-1].reshape(obs.shape[0], -1)
        joint = torch.cat([imagined, self.model_free(obs)], -1)
        return self.policy(joint), self.value(joint).squeeze(-1) * self.return_scale

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The policy's mean action (``deterministic``) or a sample, clipped to the bounds.

        The imagined rollouts sample the rollout policy; a deterministic call draws them from a
        generator seeded with ``cfg.seed`` (the global torch RNG is left as it was).
        """
        single = np.ndim(obs) == 1
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim)
        with torch.random.fork_rng() if deterministic else contextlib.nullcontext():
            if deterministic:
                torch.manual_seed(self.cfg.seed)
            dist, _ = self(x)
        action = (dist.mean if deterministic else dist.sample()).clamp(self.low, self.high).numpy()
        return (action[0] if single else action), None

    def save(self, path) -> None:
        save_checkpoint_file(path, {"config": self.cfg.model_dump(), "agent": self.state_dict()})

    @classmethod
    def load(cls, path, **overrides) -> I2A:
        """Rebuild a saved agent in a fresh interpreter (``overrides`` change config fields)."""
        state = load_checkpoint_file(path)
        agent = agent_for_task(Config(**{**state["config"], **overrides}))
        agent.load_state_dict(state["agent"])
        return agent

    @torch.no_grad()
    def rescale_value(self, returns: torch.Tensor, rate: float = 0.1) -> torch.Tensor:
        """Move ``return_scale`` towards the mean |return| and return the new scale.

        The value head's last layer is divided by the same factor, so values it predicts
        are unchanged (as in PopArt); :meth:`forward` then multiplies by the new scale.
        """
        old = self.return_scale.clone()
        new = (1 - rate) * old + rate * returns.abs().mean().clamp_min(1e-3)
        self.value[-1].weight.mul_(old / new)
        self.value[-1].bias.mul_(old / new)
        self.return_scale.copy_(new)
        return new


def gae(rewards: np.ndarray, values: np.ndarray, last_value: float, gamma: float, lam: float,
        terminated: bool) -> np.ndarray:
    """Generalised advantage estimates for one episode (bootstrapped unless terminated)."""
    adv = np.zeros(len(rewards))
    nxt, running = (0.0 if terminated else last_value), 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * nxt - values[t]
        running = delta + gamma * lam * running
        adv[t], nxt = running, values[t]
    return adv


def agent_for_task(cfg: Config, env=None) -> I2A:
    """An untrained agent (with its untrained environment model) sized for ``cfg``'s environment."""
    env = env or make_env(cfg.env_id, **cfg.env_kwargs)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    env_model = DynamicsModel(obs_dim, action_dim, hidden=cfg.width)
    return I2A(env_model, obs_dim, action_dim, env.action_space.low, env.action_space.high, cfg)


def load_agent(run_dir, backend: str | None = None) -> I2A:
    """The trained agent of a run folder, ready to ``predict`` (``qrl.load``)."""
    config, state = run_checkpoint(run_dir, backend)
    agent = agent_for_task(Config(**config))
    agent.load_state_dict(state["agent"])
    return agent


def run(cfg: Config, run: RunDir) -> dict:
    """Train I2A within the budget (real steps and/or episodes), then evaluate its mean action."""
    torch.set_num_threads(1)
    rng = seed_everything(cfg.seed)
    start_time = time.perf_counter()
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    agent = agent_for_task(cfg, env)
    env_model = agent.env_model
    agent_params = [p for n, p in agent.named_parameters() if not n.startswith(("env_model", "rollout_policy"))]
    opt = torch.optim.Adam(agent_params, lr=lr_for(cfg.lr, "agent"))
    rollout_opt = torch.optim.Adam(agent.rollout_policy.parameters(), lr=lr_for(cfg.lr, "rollout_policy"))
    model_opt = torch.optim.Adam(env_model.parameters(), lr=lr_for(cfg.lr, "model"))
    step_limit = cfg.total_env_steps or float("inf")
    data: dict[str, list] = {"obs": [], "action": [], "next_obs": [], "reward": []}
    env_steps, episode, since_fit, fitted = 0, 0, 0, False

    state = run.load_checkpoint() if run.resume else None
    if state is not None:
        agent.load_state_dict(state["agent"])
        for o, key in ((opt, "opt"), (rollout_opt, "rollout_opt"), (model_opt, "model_opt")):
            o.load_state_dict(state[key])
        data = state["data"]
        set_rng_state(state["rng"], rng)
        env_steps, episode, since_fit, fitted = (state[k] for k in ("env_steps", "episode", "since_fit", "fitted"))

    with LearningSession(run, None) as session:   # a checkpoint per episode; Ctrl-C stops between two
        while not budget_spent(cfg, episode, env_steps):
            obs, _ = env.reset(seed=episode_seed(cfg.seed, episode, stride=100_003))
            ep_obs, ep_act, ep_rew, done, terminated = [], [], [], False, False
            while not done and env_steps < step_limit:
                if not fitted:
                    action = rng.uniform(low, high).astype(np.float32)
                else:
                    with torch.no_grad():
                        dist, _ = agent(torch.as_tensor(obs, dtype=torch.float32)[None])
                    action = dist.sample()[0].numpy()
                next_obs, reward, terminated, truncated, _ = env.step(np.clip(action, low, high))
                for k, v in zip(data, (obs, action, next_obs, reward)):
                    data[k].append(np.asarray(v, dtype=np.float32))
                ep_obs.append(obs)
                ep_act.append(action)
                ep_rew.append(reward)
                obs, done = next_obs, terminated or truncated
                env_steps += 1
                since_fit += 1
            episode += 1
            logs = {}
            if fitted:  # actor-critic update on the episode just played
                o = torch.as_tensor(np.array(ep_obs), dtype=torch.float32)
                a = torch.as_tensor(np.array(ep_act), dtype=torch.float32)
                with torch.no_grad():
                    _, old_values = agent(o)
                    _, last = agent(torch.as_tensor(obs, dtype=torch.float32)[None])
                adv = torch.as_tensor(gae(np.array(ep_rew), old_values.numpy(), float(last), cfg.gamma,
                                          cfg.gae_lambda, bool(terminated)), dtype=torch.float32)
                returns = adv + old_values
                adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
                scale = agent.rescale_value(returns)
                dist, values = agent(o)
                loss = -(dist.log_prob(a).sum(-1) * adv).mean() \
                    + 0.5 * (((values - returns) / scale) ** 2).mean() \
                    - cfg.entropy_scale * dist.entropy().sum(-1).mean()
                opt.zero_grad()
                loss.backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(agent_params, cfg.max_grad_norm)
                opt.step()
                # rollout policy imitates the agent's mean action (distillation)
                distill = ((agent.rollout_policy(o).mean - dist.mean.detach()) ** 2).mean()
                rollout_opt.zero_grad()
                distill.backward()
                rollout_opt.step()
                logs = {"loss": loss.item(), "distill": distill.item()}
            if env_steps >= cfg.model_warmup_steps and (not fitted or since_fit >= cfg.refit_every):
                arrays = {k: np.array(v) for k, v in data.items()}
                logs["model_loss"] = env_model.fit(arrays["obs"], arrays["action"], arrays["next_obs"],
                                                   arrays["reward"], cfg.model_fit_steps, optimizer=model_opt)
                fitted, since_fit = True, 0
            run.log({"episode": episode, "env_steps": env_steps, "return": float(np.sum(ep_rew)),
                     "loss": logs.get("loss", float("nan")), "model_loss": logs.get("model_loss", float("nan"))})
            session.step_done(episode - 1, episode, lambda: {
                "agent": agent.state_dict(), "opt": opt.state_dict(), "rollout_opt": rollout_opt.state_dict(),
                "model_opt": model_opt.state_dict(), "data": data, "rng": rng_state(rng), "env_steps": env_steps,
                "episode": episode, "since_fit": since_fit, "fitted": fitted}, last=budget_spent(cfg, episode, env_steps))
    run.plot_curve(x="env_steps", y="return", window=10)
    rows = []
    for i in range(cfg.eval_episodes):
        obs, _ = env.reset(seed=eval_start_seed(cfg.seed, i))
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                dist, _ = agent(torch.as_tensor(obs, dtype=torch.float32)[None])
            obs, reward, terminated, truncated, _ = env.step(np.clip(dist.mean[0].numpy(), low, high))
            total += float(reward)
            done = terminated or truncated
        rows.append({"episode": i, "return": total})
    run.write_eval(rows)
    returns = [r["return"] for r in rows]
    n_params = sum(p.numel() for p in agent.parameters())   # the environment model is part of the agent
    return {"episodes": episode, "env_steps": env_steps, "eval_return_mean": float(np.mean(returns)),
            "n_params": n_params, "wall_seconds": round(time.perf_counter() - start_time, 3),
            "eval_return_std": float(np.std(returns))}

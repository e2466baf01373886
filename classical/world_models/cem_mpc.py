"""Model-based RL with a learned dynamics model and CEM model-predictive control.

Loop: collect ``random_steps`` with uniform random actions, fit the dynamics (and
reward) model, then act with a CEM planner in the model and refit the model every
``refit_every`` real steps, until the budget (``total_env_steps`` real environment
steps and/or ``episodes``) is spent.
With ``reward: known`` the planner scores rollouts with the environment's true
reward function and only the dynamics are learned (PETS-style); with
``reward: learned`` both come from the model.

With ``critic:`` set (a ``build_model`` spec, e.g. ``{"type": "mlp"}`` or, once
``qrl.models`` is imported, ``{"type": "vqc"}``), a state-value network is fitted to
the discounted returns-to-go of the real episodes and added as the planner's
terminal value ``γ^H V(s_H)``, so a short horizon sees beyond its end.

Run with ``qrl train --config configs/pendulum_cem_mpc.yaml --seed 0 --out runs/cem``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from classical.common.buffers import ReplayBuffer
from classical.common.config import TrainerConfig
from classical.common.rollouts import discounted_returns
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import episode_seed, rng_state, seed_everything, set_rng_state
from classical.common.training import LearningSession, adam_per_group, budget_spent, lr_for, rebuild_agent
from classical.rl.base import run_checkpoint
from classical.rl.models import build_model
from classical.world_models.cem import CEMPlanner
from classical.world_models.dynamics import DynamicsModel, Normaliser
from classical.world_models.envs import eval_start_seed, known_reward_fn, make_env


class Config(TrainerConfig):
    """CEM-MPC with a learned model."""

    env_id: str = Field("Pendulum-v1", description="gymnasium id (Pendulum-v1 or qrl/FourDControl-v0)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    seed: int = Field(0, description="seed for environment, model and planner")
    total_env_steps: int | None = Field(2000, ge=1, description="budget in real environment steps (the last "
                                                                "episode is cut at it)")
    episodes: int | None = Field(None, ge=1, description="budget in real episodes")
    random_steps: int = Field(200, ge=1, description="initial steps with uniform random actions")
    refit_every: int = Field(200, ge=1, description="refit the model after this many real steps")
    reward: Literal["learned", "known"] = Field("learned", description="planner's reward: learned model or the env's known reward")
    horizon: int = Field(20, ge=1, description="planning horizon")
    n_candidates: int = Field(500, ge=2, description="CEM candidate sequences per iteration")
    n_elites: int = Field(50, ge=1, description="CEM elites")
    n_iters: int = Field(4, ge=1, description="CEM iterations per step")
    gamma: float = Field(1.0, gt=0, le=1, description="discount of model rewards in planning")
    hidden: list[int] = Field(default_factory=lambda: [64, 64], description="hidden widths of the dynamics MLP")
    ensemble_size: int = Field(1, ge=1, description="dynamics ensemble members (predictions averaged)")
    fit_steps: int = Field(600, ge=1, description="gradient steps per model refit")
    batch_size: int = Field(256, ge=1, description="minibatch size for model fitting")
    lr: dict[str, float] = Field(default_factory=lambda: {"model": 1e-3, "critic": 3e-3},
                                 description="Adam learning rates: model (the dynamics), critic (README: lr)")
    eval_episodes: int = Field(10, ge=1, description="deterministic evaluation episodes at the end")
    critic: dict[str, Any] | None = Field(None, description="terminal value network spec (build_model), or None")
    critic_fit_steps: int = Field(200, ge=1, description="gradient steps per critic refit")
    critic_tail: int = Field(50, ge=0, description="last steps of each episode left out of critic targets "
                                                   "(truncated returns)")
    backend: str | None = Field(None, description="backends.yaml entry for a quantum critic")

    @model_validator(mode="after")
    def _critic_needs_discount(self):
        if self.critic is not None and self.gamma >= 1.0:
            raise ValueError("a terminal value (critic) needs gamma < 1 (its targets are discounted returns); "
                             "set gamma, e.g. 0.95")
        return self


class TerminalValue(nn.Module):
    """``V(obs)`` = a network on normalised observations, mapped back to the return scale."""

    def __init__(self, net: nn.Module, obs_dim: int):
        super().__init__()
        self.net, self.obs_norm, self.target_norm = net, Normaliser(obs_dim), Normaliser(1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net(self.obs_norm(obs)).reshape(-1, 1).float()
        return self.target_norm.inverse(out).squeeze(-1)

    def fit(self, obs: np.ndarray, targets: np.ndarray, n_steps: int, optimizer, generator,
            batch_size: int = 64) -> float:
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        y = torch.as_tensor(targets, dtype=torch.float32).reshape(-1, 1)
        self.obs_norm.fit(obs_t)
        self.target_norm.fit(y)
        x, y = self.obs_norm(obs_t), self.target_norm(y)
        loss = torch.tensor(float("nan"))
        for _ in range(n_steps):
            idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
            loss = ((self.net(x[idx]).reshape(-1, 1).float() - y[idx]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return loss.item()


def _episode(env, planner: CEMPlanner | None, seed: int, rng: np.random.Generator, max_steps: int,
             on_step=None) -> tuple[float, int, float]:
    """Play one episode (random actions if ``planner`` is None); return (return, steps, ms/plan)."""
    obs, _ = env.reset(seed=seed)
    if planner is not None:
        planner.reset()
    total, steps, plan_time = 0.0, 0, 0.0
    low, high = env.action_space.low, env.action_space.high
    while steps < max_steps:
        if planner is None:
            action = rng.uniform(low, high).astype(np.float32)
        else:
            t0 = time.perf_counter()
            action = planner.act(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            plan_time += time.perf_counter() - t0
        next_obs, reward, terminated, truncated, _ = env.step(action)
        if on_step is not None:
            on_step(obs, action, reward, next_obs, terminated)
        total += float(reward)
        steps += 1
        obs = next_obs
        if terminated or truncated:
            break
    ms = 1000 * plan_time / steps if planner is not None else 0.0
    return total, steps, ms


class CEMAgent:
    """The learned model (and terminal value) with the CEM planner: model-predictive control as an agent.

    ``predict(obs, state=None)`` plans from ``obs`` and returns the plan's first action and, as
    the recurrent ``state``, the rest of the plan, which warm-starts the next call (pass None at
    an episode's start).

    **Example**

    >>> agent = CEMAgent(Config(n_candidates=20, n_elites=4, n_iters=2, horizon=3))
    >>> action, plan = agent.predict(np.zeros(3, np.float32))
    >>> action.shape, tuple(plan.shape)
    ((1,), (1, 3, 1))
    """

    def __init__(self, cfg: Config, env=None, backend=None):
        self.cfg = cfg
        env = env or make_env(cfg.env_id, **cfg.env_kwargs)
        self.obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.model = DynamicsModel(self.obs_dim, act_dim, cfg.hidden, ensemble_size=cfg.ensemble_size)
        self.value = None
        if cfg.critic is not None:
            backend = cfg.backend if backend is None else backend   # a run's resolved backend
            self.value = TerminalValue(build_model(cfg.critic, "value", self.obs_dim, 1, backend=backend),
                                       self.obs_dim)
        reward_fn = known_reward_fn(cfg.env_id) if cfg.reward == "known" else None
        self.planner = CEMPlanner(self.model.step_fn(reward_fn), env.action_space.low, env.action_space.high,
                                  cfg.horizon, cfg.n_candidates, cfg.n_elites, cfg.n_iters, cfg.gamma,
                                  seed=cfg.seed)

    @torch.no_grad()
    def predict(self, obs, state: torch.Tensor | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, torch.Tensor]:
        """The first planned action for ``obs`` (one observation or a batch) and the plan as the next state.

        A deterministic call draws the planner's candidates from a generator seeded with ``cfg.seed``.
        """
        single = np.ndim(obs) == 1
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim)
        self.planner.reset()
        if state is not None:
            self.planner._plan = state
        if deterministic:       # the same candidates for the same observation and plan
            self.planner.generator.manual_seed(self.cfg.seed)
        action = self.planner.act(x).numpy()
        return (action[0] if single else action), self.planner._plan

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                **({"value": self.value.state_dict()} if self.value is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
            fitted = bool(state.get("value_data", {"obs": [None]})["obs"])
            self.planner.terminal_value = self.value if fitted else None

    def save(self, path) -> None:
        save_checkpoint_file(path, {"config": self.cfg.model_dump(), **self.state_dict()})

    @classmethod
    def load(cls, path, **overrides) -> CEMAgent:
        """Rebuild a saved agent in a fresh interpreter (``overrides`` change config fields)."""
        return rebuild_agent(load_checkpoint_file(path), lambda c: cls(Config(**{**c, **overrides})))


def load_agent(run_dir, backend: str | None = None) -> CEMAgent:
    """The model-predictive controller a run trained, ready to ``predict`` (``qrl.load``)."""
    config, state = run_checkpoint(run_dir, backend)
    agent = CEMAgent(Config(**config))
    agent.load_state_dict(state)
    return agent


def run(cfg: Config, run: RunDir) -> dict:
    """Train CEM-MPC within the budget, then evaluate ``cfg.eval_episodes`` episodes."""
    torch.set_num_threads(1)
    rng = seed_everything(cfg.seed)
    start_time = time.perf_counter()
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    agent = CEMAgent(cfg, env, run.backend)
    model, value, planner = agent.model, agent.value, agent.planner
    optimizer = torch.optim.Adam(model.parameters(), lr=lr_for(cfg.lr, "model"))
    buffer = ReplayBuffer(cfg.total_env_steps or 1_000_000)
    value_opt = None
    value_data: dict[str, list] = {"obs": [], "target": []}
    if value is not None:
        value_opt = adam_per_group(value.net, cfg.lr, net="critic")
    generator = torch.Generator().manual_seed(cfg.seed)
    env_steps, episode, since_fit, loss = 0, 0, 0, float("nan")

    state = run.load_checkpoint() if run.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        buffer.load_state_dict(state["buffer"])
        set_rng_state(state["rng"], rng)
        generator.set_state(state["generator"])
        planner.generator.set_state(state["planner_generator"])
        env_steps, episode, since_fit, loss = (state[k] for k in ("env_steps", "episode", "since_fit", "loss"))
        if value is not None:
            value.load_state_dict(state["value"])
            value_opt.load_state_dict(state["value_opt"])
            value_data = state["value_data"]
            planner.terminal_value = value if value_data["obs"] else None

    episode_obs, episode_rewards = [], []

    def add(obs, action, reward, next_obs, terminated):
        episode_obs.append(obs)
        episode_rewards.append(reward)
        buffer.add(obs=obs[None], action=np.asarray(action, np.float32)[None],
                   reward=np.array([reward], np.float32), next_obs=next_obs[None])

    def refit() -> float:
        d = buffer.state_dict()["data"]
        return model.fit(d["obs"], d["action"], d["next_obs"], d["reward"], cfg.fit_steps,
                         cfg.batch_size, optimizer=optimizer, generator=generator)

    # Episodes are cut at the remaining budget; the model is refitted every `refit_every` steps,
    # at the end of the episode in which that many new steps accumulated.
    with LearningSession(run, None) as session:   # a checkpoint per episode; Ctrl-C stops between two
        while not budget_spent(cfg, episode, env_steps):
            random_phase = env_steps < cfg.random_steps
            episode_obs.clear()
            episode_rewards.clear()
            limit = (cfg.random_steps if random_phase else (cfg.total_env_steps or 10**12)) - env_steps
            ret, steps, ms = _episode(env, None if random_phase else planner,
                                      seed=episode_seed(cfg.seed, episode, stride=100_003), rng=rng, max_steps=limit,
                                      on_step=add)
            env_steps += steps
            since_fit += steps
            episode += 1
            if env_steps >= cfg.random_steps and (since_fit >= cfg.refit_every or env_steps == cfg.random_steps):
                loss = refit()
                since_fit = 0
            if value is not None:
                # returns-to-go near the cut-off are truncated: keep only the earlier steps as targets
                keep = max(len(episode_rewards) - cfg.critic_tail, 0)
                value_data["obs"] += episode_obs[:keep]
                value_data["target"] += list(discounted_returns(episode_rewards, cfg.gamma)[:keep])
                if env_steps >= cfg.random_steps and value_data["obs"]:
                    value.fit(np.array(value_data["obs"]), np.array(value_data["target"]), cfg.critic_fit_steps,
                              value_opt, generator)
                    planner.terminal_value = value
            run.log({"episode": episode, "env_steps": env_steps, "return": ret, "model_loss": loss,
                     "plan_ms": ms, "random": int(random_phase)})
            session.step_done(episode - 1, episode, lambda: {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "buffer": buffer.state_dict(),
                "rng": rng_state(rng), "generator": generator.get_state(),
                "planner_generator": planner.generator.get_state(), "env_steps": env_steps, "episode": episode,
                "since_fit": since_fit, "loss": loss,
                **({"value": value.state_dict(), "value_opt": value_opt.state_dict(), "value_data": value_data}
                   if value is not None else {})}, last=budget_spent(cfg, episode, env_steps))
    run.plot_curve(x="env_steps", y="return", window=3)

    # Evaluation: fixed episode seeds, the planner's seeded generator, no model updates.
    planner.generator.manual_seed(cfg.seed + 777)
    rows = []
    for i in range(cfg.eval_episodes):
        ret, steps, ms = _episode(env, planner, seed=eval_start_seed(cfg.seed, i), rng=rng,
                                  max_steps=10**9)
        rows.append({"episode": i, "return": ret, "steps": steps, "plan_ms": ms})
    run.write_eval(rows)
    returns = [r["return"] for r in rows]
    n_params = sum(p.numel() for p in model.parameters()) + (value.net.n_params if value is not None else 0)
    return {"episodes": episode, "env_steps": env_steps, "eval_return_mean": float(np.mean(returns)),
            "n_params": n_params, "wall_seconds": round(time.perf_counter() - start_time, 3),
            "eval_return_std": float(np.std(returns)),
            "plan_ms": float(np.median([r["plan_ms"] for r in rows]))}

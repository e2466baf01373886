"""PlaNet-style latent planning: CEM over action sequences inside the RSSM.

Hafner et al. (2019) plan without any policy network: at every step the agent
filters its latent state ``(h, z)`` from the observations so far (the RSSM posterior),
then runs the cross-entropy method over action sequences *in the latent space* —
each candidate is rolled forward with the prior ``p(z | h)`` and scored by the
reward head's imagined rewards; no observation is decoded while planning. The
first action of the best plan (plus exploration noise while collecting) is applied,
repeated ``action_repeat`` times.

The world model (:class:`~classical.world_models.world_model.WorldModel`: encoder,
RSSM, decoder, reward head) is trained on sequences the planner collected itself:
``seed_episodes`` random episodes, then after each planner episode
``train_steps`` updates on windows of ``seq_len`` steps.

Observations are the state vector (scaled to about ``[-1, 1]``) or, with
``pixels: true``, the rendered frame in grey levels average-pooled to
``image_size × image_size``, read by a small conv encoder and drawn by a conv decoder;
the recurrent latent has to infer the angular velocity from consecutive frames.

Run with ``qrl train --config configs/pendulum_planet.yaml``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import episode_seed, seed_everything
from classical.common.training import LearningSession, lr_for
from classical.world_models.cem import CEMPlanner
from classical.world_models.envs import eval_start_seed
from classical.world_models.rssm import LatentState
from classical.world_models.world_model import SequenceReplay, WorldModel


class Config(TrainerConfig):
    """PlaNet settings; ``configs/pendulum_planet.yaml`` (states) and ``pendulum_planet_pixels.yaml``."""

    env_id: str = Field("Pendulum-v1", description="gymnasium id (continuous actions)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    pixels: bool = Field(False, description="observe rendered frames instead of the state vector")
    image_size: int = Field(32, ge=8, description="side of the grey frame the encoder reads (pixels)")
    obs_scale: list[float] | None = Field(None, description="divide state observations by these")
    episodes: int | None = Field(None, gt=0, description="training budget in episodes (None: no limit)")
    total_env_steps: int | None = Field(5000, gt=0, description="training budget in environment steps")
    seed_episodes: int = Field(5, ge=1, description="random-action episodes before planning")
    action_repeat: int = Field(2, ge=1, description="environment steps per planned action")
    exploration_noise: float = Field(0.3, ge=0, description="Gaussian noise on planned actions while collecting")
    train_steps: int = Field(100, ge=1, description="world-model updates after each episode")
    batch_size: int = Field(32, ge=1, description="sequences per update")
    seq_len: int = Field(32, ge=2, description="steps per training sequence")
    deter_dim: int = Field(64, ge=1, description="RSSM GRU state size")
    stoch_dim: int = Field(16, ge=1, description="RSSM Gaussian latent size")
    width: int = Field(64, ge=1, description="width of the RSSM and head MLPs (one number: every layer)")
    free_nats: float = Field(1.0, ge=0, description="KL below this is not penalised")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 1e-3},
                                 description="Adam learning rate per group (network: world_model)")
    max_grad_norm: float | None = Field(100.0, gt=0, description="gradient clipping of the world model")
    horizon: int = Field(12, ge=1, description="planning horizon (planned actions)")
    n_candidates: int = Field(300, ge=2, description="CEM candidates per iteration")
    n_elites: int = Field(30, ge=1, description="CEM elites")
    n_iters: int = Field(5, ge=1, description="CEM iterations per planned action")
    gamma: float = Field(1.0, gt=0, le=1, description="discount of imagined rewards in planning")
    eval_episodes: int = Field(5, ge=0, description="noise-free planner episodes at the end")
    checkpoint_every: int = Field(1, ge=1, description="save a checkpoint every this many episodes")
    seed: int = Field(0, description="seed of environment, model and planner")


class ConvEncoder(nn.Module):
    """Flat ``side²`` grey frame → embedding (three stride-2 convolutions)."""

    def __init__(self, side: int, out_dim: int, channels: int = 16):
        super().__init__()
        self.side = side
        self.net = nn.Sequential(nn.Conv2d(1, channels, 4, 2, 1), nn.ELU(),
                                 nn.Conv2d(channels, 2 * channels, 4, 2, 1), nn.ELU(),
                                 nn.Conv2d(2 * channels, 4 * channels, 4, 2, 1), nn.ELU(), nn.Flatten())
        self.out = nn.Linear(4 * channels * (side // 8) ** 2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = self.net(x.reshape(-1, 1, self.side, self.side))
        return self.out(y).reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """Latent feature → flat ``side²`` grey frame (mirror of :class:`ConvEncoder`)."""

    def __init__(self, in_dim: int, side: int, channels: int = 16):
        super().__init__()
        self.side, self.channels = side, channels
        self.inp = nn.Linear(in_dim, 4 * channels * (side // 8) ** 2)
        self.net = nn.Sequential(nn.ELU(), nn.ConvTranspose2d(4 * channels, 2 * channels, 4, 2, 1), nn.ELU(),
                                 nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1), nn.ELU(),
                                 nn.ConvTranspose2d(channels, 1, 4, 2, 1))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        y = self.inp(feat).reshape(-1, 4 * self.channels, self.side // 8, self.side // 8)
        return self.net(y).reshape(*lead, self.side * self.side)


class GreyFrame(gym.ObservationWrapper):
    """Observation = the rendered frame, grey, average-pooled to ``side × side``, in ``[0, 1]``, flat."""

    def __init__(self, env: gym.Env, side: int):
        super().__init__(env)
        self.side = side
        self.observation_space = gym.spaces.Box(0.0, 1.0, (side * side,), np.float32)

    def observation(self, _obs) -> np.ndarray:
        frame = torch.as_tensor(self.env.render(), dtype=torch.float32).mean(-1) / 255.0
        pooled = F.adaptive_avg_pool2d(frame[None, None], self.side)
        return pooled.reshape(-1).numpy()


def make_planet_env(cfg: Config) -> gym.Env:
    if cfg.pixels:
        if cfg.image_size % 8:
            raise ValueError(f"image_size = {cfg.image_size}; the conv encoder needs a multiple of 8 (e.g. 32).")
        return GreyFrame(gym.make(cfg.env_id, render_mode="rgb_array", **cfg.env_kwargs), cfg.image_size)
    return gym.make(cfg.env_id, **cfg.env_kwargs)


def build_world_model(cfg: Config, obs_dim: int, action_dim: int) -> WorldModel:
    wm = WorldModel(obs_dim, action_dim, cfg.deter_dim, cfg.stoch_dim, cfg.width,
                    free_nats=cfg.free_nats)
    if cfg.pixels:
        wm.encoder = ConvEncoder(cfg.image_size, cfg.width)
        wm.decoder = ConvDecoder(wm.rssm.feature_dim, cfg.image_size)
    return wm


class PlaNetAgent:
    """Latent-space CEM planner around a world model, with an SB3-like surface.

    ``predict(obs, state)`` filters the latent state with each new observation: it returns the
    next recurrent state, which the following call takes (None at an episode's start).

    **Example**

    >>> agent = PlaNetAgent(Config(n_candidates=20, n_elites=4, n_iters=2, horizon=3))
    >>> action, state = agent.predict(np.zeros(3, np.float32))
    >>> action.shape, bool(np.all(np.abs(action) <= 2.0))
    ((1,), True)
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        env = make_planet_env(cfg)
        self.obs_dim = int(np.prod(env.observation_space.shape))
        self.action_dim = int(np.prod(env.action_space.shape))
        self.low, self.high = env.action_space.low, env.action_space.high
        env.close()
        self.scale = torch.ones(self.obs_dim) if cfg.obs_scale is None or cfg.pixels \
            else torch.as_tensor(cfg.obs_scale, dtype=torch.float32)
        self.wm = build_world_model(cfg, self.obs_dim, self.action_dim)
        self.planner = CEMPlanner(self._step, self.low, self.high, cfg.horizon, cfg.n_candidates,
                                  cfg.n_elites, cfg.n_iters, cfg.gamma, seed=cfg.seed)
        self.reset()

    def _step(self, state: tuple[torch.Tensor, torch.Tensor], action: torch.Tensor):
        """Planner model: one prior step in the latent; the reward head's imagined reward."""
        nxt = self.wm.rssm.img_step(LatentState(state[0], state[1], ()), action)
        return (nxt.h, nxt.z), self.wm.reward(nxt), None

    def normalise(self, obs) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim) / self.scale

    def reset(self) -> None:
        self.state = self.wm.rssm.initial(1)
        self.prev_action = torch.zeros(1, self.action_dim)
        self.planner.reset()

    def predict(self, obs, state: tuple | None = None, deterministic: bool = True) -> tuple[np.ndarray, tuple]:
        """The planned action for ``obs`` and the next recurrent state ``(latent, action, plan)``.

        Pass ``state=None`` at an episode's start. A deterministic call is reproducible: the
        posterior latent and the planner's candidates come from generators seeded with
        ``cfg.seed`` (the global torch RNG is left as it was).
        """
        if state is None:
            self.reset()
        else:
            self.state, self.prev_action, self.planner._plan = state
        if deterministic:
            self.planner.generator.manual_seed(self.cfg.seed)
            with torch.random.fork_rng():
                torch.manual_seed(self.cfg.seed)
                action = self._act(obs)
        else:
            action = self._act(obs, deterministic=False)
        return action, (self.state, self.prev_action, self.planner._plan)

    @torch.no_grad()
    def _act(self, obs, deterministic: bool = True, noise: float = 0.0,
             generator: np.random.Generator | None = None) -> np.ndarray:
        """Filter ``obs`` into the latent state kept here, plan, and return the first action (bounded)."""
        self.state, _ = self.wm.rssm.obs_step(self.state, self.prev_action, self.wm.encoder(self.normalise(obs)))
        action = self.planner.act((self.state.h, self.state.z))[0].numpy()
        if not deterministic and noise > 0:
            action = action + noise * (generator or np.random.default_rng()).standard_normal(action.shape)
        action = np.clip(action, self.low, self.high).astype(np.float32)
        self.prev_action = torch.as_tensor(action)[None]
        return action

    def state_dict(self) -> dict:
        return {"config": self.cfg.model_dump(), "world_model": self.wm.state_dict()}

    def save(self, path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path, **overrides) -> PlaNetAgent:
        """Rebuild a saved agent in a fresh interpreter."""
        state = load_checkpoint_file(path)
        agent = cls(Config(**{**state["config"], **overrides}))
        agent.wm.load_state_dict(state["world_model"])
        return agent


def play_episode(agent: PlaNetAgent | None, env: gym.Env, seed: int, cfg: Config, rng: np.random.Generator,
                 replay: SequenceReplay | None = None, max_env_steps: int | None = None,
                 explore: bool = True) -> tuple[float, int]:
    """One episode with action repeat (random actions if ``agent`` is None); fills ``replay``."""
    obs, _ = env.reset(seed=seed)
    if agent is not None:
        agent.reset()
    action_dim = int(np.prod(env.action_space.shape))
    scale = agent.scale.numpy() if agent is not None else \
        (np.asarray(cfg.obs_scale, np.float32) if cfg.obs_scale and not cfg.pixels else 1.0)
    if replay is not None:
        replay.add(obs=np.asarray(obs, np.float32) / scale, action=np.zeros(action_dim), reward=0.0,
                   cont=1.0, is_first=True)
    total, steps, done = 0.0, 0, False
    while not done and (max_env_steps is None or steps < max_env_steps):
        if agent is None:
            action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        else:
            action = agent._act(obs, deterministic=not explore, noise=cfg.exploration_noise, generator=rng)
        reward = 0.0
        for _ in range(cfg.action_repeat):
            obs, r, terminated, truncated, _ = env.step(action)
            reward += float(r)
            steps += 1
            done = terminated or truncated
            if done:
                break
        total += reward
        if replay is not None:
            replay.add(obs=np.asarray(obs, np.float32) / scale, action=action, reward=reward,
                       cont=1.0 - float(terminated), is_first=False)
    return total, steps


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Collect, train the world model, plan; evaluate the noise-free planner at the end."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    rng = seed_everything(cfg.seed)
    agent = PlaNetAgent(cfg)
    opt = torch.optim.Adam([{"params": list(agent.wm.parameters()), "lr": lr_for(cfg.lr, "weights", "world_model")}])
    env = make_planet_env(cfg)
    replay = SequenceReplay((cfg.total_env_steps or 10**6) // cfg.action_repeat + 1000)
    env_steps = episode = 0
    metrics: dict = {}

    def budget_left() -> int | None:
        return None if cfg.total_env_steps is None else cfg.total_env_steps - env_steps

    def keep_going() -> bool:
        return (cfg.episodes is None or episode < cfg.episodes) and (budget_left() is None or budget_left() > 0)

    with LearningSession(run_dir, cfg.checkpoint_every) as session:   # Ctrl-C stops between episodes
        while keep_going():
            planning = episode >= cfg.seed_episodes
            ret, steps = play_episode(agent if planning else None, env, episode_seed(cfg.seed, episode, stride=100_003),
                                      cfg, rng, replay, budget_left())
            env_steps += steps
            episode += 1
            agent.wm.train()
            for _ in range(cfg.train_steps if len(replay) >= cfg.seq_len else 0):
                loss, metrics, _ = agent.wm.loss(replay.sample(cfg.batch_size, cfg.seq_len, rng))
                opt.zero_grad()
                loss.backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(agent.wm.parameters(), cfg.max_grad_norm)
                opt.step()
            run_dir.log({"episode": episode, "env_steps": env_steps, "return": ret, "planner": int(planning),
                         "wall_seconds": time.perf_counter() - start,
                         **{k: metrics.get(k, float("nan")) for k in ("wm_loss", "recon", "kl", "reward_loss")}})
            session.step_done(episode - 1, episode, lambda: {**agent.state_dict(), "optimizer": opt.state_dict(),
                                                             "env_steps": env_steps, "episode": episode},
                              last=not keep_going())
    run_dir.plot_curve(x="env_steps", y="return", window=3)
    agent.planner.generator.manual_seed(cfg.seed + 777)
    rows = []
    for i in range(cfg.eval_episodes):
        ret, steps = play_episode(agent, env, eval_start_seed(cfg.seed, i), cfg, rng, explore=False)
        rows.append({"episode": i, "return": ret, "steps": steps})
    run_dir.write_eval(rows)
    return {"episodes": episode, "env_steps": env_steps,
            "eval_return_mean": float(np.mean([r["return"] for r in rows])) if rows else None,
            "n_params": sum(p.numel() for p in agent.wm.parameters()),
            "wall_seconds": time.perf_counter() - start}


def load_agent(run_dir, backend: str | None = None) -> PlaNetAgent:
    """The trained planner of a run folder, ready to ``predict`` (``qrl.load``; call ``reset`` per episode)."""
    return PlaNetAgent.load(Path(run_dir) / "checkpoint.pt",
                                 **({"backend": backend} if backend is not None else {}))

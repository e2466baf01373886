"""PPO (clipped actor-critic with GAE) for any actor and critic networks.

Actor and critic come from the config's ``actor:`` and ``critic:`` model
mappings, so the same loop trains a VQC actor with a VQC critic (the quantum
actor-critic), a VQC actor with an MLP critic, or two MLPs. Discrete action
spaces get a categorical head over the actor's logits; continuous (Box) ones a
Gaussian whose mean is the actor's output and whose log standard deviation is a
state-independent parameter, with actions clipped to the bounds.

One update:

1. roll out ``n_steps`` steps in each of ``n_envs`` environments (one actor and
   one critic call per vector step); episodes run on across updates, so a
   rollout boundary never cuts an episode short (CartPole can reach 500);
2. generalised advantage estimates (GAE-λ); a truncated episode bootstraps from
   the critic's value of its final observation;
3. ``epochs`` passes over shuffled minibatches: clipped surrogate loss minus an
   entropy bonus for the actor, squared error to the λ-returns for the critic,
   each with its own Adam (learning rates per parameter group).

The run directory gets ``metrics.csv`` (episode, return, env_steps, wall_seconds),
a checkpoint after every update (with the pickled environments, so a resumed
run continues the same episodes; environments that cannot be pickled restart
from fresh resets on resume), ``curve.png`` and ``eval.csv``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field

from classical.common.config import TrainerConfig
from classical.common.rollouts import make_env
from classical.common.rundir import RunDir, load_checkpoint_file
from classical.common.seeding import episode_seed, seed_everything
from classical.common.training import adam_per_group, rebuild_agent, train_and_evaluate
from classical.rl.base import Agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """PPO settings; ``configs/*_ppo.yaml`` are presets of this."""

    env_id: str = Field("CartPole-v1", description="gymnasium id (discrete or Box actions)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    obs_scale: list[float] | None = Field(None, description="divide observations by these")
    actor: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp"}, description="actor network spec")
    critic: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp"}, description="critic network spec")
    backend: str | None = Field(None, description="backends.yaml entry for quantum models")
    lr: dict[str, float] = Field(default_factory=lambda: {"actor": 3e-4, "critic": 1e-3},
                                 description="Adam learning rates: keys actor, critic, actor.<group>, "
                                             "critic.<group>, <group>, default (README: lr); "
                                             "actor.log_std for the Gaussian head's log σ (default 0.001)")
    gamma: float = Field(0.99, description="discount factor")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE λ")
    n_envs: int = Field(4, gt=0, description="environments stepped together")
    n_steps: int = Field(128, gt=0, description="steps per environment per update")
    epochs: int = Field(4, gt=0, description="passes over each rollout")
    minibatch_size: int = Field(128, gt=0, description="transitions per gradient step")
    clip: float = Field(0.2, gt=0, description="PPO ratio clip ε")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus weight")
    normalize_advantages: bool = Field(True, description="standardise advantages per minibatch")
    max_grad_norm: float | None = Field(0.5, gt=0, description="gradient norm clip (None: no clipping)")
    init_log_std: float = Field(0.0, description="initial log σ of the Gaussian head (continuous actions)")
    total_env_steps: int | None = Field(50_000, gt=0, description="training budget in environment steps "
                                                                 "(checked after each update)")
    episodes: int | None = Field(None, gt=0, description="training budget in finished episodes "
                                                        "(checked after each update)")
    solved_return: float | None = Field(None, description="stop when the mean of the last solved_window "
                                                          "returns reaches this")
    solved_window: int = Field(100, gt=0, description="episodes averaged for solved_return")
    checkpoint_every: int | None = Field(None, gt=0, description="episodes between checkpoints "
                                                                 "(None: after every update)")
    eval_episodes: int = Field(10, ge=0, description="deterministic evaluation episodes at the end")
    seed: int = Field(0, description="seed for torch, numpy and the environments")


class PPO(Agent):
    """Actor-critic agent with a Stable-Baselines3-like surface.

    **Example**

    >>> agent = PPO(Config(actor={"type": "mlp", "hidden": [8]}, critic={"type": "mlp", "hidden": [8]}))
    >>> action, state = agent.predict(np.zeros((3, 4)))
    >>> action.shape, state
    ((3,), None)
    """

    def __init__(self, cfg: Config, backend: Any = None):
        self.cfg = cfg
        env = make_env(cfg.env_id, **cfg.env_kwargs)
        self.obs_dim = int(np.prod(env.observation_space.shape))
        self.discrete = isinstance(env.action_space, gym.spaces.Discrete)
        if self.discrete:
            self.act_dim = int(env.action_space.n)
        elif isinstance(env.action_space, gym.spaces.Box):
            self.act_dim = int(np.prod(env.action_space.shape))
            self.low = torch.as_tensor(env.action_space.low, dtype=torch.float32)
            self.high = torch.as_tensor(env.action_space.high, dtype=torch.float32)
        else:
            raise ValueError(f"PPO here needs Discrete or Box actions; {cfg.env_id} has {env.action_space}.")
        env.close()
        self.rng = seed_everything(cfg.seed)
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.actor = build_model(cfg.actor, "policy", self.obs_dim, self.act_dim, backend)
        self.critic = build_model(cfg.critic, "value", self.obs_dim, 1, backend)
        self.log_std = torch.nn.Parameter(torch.full((self.act_dim,), cfg.init_log_std))
        self.actor_opt = adam_per_group(self.actor, cfg.lr, net="actor")
        if not self.discrete:
            # log σ is not part of the actor network: only its own key sets its rate (Adam's 1e-3 otherwise)
            self.actor_opt.add_param_group({"params": [self.log_std], "lr": cfg.lr.get("actor.log_std", 1e-3)})
        self.critic_opt = adam_per_group(self.critic, cfg.lr, net="critic")
        self._start_counters()
        self._envs: gym.vector.SyncVectorEnv | None = None  # live during learn()
        self._saved_envs: bytes | None = None  # pickled sub-environments from a checkpoint
        self._next_obs: np.ndarray | None = None
        self._running = np.zeros(cfg.n_envs)

    # -- acting --------------------------------------------------------------
    _obs = Agent._scaled

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        out = self.actor(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Independent(torch.distributions.Normal(out, self.log_std.exp()), 1)

    def _env_action(self, action: torch.Tensor) -> np.ndarray:
        if self.discrete:
            return action.numpy()
        return torch.maximum(torch.minimum(action, self.high), self.low).numpy()

    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Actions for a batch of observations, or one action for one (mode / mean by default; sampled otherwise)."""
        with torch.no_grad():
            dist = self.distribution(self._obs(obs))
            if deterministic:
                action = dist.probs.argmax(-1) if self.discrete else dist.mean
            else:
                action = dist.sample()
        actions = self._env_action(action)
        return (actions[0] if self._is_single(obs) else actions), None

    # -- learning ------------------------------------------------------------
    def _rollout(self, envs, obs: np.ndarray, running: np.ndarray, run: RunDir | None):
        """``n_steps`` vector steps; returns the batch, the next observations and episode returns so far."""
        cfg = self.cfg
        keys = ("obs", "action", "logp", "value", "reward", "done", "boot")
        buf = {k: [] for k in keys}
        for _ in range(cfg.n_steps):
            x = self._obs(obs)
            with torch.no_grad():
                dist = self.distribution(x)
                action = dist.sample()
                value = self.critic(x)
            next_obs, reward, terminated, truncated, info = envs.step(self._env_action(action))
            reward = np.asarray(reward, dtype=np.float32)
            boot = np.zeros(cfg.n_envs, dtype=np.float32)  # γV(final obs) for truncated episodes
            if truncated.any():
                final = np.stack([info["final_obs"][i] for i in np.flatnonzero(truncated)])
                with torch.no_grad():
                    boot[truncated] = cfg.gamma * self.critic(self._obs(final)).numpy()
            for k, v in zip(keys, (x, action, dist.log_prob(action), value, torch.as_tensor(reward),
                                   torch.as_tensor(terminated | truncated, dtype=torch.float32),
                                   torch.as_tensor(boot))):
                buf[k].append(v)
            running += reward
            self.env_steps += cfg.n_envs
            for i in np.flatnonzero(terminated | truncated):
                self.episodes_done += 1
                self.recent.append(float(running[i]))
                if run is not None:
                    run.log({"episode": self.episodes_done, "return": float(running[i]),
                             "env_steps": self.env_steps, "wall_seconds": self._wall_now()})
                running[i] = 0.0
            obs = next_obs
        batch = {k: torch.stack(v) for k, v in buf.items()}  # [n_steps, n_envs, ...]
        with torch.no_grad():
            batch["last_value"] = self.critic(self._obs(obs))
        return batch, obs

    def advantages(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE-λ advantages and λ-returns, shape [n_steps, n_envs]."""
        cfg = self.cfg
        values, rewards, dones, boot = batch["value"], batch["reward"], batch["done"], batch["boot"]
        adv = torch.zeros_like(rewards)
        gae = torch.zeros_like(rewards[0])
        next_value = batch["last_value"]
        for t in range(len(rewards) - 1, -1, -1):
            delta = rewards[t] + boot[t] + cfg.gamma * (1 - dones[t]) * next_value - values[t]
            gae = delta + cfg.gamma * cfg.gae_lambda * (1 - dones[t]) * gae
            adv[t] = gae
            next_value = values[t]
        return adv, adv + values

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """PPO epochs on one rollout; returns the last minibatch's losses."""
        cfg = self.cfg
        adv, returns = self.advantages(batch)
        flat = {"obs": batch["obs"].reshape(-1, self.obs_dim), "action": batch["action"].flatten(0, 1),
                "logp": batch["logp"].flatten(), "adv": adv.flatten(), "ret": returns.flatten()}
        n = len(flat["adv"])
        for _ in range(cfg.epochs):
            order = torch.as_tensor(self.rng.permutation(n))
            for start in range(0, n, cfg.minibatch_size):
                mb = {k: v[order[start:start + cfg.minibatch_size]] for k, v in flat.items()}
                a = mb["adv"]
                if cfg.normalize_advantages and len(a) > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                dist = self.distribution(mb["obs"])
                ratio = (dist.log_prob(mb["action"]) - mb["logp"]).exp()
                surrogate = torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a)
                actor_loss = -surrogate.mean() - cfg.ent_coef * dist.entropy().mean()
                self.actor_opt.zero_grad()
                actor_loss.backward()
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_([p for g in self.actor_opt.param_groups for p in g["params"]],
                                                   cfg.max_grad_norm)
                self.actor_opt.step()
                critic_loss = (self.critic(mb["obs"]) - mb["ret"]).pow(2).mean()
                self.critic_opt.zero_grad()
                critic_loss.backward()
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
                self.critic_opt.step()
        self.updates_done += 1
        return {"actor_loss": actor_loss.item(), "critic_loss": critic_loss.item()}

    def _make_envs(self) -> gym.vector.SyncVectorEnv:
        """The training environments: restored from a checkpoint when it holds them, else fresh."""
        cfg = self.cfg
        restored = pickle.loads(self._saved_envs) if self._saved_envs is not None else None
        if restored is not None and self._next_obs is not None:
            fns = [lambda e=e: e for e in restored]
        else:
            fns = [lambda: gym.make(cfg.env_id, **cfg.env_kwargs)] * cfg.n_envs
            restored = None
        envs = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        if restored is None:
            self._next_obs, _ = envs.reset(seed=episode_seed(cfg.seed, self.updates_done * cfg.n_envs))
            self._running = np.zeros(cfg.n_envs)
        return envs

    def _begin_learning(self) -> None:
        self._envs = self._make_envs()

    def _end_learning(self) -> None:
        self._envs.close()
        self._envs = None

    def _learning_step(self, run: RunDir | None) -> None:
        """One rollout of ``n_steps`` in every environment, then the PPO epochs on it."""
        batch, self._next_obs = self._rollout(self._envs, self._next_obs, self._running, run)
        self.update(batch)

    # -- persistence ---------------------------------------------------------
    def state_dict(self) -> dict:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "log_std": self.log_std.detach().clone(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "envs": self._pickled_envs(),
                "next_obs": self._next_obs, "running": self._running.copy(), **self._counters_state()}

    def _pickled_envs(self) -> bytes | None:
        """The live sub-environments as bytes (None when there are none or they cannot be pickled)."""
        if self._envs is None:
            return self._saved_envs
        try:
            return pickle.dumps(list(self._envs.envs))
        except Exception:  # e.g. environments holding device handles: resume restarts their episodes
            return None

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self._load_counters(state)
        self._saved_envs, self._next_obs = state.get("envs"), state.get("next_obs")
        self._running = np.asarray(state.get("running", np.zeros(self.cfg.n_envs)), dtype=float).copy()


PPO.Config = Config


def run(cfg: Config, run: RunDir) -> dict:
    """Train, checkpoint, evaluate: the entry point of ``qrl train`` for this algorithm."""
    agent = PPO(cfg, backend=run.backend)
    summary = train_and_evaluate(
        agent, run, f"PPO {cfg.actor.get('type', 'mlp')}/{cfg.critic.get('type', 'mlp')} on {cfg.env_id}",
        agent.actor.n_params + agent.critic.n_params)
    summary.update(actor_params=agent.actor.n_params, critic_params=agent.critic.n_params)
    return summary


def load_agent(run_dir: str | Path, backend: str | None = None, **device_overrides) -> PPO:
    """The trained agent of a run directory, optionally on another backend (for ``qrl evaluate``).

    ``device_overrides`` apply to the circuits among the actor and the critic.
    """
    state = load_checkpoint_file(Path(run_dir) / "checkpoint.pt")
    return rebuild_agent(state, lambda c: PPO(Config(**c)), backend, networks=("actor", "critic"), **device_overrides)

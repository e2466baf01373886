"""DQN with experience replay and a target network, for any Q-network.

The Q-network is built from the config's ``model:`` mapping, so the same loop
trains the VQ-DQN of Skolik et al. (2022) (``type: vqc``: data re-uploading with
trainable input scaling λ, variational angles θ and output scaling w, each with
its own learning rate) or a classical MLP (``type: mlp``). One environment step:

1. act ε-greedily (``epsilon``: ε falls by ``decay`` after every episode, or
   linearly over a ``fraction`` of the budget, down to ``end``), store (s, a, r, s', terminated) in the replay buffer;
2. every ``train_every`` steps: sample ``batch_size`` transitions, target
   y = r + γ·(1 − terminated)·max_a' Q_target(s', a') (with ``n_step`` > 1:
   y = Σ_{j<k} γʲ r_{t+j} + γᵏ·(1 − terminated)·max_a' Q_target(s_{t+k}, a'), k ≤ n
   cut at the episode's end; Double DQN picks a' with
   the online network), Huber loss on Q(s, a) − y, one Adam step;
3. every ``target_update_every`` steps: copy the online weights to the target.

The buffer is chosen by ``replay:`` (uniform, prioritized with importance weights, or
quantum-inspired; the last two get the batch's TD errors back after every update).

Optionally the learning rates fall linearly over the episode budget
(``lr_final_fraction``), so late updates move a learned policy less; and the agent
can act (and be evaluated) with a Polyak average of the online weights
(``acting_average``): learning is unchanged, but the behaviour policy no longer
follows every noisy gradient step (Polyak–Ruppert averaging). With
``freeze_return`` set, learning stops for good once the mean of the last
``freeze_window`` training returns reaches it, and the agent keeps acting with the
policy it has (the stopping rule of the TensorFlow Quantum Q-learning tutorial:
500 over 10 CartPole episodes); the summary's ``learning_stopped_at`` says when.

The run directory gets ``metrics.csv`` (episode, return, length, epsilon,
env_steps, wall_seconds), a checkpoint every ``checkpoint_every`` episodes
(including the replay buffer, so a resumed run matches an uninterrupted one),
``curve.png`` and ``eval.csv`` (greedy episodes, plus the ``eval_info_keys``
columns such as ``success`` or ``fidelity``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from classical.common.buffers import build_buffer
from classical.common.config import TrainerConfig
from classical.common.rollouts import make_env
from classical.common.rundir import RunDir
from classical.common.seeding import episode_seed, seed_everything
from classical.common.training import Epsilon, adam_per_group, budget_progress, train_and_evaluate
from classical.rl.base import Agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """DQN settings; ``configs/*_dqn.yaml`` and ``*_qlearning.yaml`` are presets of this."""

    env_id: str = Field("CartPole-v1", description="gymnasium id (discrete actions); 'module:id' imports module")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    obs_scale: list[float] | None = Field(None, description="divide observations by these")
    obs_squash: Literal["none", "arctan"] = Field(
        "none", description="elementwise squash after obs_scale; arctan maps unbounded velocities into (-π/2, π/2)")
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp"}, description="Q-network spec")
    backend: str | None = Field(None, description="backends.yaml entry for quantum models")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.001},
                                 description="Adam learning rate per parameter group (README: lr)")
    amsgrad: bool = Field(False, description="use the AMSGrad variant of Adam (as the TFQ Q-learning tutorial does)")
    acting_average: float | None = Field(
        None, gt=0, le=1, description="act and evaluate with a Polyak average of the online weights, moved "
                                      "this fraction towards them after every gradient step (None: the online net)")
    lr_final_fraction: float = Field(1.0, gt=0, le=1, description="learning rates fall linearly over the "
                                                                   "budget to this fraction of lr (1: constant)")
    gamma: float = Field(0.99, description="discount factor")
    n_step: int = Field(1, gt=0, description="n-step returns: sum up to n rewards before bootstrapping, cut "
                                             "at episode ends (1: one-step Q-learning)")
    buffer_size: int = Field(10_000, gt=0, description="replay capacity in transitions")
    replay: dict[str, Any] = Field(
        default_factory=lambda: {"type": "uniform"},
        description="replay buffer: {type: uniform}, {type: prioritized, alpha, beta, beta_steps, eps} (Schaul "
                    "et al. 2016) or {type: quantum, p0, depreciation} (Wei et al. 2021; qrl registers it)")
    batch_size: int = Field(16, gt=0, description="transitions per gradient step")
    learning_starts: int = Field(16, ge=0, description="steps before the first gradient step")
    train_every: int = Field(10, gt=0, description="environment steps per gradient step")
    gradient_steps: int = Field(1, gt=0, description="gradient steps each time training happens")
    target_update_every: int = Field(30, gt=0, description="environment steps between target copies")
    double_dqn: bool = Field(False, description="choose a' with the online network (Double DQN)")
    huber_delta: float = Field(1.0, gt=0, description="Huber loss threshold")
    max_grad_norm: float | None = Field(None, description="clip the gradient norm (None: no clipping)")
    epsilon: Epsilon = Field(default_factory=lambda: Epsilon(start=1.0, end=0.01, decay=0.99),
                             description="ε-greedy schedule: {start, end, decay} per episode or {start, end, "
                                         "fraction} linear over that part of the budget")
    episodes: int | None = Field(1000, gt=0, description="training budget in episodes")
    total_env_steps: int | None = Field(None, gt=0, description="training budget in environment steps "
                                                               "(checked after each episode)")
    solved_return: float | None = Field(None, description="stop when the mean of the last solved_window "
                                                          "returns reaches this")
    solved_window: int = Field(100, gt=0, description="episodes averaged for solved_return")
    freeze_return: float | None = Field(
        None, description="stop learning for good (the agent keeps acting) once the mean of the last "
                          "freeze_window training returns reaches this (None: learn until the budget ends)")
    freeze_window: int = Field(10, gt=0, description="episodes averaged for freeze_return (at most solved_window)")
    checkpoint_every: int | None = Field(10, gt=0, description="episodes between checkpoints (None: every episode)")
    eval_episodes: int = Field(10, ge=0, description="greedy evaluation episodes at the end")
    eval_info_keys: list[str] = Field(default_factory=list,
                                      description="info entries copied into eval.csv (e.g. success, fidelity)")
    seed: int = Field(0, description="seed for torch, numpy and the environments")

    @field_validator("replay")
    @classmethod
    def _replay_builds(cls, replay: dict[str, Any]) -> dict[str, Any]:
        build_buffer(replay, 1)   # an unknown type or option is refused with the config, not at the first step
        return replay

    @model_validator(mode="after")
    def _replay_fits(self) -> "Config":
        if self.replay.get("type", "uniform") != "uniform" and self.n_step > 1:
            raise ValueError(f"replay type '{self.replay['type']}' samples single transitions; set n_step: 1 "
                             "or replay: {type: uniform}")
        return self

    @model_validator(mode="after")
    def _freeze_window_fits(self) -> "Config":
        if self.freeze_window > self.solved_window:
            raise ValueError(f"freeze_window ({self.freeze_window}) must not exceed solved_window "
                             f"({self.solved_window}); lower freeze_window or raise solved_window.")
        return self


class DQN(Agent):
    """Deep Q-learning agent with a Stable-Baselines3-like surface.

    **Example**

    >>> cfg = Config(episodes=2, model={"type": "mlp", "hidden": [8]})
    >>> agent = DQN(cfg)
    >>> action, state = agent.predict(np.zeros((3, 4)))
    >>> action.shape, state
    ((3,), None)
    """

    def __init__(self, cfg: Config, backend: Any = None):
        self.cfg = cfg
        self._discrete_spaces("DQN")
        self.rng = seed_everything(cfg.seed)
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.q = build_model(cfg.model, "q", self.obs_dim, self.n_actions, backend)
        self.target_q = build_model(cfg.model, "q", self.obs_dim, self.n_actions, backend)
        self.target_q.load_state_dict(self.q.state_dict())
        self.acting_q = None
        if cfg.acting_average is not None:
            self.acting_q = build_model(cfg.model, "q", self.obs_dim, self.n_actions, backend)
            self.acting_q.load_state_dict(self.q.state_dict())
        self.optimizer = adam_per_group(self.q, cfg.lr, cfg.amsgrad)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.buffer = build_buffer(cfg.replay, cfg.buffer_size)
        self.epsilon = cfg.epsilon.start
        self.learning_stopped_at: int | None = None  # episode after which freeze_return stopped learning
        self._start_counters()

    # -- acting --------------------------------------------------------------
    def _obs(self, obs) -> torch.Tensor:
        x = self._scaled(obs)
        return torch.atan(x) if self.cfg.obs_squash == "arctan" else x

    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Greedy actions for a batch of observations (ε-greedy when not ``deterministic``).

        Exploring entries never call the network, so early (high-ε) episodes of a
        circuit agent cost almost nothing.
        """
        single = self._is_single(obs)
        obs = np.asarray(obs).reshape(-1, self.obs_dim)
        if deterministic:
            explore = np.zeros(len(obs), dtype=bool)
        else:
            explore = self.rng.random(len(obs)) < self.epsilon
        actions = self.rng.integers(0, self.n_actions, len(obs)) if not deterministic else np.zeros(len(obs), int)
        if not explore.all():
            with torch.inference_mode():  # no autograd graph, no version counters: acting is forward-only
                q = self.acting_q if self.acting_q is not None else self.q
                actions[~explore] = q(self._obs(obs[~explore])).argmax(-1).numpy()
        return (actions[0] if single else actions), None

    # -- learning ------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> float:
        """One gradient step on a batch of transitions; returns the Huber loss."""
        cfg = self.cfg
        obs, next_obs = self._obs(batch["obs"]), self._obs(batch["next_obs"])
        with torch.no_grad():
            next_target = self.target_q(next_obs)
            if cfg.double_dqn:
                best = self.q(next_obs).argmax(-1, keepdim=True)
                next_value = next_target.gather(1, best).squeeze(1)
            else:
                next_value = next_target.max(-1).values
            discount = batch["discount"] if cfg.n_step > 1 else cfg.gamma  # γ^k for the k rewards summed
            target = batch["reward"].float() + discount * (1.0 - batch["terminated"].float()) * next_value
        q_taken = self.q(obs).gather(1, batch["action"].long().reshape(-1, 1)).squeeze(1)
        losses = F.huber_loss(q_taken, target.to(q_taken.dtype), delta=cfg.huber_delta, reduction="none")
        weights = batch.get("weights")           # importance weights of prioritized replay
        loss = (losses * weights.to(losses.dtype)).mean() if weights is not None else losses.mean()
        if "indices" in batch:                   # prioritized / quantum replay: hand back the TD errors
            self.buffer.update_priorities(batch["indices"].numpy(), (q_taken - target).detach().numpy())
        self.optimizer.zero_grad()
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.q.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        if self.acting_q is not None:
            with torch.no_grad():
                for avg, online in zip(self.acting_q.parameters(), self.q.parameters()):
                    avg.lerp_(online, cfg.acting_average)
        self.updates_done += 1
        return loss.item()

    def _anneal_lr(self) -> None:
        """Set every group's rate to its ``lr`` scaled linearly from 1 to ``lr_final_fraction``."""
        cfg = self.cfg
        if cfg.lr_final_fraction == 1.0:
            return
        scale = 1.0 - (1.0 - cfg.lr_final_fraction) * budget_progress(cfg, self.episodes_done, self.env_steps)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale

    def _play_episode(self, env) -> tuple[float, int]:
        """One ε-greedy training episode with replay updates; returns (return, length)."""
        cfg = self.cfg
        obs, _ = env.reset(seed=episode_seed(cfg.seed, self.episodes_done))
        total, length, done = 0.0, 0, False
        while not done:
            action = int(self.predict(obs[None], deterministic=False)[0][0])
            next_obs, reward, terminated, truncated, _ = env.step(action)
            self.buffer.add(obs=np.asarray(obs, dtype=np.float32)[None], action=np.array([action]),
                            reward=np.array([reward], dtype=np.float32),
                            next_obs=np.asarray(next_obs, dtype=np.float32)[None],
                            terminated=np.array([terminated], dtype=np.float32),
                            **({"truncated": np.array([truncated], dtype=np.float32)} if cfg.n_step > 1 else {}))
            obs = next_obs
            total += float(reward)
            length += 1
            self.env_steps += 1
            done = terminated or truncated
            if self.learning_stopped_at is None and self.env_steps % cfg.train_every == 0 and \
                    len(self.buffer) >= max(cfg.learning_starts, cfg.batch_size):
                for _ in range(cfg.gradient_steps):
                    self.update(self.buffer.sample_n_step(cfg.batch_size, cfg.n_step, cfg.gamma, self.rng)
                                if cfg.n_step > 1 else self.buffer.sample(cfg.batch_size, self.rng))
            if self.env_steps % cfg.target_update_every == 0:
                self.target_q.load_state_dict(self.q.state_dict())
        return total, length

    def _begin_learning(self) -> None:
        self._env = make_env(self.cfg.env_id, **self.cfg.env_kwargs)

    def _end_learning(self) -> None:
        self._env.close()

    def _learning_step(self, run: RunDir | None) -> None:
        """One ε-greedy episode with its replay updates; then ε, the freeze check and the lr schedule."""
        cfg = self.cfg
        ret, length = self._play_episode(self._env)
        self.episodes_done += 1
        self.recent.append(ret)
        if run is not None:
            run.log({"episode": self.episodes_done, "return": ret, "length": length,
                     "epsilon": round(self.epsilon, 5), "env_steps": self.env_steps,
                     "wall_seconds": self._wall_now()})
        self.epsilon = cfg.epsilon.after_episode(self.epsilon,
                                                 budget_progress(cfg, self.episodes_done, self.env_steps))
        if (cfg.freeze_return is not None and self.learning_stopped_at is None
                and len(self.recent) >= cfg.freeze_window
                and np.mean(list(self.recent)[-cfg.freeze_window:]) >= cfg.freeze_return):
            self.learning_stopped_at = self.episodes_done
        self._anneal_lr()

    def _progress_postfix(self) -> dict:
        return {**super()._progress_postfix(), "eps": f"{self.epsilon:.3f}"}

    # -- persistence ---------------------------------------------------------
    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "target_q": self.target_q.state_dict(),
                "optimizer": self.optimizer.state_dict(), "buffer": self.buffer.state_dict(),
                "epsilon": self.epsilon, "learning_stopped_at": self.learning_stopped_at, **self._counters_state(),
                **({"acting_q": self.acting_q.state_dict()} if self.acting_q is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target_q.load_state_dict(state["target_q"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.epsilon = state["epsilon"]
        self.learning_stopped_at = state.get("learning_stopped_at")
        if self.acting_q is not None:  # a checkpoint saved without acting_average starts the average at q
            self.acting_q.load_state_dict(state.get("acting_q", state["q"]))
        self._load_counters(state)


DQN.Config = Config


def run(cfg: Config, run: RunDir) -> dict:
    """Train, checkpoint, evaluate: the entry point of ``qrl train`` for this algorithm."""
    agent = DQN(cfg, backend=run.backend)
    summary = train_and_evaluate(agent, run, f"DQN {cfg.model.get('type', 'mlp')} on {cfg.env_id}",
                                 agent.q.n_params, cfg.eval_info_keys)
    return {**summary, "learning_stopped_at": agent.learning_stopped_at}


def load_agent(run_dir: str | Path, backend: str | None = None, **device_overrides) -> DQN:
    """The trained agent of a run directory, optionally on another backend (for ``qrl evaluate``)."""
    return DQN.from_run(run_dir, backend, **device_overrides)

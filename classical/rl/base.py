"""The agent contract, and what the single-agent algorithms share: the training loop's
scaffolding (budget, progress display, Ctrl-C, checkpoint cadence), counters, observation
scaling, greedy evaluation, the solved check and persistence.

Every learner in the repository follows the Stable-Baselines3 surface:

- ``learn(...)`` trains (single-agent: ``learn(run=None, progress=True)``);
- ``predict(obs, deterministic=True) -> (action, state)``; ``state`` is None for
  memoryless agents; greedy is the default everywhere; multi-agent learners take and
  return dicts keyed by agent;
- ``save(path)`` and the classmethod ``load(path)``, which works in a fresh interpreter.

:class:`Agent` is a small base class for :class:`~classical.rl.reinforce.Reinforce`,
:class:`~classical.rl.dqn.DQN` and :class:`~classical.rl.ppo.PPO`. Each algorithm
reads top to bottom in its own file (acting, the update, one step of learning);
the loop around that step lives here once. :class:`MultiAgent` is the same surface
for the learners of ``classical.marl``, which act on a joint observation array.

Every trainer module (the ``algo`` of a preset) also offers
``load_agent(run_dir, backend=None)``: the agent a run trained, which ``qrl.load`` returns.
:func:`run_checkpoint` reads what it needs from the run folder.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import time

import numpy as np
import torch
from pydantic import BaseModel

from classical.common.config import ConfigError, load_yaml, resolve_algo
from classical.common.progress import Progress
from classical.common.rollouts import evaluate_policy, make_env
from classical.common.rundir import load_checkpoint_file, save_checkpoint_file, strip_provenance
from classical.common.seeding import rng_state, set_rng_state
from classical.common.training import LearningSession, budget_spent, reached_target, rebuild_agent


class Agent:
    """Counters, ``evaluate``, ``solved``, ``state_dict`` plumbing and ``save``/``load``.

    Subclasses set ``Config`` (their pydantic config class), call
    :meth:`_start_counters` in ``__init__`` after ``self.cfg``, ``self.obs_dim`` and
    ``self.rng`` exist, and merge :meth:`_counters_state` into their ``state_dict``.
    """

    Config: type[BaseModel]

    def _discrete_spaces(self, algo: str) -> None:
        """Set ``obs_dim`` and ``n_actions`` from the config's env, refusing continuous actions."""
        cfg = self.cfg
        env = make_env(cfg.env_id, **cfg.env_kwargs)
        try:
            if not hasattr(env.action_space, "n"):
                raise ValueError(f"{algo} here needs discrete actions; {cfg.env_id} has {env.action_space}.")
            self.obs_dim = int(np.prod(env.observation_space.shape))
            self.n_actions = int(env.action_space.n)
        finally:
            env.close()

    def _start_counters(self) -> None:
        cfg = self.cfg
        self.scale = torch.tensor(cfg.obs_scale, dtype=torch.float32) if cfg.obs_scale else None
        self.episodes_done = 0
        self.updates_done = 0
        self.env_steps = 0
        self.wall_seconds = 0.0
        self.recent: deque[float] = deque(maxlen=cfg.solved_window)

    def _scaled(self, obs) -> torch.Tensor:
        """Observations as a float tensor [batch, obs_dim], divided by ``obs_scale`` if set."""
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim)
        return x / self.scale if self.scale is not None else x

    @property
    def solved(self) -> bool:
        return reached_target(self.recent, self.cfg)

    # -- the training loop ------------------------------------------------------
    def _begin_learning(self) -> None:
        """Open what one learning session needs (environments)."""

    def _learning_step(self, run) -> None:
        """One unit of learning (a batch of episodes, an episode, a rollout and its update)."""
        raise NotImplementedError

    def _end_learning(self) -> None:
        """Close what :meth:`_begin_learning` opened."""

    def _is_single(self, obs) -> bool:
        """Whether ``obs`` is one observation (then ``predict`` returns one action, as SB3 does)."""
        return np.ndim(obs) <= 1 and np.size(obs) == self.obs_dim

    def _wall_now(self) -> float:
        """Training seconds so far, including the step under way (for metrics rows)."""
        return round(self.wall_seconds + time.perf_counter() - self._step_start, 3)

    def _progress_postfix(self) -> dict:
        return {"mean_return": f"{np.mean(self.recent):.2f}"} if self.recent else {}

    def learn(self, run=None, progress: bool = True):
        """Train until the budget (``episodes`` / ``total_env_steps``) is spent or the task counts as solved.

        Checkpoints go to ``run`` every ``checkpoint_every`` episodes (None: after every
        step), at the end, and when Ctrl-C stops the loop between two steps.
        """
        cfg = self.cfg
        by_episodes = cfg.episodes is not None
        total, unit = (cfg.episodes, "ep") if by_episodes else (cfg.total_env_steps, "step")
        done = (lambda: self.episodes_done) if by_episodes else (lambda: self.env_steps)
        display, own_display = None, False
        if progress and run is not None:  # the run directory shows every row it logs
            own_display = run.own_progress(total, "episode" if by_episodes else "env_steps", unit,
                                           type(self).__name__)
            display = run.progress
        elif progress:
            display = Progress(total, unit=unit, desc=type(self).__name__, initial=min(done(), total))
            own_display = True
        self._begin_learning()
        try:
            with LearningSession(run, getattr(cfg, "checkpoint_every", None)) as session:
                while not budget_spent(cfg, self.episodes_done, self.env_steps) and not self.solved:
                    self._step_start, episodes_before = time.perf_counter(), self.episodes_done
                    self._learning_step(run)
                    self.wall_seconds += time.perf_counter() - self._step_start
                    if display is not None and run is None:
                        display.update_to(min(done(), total), **self._progress_postfix())
                    elif display is not None:
                        display.add_fields(**self._progress_postfix())  # shown with the next row
                    session.step_done(episodes_before, self.episodes_done, self.state_dict,
                                      last=budget_spent(cfg, self.episodes_done, self.env_steps) or self.solved)
        finally:
            if own_display and run is not None:
                run.close_progress()
            elif own_display:
                display.close()
            self._end_learning()
        return self

    def evaluate(self, episodes: int, seed: int = 10_000) -> list[dict]:
        """Deterministic (greedy) episodes; one row each (plus the config's ``eval_info_keys`` columns)."""
        return evaluate_policy(self.cfg.env_id, lambda o: self.predict(o, deterministic=True)[0], episodes, seed,
                               self.cfg.env_kwargs, info_keys=getattr(self.cfg, "eval_info_keys", ()))

    def _counters_state(self) -> dict:
        return {"rng": rng_state(self.rng), "episodes_done": self.episodes_done,
                "updates_done": self.updates_done, "env_steps": self.env_steps,
                "wall_seconds": self.wall_seconds, "recent": list(self.recent), "config": self.cfg.model_dump()}

    def _load_counters(self, state: dict) -> None:
        set_rng_state(state["rng"], self.rng)
        self.episodes_done, self.updates_done = state["episodes_done"], state["updates_done"]
        self.env_steps, self.wall_seconds = state["env_steps"], state["wall_seconds"]
        self.recent = deque(state["recent"], maxlen=self.cfg.solved_window)

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, **overrides):
        """Rebuild an agent from :meth:`save` output; ``overrides`` change config fields (e.g. backend)."""
        return rebuild_agent(load_checkpoint_file(path),
                             lambda c: cls(cls.Config(**{**c, **overrides})))

    @classmethod
    def from_run(cls, run_dir: str | Path, backend: str | None = None, **device_overrides):
        """The trained agent of a run directory, optionally on another backend (for ``qrl evaluate``)."""
        state = load_checkpoint_file(Path(run_dir) / "checkpoint.pt")
        return rebuild_agent(state, lambda c: cls(cls.Config(**c)), backend, **device_overrides)


def run_checkpoint(run_dir: str | Path, backend: str | None = None) -> tuple[dict, dict]:
    """``(config, state)`` of a run folder: the trainer config its checkpoint recorded (without ``algo``;
    ``backend`` replaced when given) and the checkpoint itself."""
    path = Path(run_dir) / "checkpoint.pt"
    state = load_checkpoint_file(path)
    if "_config" in state:
        config = state["_config"]
    elif (Path(run_dir) / "config.yaml").is_file():
        config = strip_provenance(load_yaml(Path(run_dir) / "config.yaml"))
    else:
        raise ConfigError(f"{path}: the checkpoint records no config and there is no config.yaml beside it.")
    config = {k: v for k, v in config.items() if k != "algo"}
    if backend is not None:
        if "backend" not in config:
            raise ConfigError(f"{run_dir}: this run has no circuits, so it cannot run on backend {backend!r}; "
                              "drop the backend.")
        config["backend"] = backend
    return config, state


class MultiAgent:
    """The agent contract for multi-agent learners that act on a :class:`~classical.marl.envs.JointEnv`.

    A learner sets ``self.env`` (its JointEnv) and implements ``_act(obs[N, D], explore,
    progress, rng) -> actions[N]`` (the array form the training loop uses), ``state_dict``
    and ``load_state_dict``. The trainer that builds it records itself with
    :meth:`_record_origin` (its ``algo`` module and config), which is what :meth:`load`
    rebuilds the learner from. That module offers ``agent_from_config(config) -> learner``.
    """

    env = None
    _origin: tuple[str, dict] | None = None

    def _record_origin(self, algo: str, config: dict) -> None:
        self._origin = (algo, dict(config))

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng) -> np.ndarray:
        raise NotImplementedError

    def learn(self, run=None):
        """Train with the shared multi-agent loop (:func:`classical.marl.loop.train`) under the budget
        and settings (``self.settings``) its trainer gave it; metrics and checkpoints go to ``run``."""
        from classical.marl.loop import train   # the multi-agent loop lives with the multi-agent pieces

        if getattr(self, "settings", None) is None:
            raise ValueError(f"this {type(self).__name__} has no training budget or settings; build it with its "
                             "trainer's agent_from_config(config) to learn.")
        self.last_training = train(self.env, self, self.settings, run)
        return self

    def predict(self, obs: dict, deterministic: bool = True) -> tuple[dict, None]:
        """``{agent: observation}`` -> ``({agent: action}, None)``; greedy by default.

        Actions are what the PettingZoo env's ``step`` takes: an ``int`` for a discrete agent,
        a float32 array within the agent's Box bounds for a continuous one.
        """
        joint = self.env._stack(obs)
        rng = getattr(self, "_predict_rng", None) or np.random.default_rng()
        self._predict_rng = rng
        actions = self._act(joint, explore=not deterministic, progress=1.0, rng=rng)
        return {a: self.env._action(i, actions[i]) for i, a in enumerate(self.env.agents) if a in obs}, None

    def save(self, path: str | Path) -> None:
        if self._origin is None:
            raise ValueError(f"this {type(self).__name__} was built outside a trainer, so it cannot be rebuilt from "
                             "a file; build it with the trainer's agent_from_config(config).")
        algo, config = self._origin
        save_checkpoint_file(path, {"algo": algo, "config": config, "learner": self.state_dict()})

    @classmethod
    def load(cls, path: str | Path):
        """Rebuild a learner from :meth:`save` output, in any interpreter."""
        state = load_checkpoint_file(path)
        if "algo" not in state or "learner" not in state:
            raise ConfigError(f"{path}: not a saved multi-agent learner (no 'algo'/'learner' entries).")
        agent = resolve_algo(state["algo"]).agent_from_config(state["config"])
        agent.load_state_dict(state["learner"])
        return agent


def load_multi_agent(run_dir: str | Path, make, backend: str | None = None):
    """The learner of a multi-agent run folder: ``make(config)`` rebuilt, the checkpoint's ``learner`` loaded."""
    config, state = run_checkpoint(run_dir, backend)
    agent = make(config)
    agent.load_state_dict(state["learner"])
    return agent

"""Tabular Q-learning with ε-greedy exploration, and the loop every tabular agent shares.

Q(s, a) ← Q(s, a) + α (r + γ (1 − terminated) max_a' Q(s', a') − Q(s, a)), one update per
environment step, ε from the shared :class:`~classical.common.training.Epsilon` schedule.
Ties in the greedy choice follow a fixed random order per state drawn from the seed, so
an all-zero table does not always pick action 0 and the greedy policy is deterministic. Every ``eval_every`` episodes the greedy policy plays ``solve_episodes``
episodes; the run counts as solved (and stops, with ``stop_when_solved``) once their mean
return reaches ``solved_return``, and the summary says after how many training episodes
(``episodes_to_solve``). :class:`TabularAgent` holds that loop so the Grover action search
of :mod:`qrl.algorithms.grover_search` is judged the same way.

**Example**

>>> cfg = Config(env_kwargs={"is_slippery": False}, episodes=300, seed=3)
>>> agent = QLearning(cfg).learn(progress=False)
>>> agent.predict(np.array([0]))[0].shape
(1,)
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from classical.common.config import TrainerConfig
from classical.common.rollouts import evaluate_policy, make_env
from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything, set_rng_state
from classical.common.training import Epsilon, budget_progress, lr_for
from classical.rl.base import Agent


class TabularConfig(TrainerConfig):
    """What every tabular trainer shares: the env, budget, evaluation and the solved rule."""

    env_id: str = Field("FrozenLake-v1", description="gymnasium id with Discrete observations and actions")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    episodes: int | None = Field(2000, gt=0, description="training budget in episodes")
    total_env_steps: int | None = Field(None, gt=0, description="training budget in environment steps")
    gamma: float = Field(0.95, ge=0, le=1, description="discount factor")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.1},
                                 description="step size of the table updates (group 'default')")
    eval_every: int = Field(50, gt=0, description="episodes between greedy evaluations")
    solve_episodes: int = Field(1, gt=0, description="greedy episodes per evaluation")
    solved_return: float | None = Field(1.0, description="solved when the greedy evaluation's mean return "
                                                         "reaches this (None: never stop early)")
    stop_when_solved: bool = Field(True, description="stop training once solved")
    eval_episodes: int = Field(100, ge=0, description="greedy episodes at the end (eval.csv)")
    checkpoint_every: int = Field(500, gt=0, description="episodes between checkpoints")
    seed: int = Field(0, description="seed for numpy and the environments")


class Config(TabularConfig):
    """ε-greedy tabular Q-learning; ``configs/*_qlearning_tabular.yaml`` are presets of this."""

    epsilon: Epsilon = Field(default_factory=lambda: Epsilon(start=1.0, end=0.05, fraction=0.5),
                             description="ε-greedy schedule")


class TabularAgent(Agent):
    """Discrete states and actions, one update per step, periodic greedy evaluation."""

    def __init__(self, cfg: TabularConfig):
        self.cfg = cfg
        env = make_env(cfg.env_id, **cfg.env_kwargs)
        if not (hasattr(env.observation_space, "n") and hasattr(env.action_space, "n")):
            raise ValueError(f"{type(self).__name__} needs Discrete observations and actions; {cfg.env_id} has "
                             f"{env.observation_space} and {env.action_space}.")
        self.n_states, self.n_actions = int(env.observation_space.n), int(env.action_space.n)
        env.close()
        self.obs_dim = 1
        self.rng = seed_everything(cfg.seed)
        self.alpha = lr_for(cfg.lr, "default")
        self.tie_order = self.rng.random((self.n_states, self.n_actions)) * 1e-9   # breaks exact ties only
        self.episodes_done = self.updates_done = self.env_steps = 0
        self.wall_seconds = 0.0
        self.recent: deque[float] = deque(maxlen=100)
        self.episodes_to_solve: int | None = None
        self.env = None

    # -- what a subclass defines ------------------------------------------------
    def act(self, state: int) -> int:
        """The behaviour policy's action in ``state``."""
        raise NotImplementedError

    def greedy(self, state: int) -> int:
        raise NotImplementedError

    def observe(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        """Learn from one transition."""
        raise NotImplementedError

    def _end_of_episode(self) -> None:
        """Per-episode schedules (ε)."""

    # -- the shared loop ------------------------------------------------------------
    def predict(self, obs, deterministic: bool = True):
        states = np.asarray(obs, dtype=int).reshape(-1)
        acts = np.asarray([self.greedy(int(s)) if deterministic else self.act(int(s)) for s in states], dtype=int)
        return (acts[0] if np.ndim(obs) == 0 else acts), None   # one state gives one action, as in SB3

    @property
    def solved(self) -> bool:
        return self.cfg.stop_when_solved and self.episodes_to_solve is not None

    def _begin_learning(self) -> None:
        self.env = make_env(self.cfg.env_id, **self.cfg.env_kwargs)

    def _end_learning(self) -> None:
        if self.env is not None:
            self.env.close()

    def _learning_step(self, run) -> None:
        cfg = self.cfg
        s, _ = self.env.reset(seed=cfg.seed * 1_000_003 + self.episodes_done)
        total, length, done = 0.0, 0, False
        while not done:
            a = self.act(int(s))
            s2, r, terminated, truncated, _ = self.env.step(a)
            self.observe(int(s), a, float(r), int(s2), bool(terminated))
            total += float(r)
            length += 1
            self.env_steps += 1
            self.updates_done += 1
            s, done = s2, terminated or truncated
        self.episodes_done += 1
        self.recent.append(total)
        self._end_of_episode()
        row = {"episode": self.episodes_done, "return": total, "length": length, "env_steps": self.env_steps,
               "wall_seconds": self._wall_now()}
        if self.episodes_done % cfg.eval_every == 0 and cfg.solved_return is not None:
            greedy = np.mean([r["return"] for r in self.evaluate(cfg.solve_episodes, seed=20_000)])
            row["greedy_return"] = float(greedy)
            if greedy >= cfg.solved_return and self.episodes_to_solve is None:
                self.episodes_to_solve = self.episodes_done
        if run is not None:
            run.log(row)

    def evaluate(self, episodes: int, seed: int = 10_000) -> list[dict]:
        return evaluate_policy(self.cfg.env_id, lambda o: self.predict(o)[0], episodes, seed, self.cfg.env_kwargs)

    # -- persistence ---------------------------------------------------------------
    def _tables(self) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {**{k: v.tolist() for k, v in self._tables().items()}, **self._counters_state(),
                "episodes_to_solve": self.episodes_to_solve, **self._extra_state()}

    def _extra_state(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        for key, table in self._tables().items():
            table[...] = np.asarray(state[key], dtype=table.dtype)
        set_rng_state(state["rng"], self.rng)
        self.episodes_done, self.updates_done = state["episodes_done"], state["updates_done"]
        self.env_steps, self.wall_seconds = state["env_steps"], state["wall_seconds"]
        self.recent = deque(state["recent"], maxlen=100)
        self.episodes_to_solve = state["episodes_to_solve"]

    def summary(self, rows: list[dict]) -> dict:
        cfg = self.cfg
        out = {"episodes": self.episodes_done, "env_steps": self.env_steps,
               "eval_return_mean": float(np.mean([r["return"] for r in rows])) if rows else None,
               "n_params": int(sum(np.size(t) for t in self._tables().values())),
               "wall_seconds": round(self.wall_seconds, 3), "episodes_to_solve": self.episodes_to_solve}
        if cfg.solved_return is not None:
            out["solved"] = self.episodes_to_solve is not None
            out["solved_criterion"] = (f"greedy mean return over {cfg.solve_episodes} episode(s) >= "
                                       f"{cfg.solved_return} at an evaluation every {cfg.eval_every} episodes")
        return out


class QLearning(TabularAgent):
    """ε-greedy tabular Q-learning."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.q = np.zeros((self.n_states, self.n_actions))
        self.epsilon = cfg.epsilon.start

    def greedy(self, state: int) -> int:
        return int(np.argmax(self.q[state] + self.tie_order[state]))

    def act(self, state: int) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        return self.greedy(state)

    def observe(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        target = r + (0.0 if terminated else self.cfg.gamma * self.q[s2].max())
        self.q[s, a] += self.alpha * (target - self.q[s, a])

    def _end_of_episode(self) -> None:
        self.epsilon = self.cfg.epsilon.after_episode(
            self.epsilon, budget_progress(self.cfg, self.episodes_done, self.env_steps))

    def _tables(self) -> dict:
        return {"q": self.q}

    def _extra_state(self) -> dict:
        return {"epsilon": self.epsilon}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.epsilon = state["epsilon"]


QLearning.Config = Config


def train_tabular(agent: TabularAgent, run: RunDir) -> dict:
    """Resume, learn, evaluate greedily and summarise: ``run()`` of every tabular trainer."""
    if run.resume and (state := run.load_checkpoint()) is not None:
        agent.load_state_dict(state)
    agent.learn(run)
    run.plot_curve("episode", "return", title=f"{type(agent).__name__} on {agent.cfg.env_id}")
    rows = agent.evaluate(agent.cfg.eval_episodes)
    run.write_eval(rows)
    return agent.summary(rows)


def run(cfg: Config, run: RunDir) -> dict:
    """The entry point of ``qrl train`` for this algorithm."""
    return train_tabular(QLearning(cfg), run)


def load_agent(run_dir: str | Path, backend: str | None = None, **_) -> QLearning:
    return QLearning.from_run(run_dir)

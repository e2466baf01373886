"""The CHSH game as a PettingZoo parallel environment, single-shot or repeated.

A referee draws two independent uniform bits, x for ``alice`` and y for ``bob``;
each player sees only its own bit and answers a bit (a, b) without communicating.
They win the round iff a ⊕ b = x ∧ y. Both players receive reward 1 for a win and
0 otherwise (a cooperative game). With shared randomness alone no strategy wins
more than 3/4 of rounds (Bell's inequality); players measuring a shared Bell pair
can reach cos²(π/8) ≈ 0.854 (Tsirelson's bound).

``rounds`` sets the episode length: ``rounds=1`` is the one-shot game; larger values
give the repeated game, where each step is a fresh round with fresh bits (and, for
quantum players, a fresh Bell pair) and the episode return is the number of wins.
An observation is the player's bit (``Discrete(2)``); the round number is in ``infos``.

**Example**

>>> env = parallel_env(rounds=3)
>>> obs, infos = env.reset(seed=0)
>>> sorted(obs), env.action_space("alice")
(['alice', 'bob'], Discrete(2))
>>> x, y = obs["alice"], obs["bob"]
>>> _, rewards, _, trunc, _ = env.step({"alice": 0, "bob": int(x & y)})
>>> rewards["alice"], trunc["alice"]
(1.0, False)
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

AGENTS = ("alice", "bob")


def wins(x, y, a, b):
    """1 where a ⊕ b = x ∧ y, else 0 (element-wise on integer arrays)."""
    return ((np.asarray(a) ^ np.asarray(b)) == (np.asarray(x) & np.asarray(y))).astype(np.int64)


class CHSHGame(ParallelEnv):
    """The (repeated) CHSH game; see the module docstring.

    Args:
        rounds: rounds per episode (1 is the one-shot game).
    """

    metadata = {"name": "chsh_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, rounds: int = 1):
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}.")
        self.rounds = rounds
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.render_mode = None
        self._rng = np.random.default_rng()
        self._round = 0
        self._bits = (0, 0)

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Discrete(2)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(2)

    def _draw(self) -> dict:
        self._bits = (int(self._rng.integers(2)), int(self._rng.integers(2)))
        return dict(zip(AGENTS, self._bits))

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(AGENTS)
        self._round = 0
        obs = self._draw()
        return obs, {a: {"round": 0} for a in AGENTS}

    def step(self, actions: dict):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step needs an action for every agent; missing {missing}.")
        x, y = self._bits
        won = float(wins(x, y, int(actions["alice"]), int(actions["bob"])))
        rewards = {a: won for a in AGENTS}
        infos = {a: {"round": self._round, "x": x, "y": y, "win": int(won)} for a in AGENTS}
        self._round += 1
        done = self._round >= self.rounds
        terminations = {a: False for a in AGENTS}
        truncations = {a: done for a in AGENTS}
        obs = {a: 0 for a in AGENTS} if done else self._draw()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos


def parallel_env(rounds: int = 1) -> CHSHGame:
    """The CHSH game with ``rounds`` rounds per episode (the PettingZoo ``parallel_env`` convention)."""
    return CHSHGame(rounds=rounds)

"""Multi-agent environments on the PettingZoo parallel API, and one array view of them.

- :class:`ParticleEnv`: the course sketch's particle task as a real ``ParallelEnv``
  (agents with position/velocity dynamics and friction, landmarks, and a
  cooperative, competitive or mixed reward).
- :func:`make_mpe`: the MPE tasks from ``mpe2`` (``simple_spread_v3``,
  ``simple_speaker_listener_v4``, ``simple_reference_v3``).
- :class:`JointEnv`: any of them as arrays (observations ``[N, obs_dim]`` padded to one
  width, a global state, per-agent rewards ``[N]``, a mask of each agent's valid
  actions), which is what every learner in ``classical.marl`` consumes.
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

MODES = ("cooperative", "competitive", "mixed")
# Discrete moves shared with MPE: no-op, -x, +x, -y, +y.
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.float64)


class ParticleEnv(ParallelEnv):
    """N point agents move on a plane (velocity with friction) towards landmarks.

    Rewards per mode (``d_i``: agent i's distance to its nearest landmark,
    ``cover``: sum over landmarks of the nearest agent's distance, ``hits_i``:
    agent i's collisions this step):

    - ``"cooperative"``: every agent gets ``-cover - sum(hits)`` (shared coverage reward);
    - ``"competitive"``: ``-d_i + mean_{j != i} d_j`` (zero-sum: rewards add up to 0);
    - ``"mixed"``: ``local_ratio * (-d_i - hits_i) + (1 - local_ratio) * -cover``.

    Observation of agent i: own velocity, own position, landmark positions relative
    to it, other agents' positions relative to it. Actions: 5 discrete moves
    (no-op, left, right, down, up) or, with ``continuous_actions``, a force in [-1, 1]^2.

    Args:
        n_agents: number of agents.
        mode: ``"cooperative"``, ``"competitive"`` or ``"mixed"``.
        n_landmarks: landmarks (default: one per agent).
        max_steps: episode length (truncation).
        friction: fraction of velocity lost per step.
        local_ratio: weight of the local term in ``"mixed"`` mode.
        continuous_actions: Box actions instead of Discrete(5).

    **Example**

    >>> env = ParticleEnv(n_agents=2, mode="cooperative", max_steps=5)
    >>> obs, infos = env.reset(seed=0)
    >>> obs["agent_0"].shape
    (10,)
    >>> _ = env.step({a: 0 for a in env.agents})
    """

    metadata = {"name": "particle_v0", "render_modes": []}

    def __init__(self, n_agents: int = 3, mode: str = "cooperative", n_landmarks: int | None = None,
                 max_steps: int = 25, friction: float = 0.25, dt: float = 0.1, accel: float = 5.0,
                 agent_size: float = 0.15, local_ratio: float = 0.5,
                 continuous_actions: bool = False, render_mode: str | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        if n_agents < 1 or (mode == "competitive" and n_agents < 2):
            raise ValueError("n_agents must be at least 1 (at least 2 for the competitive mode).")
        self.n_agents, self.mode = int(n_agents), mode
        self.n_landmarks = int(n_landmarks or n_agents)
        self.max_steps, self.friction, self.dt, self.accel = max_steps, friction, dt, accel
        self.agent_size, self.local_ratio = agent_size, local_ratio
        self.continuous_actions = continuous_actions
        self.render_mode = render_mode
        self.possible_agents = [f"agent_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self.pos = np.zeros((self.n_agents, 2))
        self.vel = np.zeros((self.n_agents, 2))
        self.landmarks = np.zeros((self.n_landmarks, 2))
        self._t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        dim = 4 + 2 * self.n_landmarks + 2 * (self.n_agents - 1)
        return spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        if self.continuous_actions:
            return spaces.Box(-1.0, 1.0, (2,), np.float32)
        return spaces.Discrete(len(MOVES))

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.pos = self._rng.uniform(-1, 1, (self.n_agents, 2))
        self.vel = np.zeros((self.n_agents, 2))
        self.landmarks = self._rng.uniform(-1, 1, (self.n_landmarks, 2))
        self._t = 0
        return self._observations(), {a: {} for a in self.agents}

    def state(self) -> np.ndarray:
        """Global state: all positions and velocities, and the landmarks."""
        return np.concatenate([self.pos.ravel(), self.vel.ravel(), self.landmarks.ravel()]).astype(np.float32)

    def step(self, actions):
        force = np.zeros((self.n_agents, 2))
        for i, agent in enumerate(self.possible_agents):
            a = actions.get(agent, 0)
            force[i] = np.clip(np.asarray(a, dtype=np.float64), -1, 1) if self.continuous_actions else MOVES[int(a)]
        self.vel = self.vel * (1.0 - self.friction) + force * self.accel * self.dt
        self.pos = self.pos + self.vel * self.dt
        self._t += 1
        rewards = self._rewards()
        truncated = self._t >= self.max_steps
        obs = self._observations()
        agents = list(self.agents)
        if truncated:
            self.agents = []
        return (obs, {a: float(rewards[i]) for i, a in enumerate(agents)},
                {a: False for a in agents}, {a: truncated for a in agents}, {a: {} for a in agents})

    # -- pieces --------------------------------------------------------------
    def _observations(self) -> dict:
        out = {}
        for i, agent in enumerate(self.possible_agents):
            others = np.delete(self.pos, i, axis=0) - self.pos[i]
            out[agent] = np.concatenate([self.vel[i], self.pos[i], (self.landmarks - self.pos[i]).ravel(),
                                         others.ravel()]).astype(np.float32)
        return out

    def _rewards(self) -> np.ndarray:
        dist = np.linalg.norm(self.pos[:, None] - self.landmarks[None], axis=-1)   # [agents, landmarks]
        cover = dist.min(axis=0).sum()
        nearest = dist.min(axis=1)
        gaps = np.linalg.norm(self.pos[:, None] - self.pos[None], axis=-1)
        hits = ((gaps < 2 * self.agent_size).sum(axis=1) - 1).astype(np.float64)
        if self.mode == "cooperative":
            return np.full(self.n_agents, -cover - hits.sum() / 2)
        if self.mode == "competitive":
            n = self.n_agents
            return -nearest + (nearest.sum() - nearest) / (n - 1)
        return self.local_ratio * (-nearest - hits) + (1 - self.local_ratio) * -cover

    def positions(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Agent positions, landmark positions and the agent radius (for coverage metrics)."""
        return self.pos.copy(), self.landmarks.copy(), self.agent_size

    @property
    def zero_sum(self) -> bool:
        """Whether the rewards add up to zero over agents (the competitive mode): the task then has winners."""
        return self.mode == "competitive"


MPE_TASKS = ("simple_spread", "simple_speaker_listener", "simple_reference", "simple_adversary", "simple_tag")


def make_mpe(name: str, continuous_actions: bool = False, **kwargs) -> ParallelEnv:
    """An MPE task from ``mpe2`` as a PettingZoo parallel env.

    Args:
        name: one of :data:`MPE_TASKS` (the last two are competitive: adversary vs agents,
            predators vs prey).
        continuous_actions: Box(0, 1, (5,)) actions instead of Discrete (value-based
            learners need the discrete default).
        **kwargs: passed to the task, e.g. ``N``, ``local_ratio``, ``max_cycles``
            (simple_speaker_listener takes only ``max_cycles``).

    **Example**

    >>> env = make_mpe("simple_spread", N=3, max_cycles=25)
    >>> sorted(env.possible_agents)
    ['agent_0', 'agent_1', 'agent_2']
    """
    from mpe2 import (simple_adversary_v3, simple_reference_v3, simple_speaker_listener_v4, simple_spread_v3,
                      simple_tag_v3)

    modules = {"simple_spread": simple_spread_v3, "simple_speaker_listener": simple_speaker_listener_v4,
               "simple_reference": simple_reference_v3, "simple_adversary": simple_adversary_v3,
               "simple_tag": simple_tag_v3}
    if name not in modules:
        raise ValueError(f"unknown MPE task {name!r}; choose one of {MPE_TASKS}.")
    return modules[name].parallel_env(continuous_actions=continuous_actions, **kwargs)


class JointEnv:
    """A PettingZoo parallel env seen as arrays, for the learners.

    Observations are zero-padded to the widest agent's; ``action_mask[i, a]`` says
    whether agent i has action a (speaker and listener have 3 and 5 actions).

    Discrete tasks take one integer per agent. Tasks whose agents all have Box
    actions (``continuous=True``) take ``actions[N, action_dim]`` in [-1, 1], mapped
    affinely onto each agent's bounds (mpe2's Box(0, 1, (5,)) or ParticleEnv's
    Box(-1, 1, (2,))); ``action_dim`` is the widest agent's and ``action_mask``
    marks each agent's own components.

    **Example**

    >>> env = JointEnv(ParticleEnv(n_agents=2, max_steps=3))
    >>> obs, state = env.reset(seed=0)
    >>> obs.shape, env.n_actions
    ((2, 10), 5)
    >>> obs, state, rewards, terminated, truncated = env.step(np.zeros(2, dtype=int))
    """

    def __init__(self, env: ParallelEnv):
        self.env = env
        self.agents = list(env.possible_agents)
        self.n_agents = len(self.agents)
        kinds = {type(env.action_space(a)) for a in self.agents}
        if kinds == {spaces.Box}:
            self.continuous = True
            sizes = [int(np.prod(env.action_space(a).shape)) for a in self.agents]
            self.low = [np.asarray(env.action_space(a).low, np.float64).ravel() for a in self.agents]
            self.high = [np.asarray(env.action_space(a).high, np.float64).ravel() for a in self.agents]
        elif kinds == {spaces.Discrete}:
            self.continuous = False
            sizes = [int(env.action_space(a).n) for a in self.agents]
        else:
            raise ValueError("JointEnv needs every agent's actions Discrete or every agent's Box; "
                             f"got {sorted(k.__name__ for k in kinds)}.")
        self.obs_dims = [int(np.prod(env.observation_space(a).shape)) for a in self.agents]
        self.obs_dim, self.n_actions = max(self.obs_dims), max(sizes)
        self.action_dim = self.n_actions
        self.action_mask = np.zeros((self.n_agents, self.n_actions), dtype=bool)
        for i, n in enumerate(sizes):
            self.action_mask[i, :n] = True
        env.reset(seed=0)
        self.state_dim = len(self.state())
        self.zero_sum = bool(getattr(env.unwrapped, "zero_sum", False))

    def _stack(self, obs: dict) -> np.ndarray:
        out = np.zeros((self.n_agents, self.obs_dim), dtype=np.float32)
        for i, a in enumerate(self.agents):
            if a in obs:
                out[i, : self.obs_dims[i]] = obs[a]
        return out

    def state(self) -> np.ndarray:
        return np.asarray(self.env.state(), dtype=np.float32).ravel()

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        obs, _ = self.env.reset(seed=seed)
        return self._stack(obs), self.state()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
        """Step with one action per agent; returns obs, state, rewards [N], terminated, truncated.

        ``terminated`` (every agent reached a terminal state) stops bootstrapping;
        ``truncated`` (time limit) only ends the episode.
        """
        live = list(self.env.agents)
        obs, rew, term, trunc, _ = self.env.step({a: self._action(i, actions[i]) for i, a in enumerate(self.agents)
                                                  if a in live})
        rewards = np.array([rew.get(a, 0.0) for a in self.agents], dtype=np.float32)
        terminated = all(term.get(a, False) for a in live)
        truncated = not terminated and (not self.env.agents or any(trunc.get(a, False) for a in live))
        return self._stack(obs), self.state(), rewards, bool(terminated), bool(truncated)

    def _action(self, i: int, action):
        if not self.continuous:
            return int(action)
        a = np.clip(np.asarray(action, np.float64)[: len(self.low[i])], -1.0, 1.0)
        return (self.low[i] + (a + 1.0) / 2.0 * (self.high[i] - self.low[i])).astype(np.float32)

    def positions(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Agent positions, landmark positions and agent radius (MPE world or ParticleEnv)."""
        raw = self.env.unwrapped
        if hasattr(raw, "positions"):
            return raw.positions()
        world = raw.world
        agents = np.array([a.state.p_pos for a in world.agents])
        landmarks = np.array([lm.state.p_pos for lm in world.landmarks])
        return agents, landmarks, float(world.agents[0].size)


def make_joint_env(env_id: str, env_kwargs: dict | None = None) -> JointEnv:
    """A task as a :class:`JointEnv` from the shared vocabulary's ``env_id`` and ``env_kwargs``.

    ``env_id`` is ``"particle"`` (kwargs of :class:`ParticleEnv`) or an mpe2 task of
    :data:`MPE_TASKS` (kwargs of its ``parallel_env``, e.g. ``N``, ``max_cycles``).

    **Example**

    >>> make_joint_env("particle", {"n_agents": 2, "mode": "competitive"}).zero_sum
    True
    """
    env_kwargs = dict(env_kwargs or {})
    try:
        if env_id == "particle":
            return JointEnv(ParticleEnv(**env_kwargs))
        return JointEnv(make_mpe(env_id, **env_kwargs))
    except TypeError as err:
        raise ValueError(f"env_kwargs for {env_id!r}: {err}; check the keys under 'env_kwargs:'.") from None


def make_env(name: str, n_agents: int = 3, max_cycles: int = 25, local_ratio: float = 0.5,
             mode: str = "cooperative") -> JointEnv:
    """Build a task by name as a :class:`JointEnv`: ``"particle"`` or one of :data:`MPE_TASKS`."""
    if name == "particle":
        return JointEnv(ParticleEnv(n_agents=n_agents, mode=mode, max_steps=max_cycles,
                                    local_ratio=local_ratio))
    if name == "simple_spread":
        return JointEnv(make_mpe(name, N=n_agents, max_cycles=max_cycles, local_ratio=local_ratio))
    if name == "simple_reference":
        return JointEnv(make_mpe(name, max_cycles=max_cycles, local_ratio=local_ratio))
    if name == "simple_speaker_listener":
        return JointEnv(make_mpe(name, max_cycles=max_cycles))
    raise ValueError(f"unknown env {name!r}; choose 'particle' or one of {MPE_TASKS}.")

"""Scripted opponents for the two-sided particle tasks: fixed references a learned population is measured against.

Each controller acts for one player's agents (``agents``: indices into the :class:`JointEnv`)
from those agents' own observations, with the five discrete moves :data:`MOVES`, and steers on
the error ``target - coast * v``: an agent that stops pushing still travels ``coast * v``, so
aiming there avoids overshooting (``coast = dt / damping = 0.4`` in mpe2, whose position moves
with the velocity before friction and the push act).

- :class:`ScriptedOpponent` (``ParticleEnv(mode="competitive")``): each agent steers to its nearest landmark.
- :class:`ScriptedTag` (mpe2 ``simple_tag``): predators pursue the nearest prey, aiming where it
  will be when they arrive (its position plus its velocity times the time to cover the gap at the
  predators' top speed, at most ``max_lead`` seconds); prey flee along the sum of the directions away
  from each predator weighted by 1 / distance², pushed back from the arena's edge (the reward's
  boundary penalty starts at |x| = 0.9) and from obstacles they would bump into.
- :class:`ScriptedAdversary` (mpe2 ``simple_adversary``): the good agents split — the one nearest
  to the target landmark goes there, every other one to its nearest other landmark, so the adversary
  sees every landmark taken; the adversary, which does not know the target, goes to the landmark that
  some good agent is closest to (the good agents' movement gives the target away when they do not split).
  Their observations carry no velocity: each agent estimates its own from how far the landmarks moved
  relative to it last step and the push it chose (:meth:`reset` starts an episode).

**Example**

>>> import numpy as np
>>> from classical.marl.envs import make_joint_env
>>> env = make_joint_env("simple_tag", {"max_cycles": 5})
>>> prey = scripted_team(env, "simple_tag", [3])
>>> obs, _ = env.reset(seed=0)
>>> sorted(prey.act(obs, False, np.random.default_rng(0)))
[3]
"""

from __future__ import annotations

import numpy as np

from classical.marl.envs import MOVES, JointEnv


class RandomOpponent:
    """Uniformly random actions for a player's agents."""

    def __init__(self, agents: list[int], n_actions: int):
        self.agents, self.n_actions = agents, n_actions

    def reset(self) -> None:
        """Start an episode (memoryless controllers keep nothing)."""

    def act(self, obs, explore, rng) -> dict[int, int]:
        return {i: int(rng.integers(self.n_actions)) for i in self.agents}


def steer(error: np.ndarray, tolerance: float = 0.05) -> int:
    """The move most aligned with ``error`` (no-op within ``tolerance`` of it)."""
    return int(np.argmax(MOVES @ error)) if np.linalg.norm(error) > tolerance else 0


class ScriptedOpponent(RandomOpponent):
    """Each agent steers to its nearest landmark from its own observation (particle layout:
    velocity, position, landmarks relative to it), aiming where it would coast to.

    With friction ``f`` and time step ``dt`` an agent that stops pushing still travels
    ``damping * v`` with ``damping = dt (1 - f) / f`` (0.3 for the default task; 0 when
    friction stops it at once), so the error it steers on is ``landmark - damping * v``.
    In the competitive particle task an agent's own actions change only its own distance,
    so this controller is close to the game's equilibrium strategy: the best any policy can
    do against it is to navigate better.
    """

    def __init__(self, agents: list[int], n_actions: int, n_landmarks: int, damping: float = 0.3):
        super().__init__(agents, n_actions)
        self.n_landmarks, self.damping = n_landmarks, damping

    @classmethod
    def for_task(cls, env: JointEnv, agents: list[int]) -> ScriptedOpponent:
        """The controller for a :class:`~classical.marl.envs.ParticleEnv` task, damped for its dynamics."""
        raw = env.env
        damping = raw.dt * (1 - raw.friction) / raw.friction if raw.friction > 0 else 0.0
        return cls(agents, env.n_actions, raw.n_landmarks, damping)

    def act(self, obs, explore, rng) -> dict[int, int]:
        out = {}
        for i in self.agents:
            rel = obs[i, 4: 4 + 2 * self.n_landmarks].reshape(-1, 2)
            out[i] = steer(rel[np.argmin(np.linalg.norm(rel, axis=1))] - self.damping * obs[i, :2])
        return out


def _mpe_coast(world) -> float:
    return world.dt / world.damping


class ScriptedTag(RandomOpponent):
    """Predators pursue the prey with lead, prey flee them inside the arena (mpe2 ``simple_tag``).

    Observation of agent i (mpe2): own velocity, own position, obstacles relative to it, the other
    agents relative to it (world order: adversaries first), the other good agents' velocities.
    """

    def __init__(self, env: JointEnv, agents: list[int], max_lead: float = 0.5, edge: float = 0.7):
        super().__init__(agents, env.n_actions)
        world = env.env.unwrapped.world
        self.adversary = [a.adversary for a in world.agents]
        self.n_obstacles = len([lm for lm in world.landmarks if not getattr(lm, "boundary", False)])
        self.obstacle_size = world.landmarks[0].size if world.landmarks else 0.0
        self.size = [a.size for a in world.agents]
        self.chaser_speed = min(a.max_speed for a in world.agents if a.adversary)
        self.coast, self.max_lead, self.edge = _mpe_coast(world), max_lead, edge

    def act(self, obs, explore, rng) -> dict[int, int]:
        n = len(self.adversary)
        out = {}
        for i in self.agents:
            o = obs[i]
            vel, pos = o[:2], o[2:4]
            k = 4 + 2 * self.n_obstacles
            obstacles = o[4:k].reshape(-1, 2)
            others = [j for j in range(n) if j != i]
            rel = o[k: k + 2 * (n - 1)].reshape(-1, 2)
            good_vel = iter(o[k + 2 * (n - 1):].reshape(-1, 2))
            velocity = {j: next(good_vel) for j in others if not self.adversary[j]}
            if self.adversary[i]:
                prey = [(np.linalg.norm(r), r, velocity[j]) for j, r in zip(others, rel) if not self.adversary[j]]
                gap, r, v = min(prey, key=lambda p: p[0])
                lead = min(self.max_lead, gap / self.chaser_speed)
                out[i] = steer(r + lead * v - self.coast * vel, tolerance=0.0)
            else:
                away = np.zeros(2)
                for j, r in zip(others, rel):
                    if self.adversary[j]:
                        away -= r / max(np.dot(r, r), 1e-3)
                # The boundary penalty starts at 0.9: turn back before it, harder the further out.
                away -= np.clip(np.abs(pos) - self.edge, 0, None) * np.sign(pos) * 20.0
                for r in obstacles:     # slide along an obstacle it is about to bump into
                    unit = r / max(np.linalg.norm(r), 1e-3)
                    if np.linalg.norm(r) - self.obstacle_size - self.size[i] < 0.1 and np.dot(unit, away) > 0:
                        away -= unit * np.dot(unit, away)
                out[i] = steer(away, tolerance=0.0)
        return out


class ScriptedAdversary(RandomOpponent):
    """Good agents split over the landmarks (the nearest one takes the target); the adversary goes to the
    landmark a good agent is closest to (mpe2 ``simple_adversary``).

    Observation (mpe2): a good agent sees the target relative to it, the landmarks and the other
    agents (adversary first) relative to it; the adversary sees the landmarks and the good agents.
    """

    def __init__(self, env: JointEnv, agents: list[int]):
        super().__init__(agents, env.n_actions)
        world = env.env.unwrapped.world
        self.adversary = [a.adversary for a in world.agents]
        self.n_landmarks = len(world.landmarks)
        self.coast, self.dt, self.keep = _mpe_coast(world), world.dt, 1 - world.damping
        self.push = world.dt * np.array([a.accel if a.accel is not None else 5.0 for a in world.agents])
        self.reset()

    def reset(self) -> None:
        self._last: dict[int, tuple[np.ndarray, int]] = {}

    def _velocity(self, i: int, landmarks: np.ndarray) -> np.ndarray:
        # Landmarks are static: their shift relative to the agent is minus its last displacement, v dt;
        # then friction and the last push act on v (mpe2's order of integration).
        if i not in self._last:
            return np.zeros(2)
        before, action = self._last[i]
        return self.keep * (before - landmarks[0]) / self.dt + self.push[i] * MOVES[action]

    def act(self, obs, explore, rng) -> dict[int, int]:
        n, m = len(self.adversary), self.n_landmarks
        out = {}
        for i in self.agents:
            o = obs[i]
            if self.adversary[i]:
                landmarks = o[: 2 * m].reshape(-1, 2)
                good = o[2 * m: 2 * m + 2 * (n - 1)].reshape(-1, 2)
                gaps = np.linalg.norm(landmarks[:, None] - good[None], axis=-1).min(axis=1)
                target = landmarks[np.argmin(gaps)]
            else:
                goal, landmarks = o[:2], o[2: 2 + 2 * m].reshape(-1, 2)
                others = o[2 + 2 * m: 2 + 2 * m + 2 * (n - 1)].reshape(-1, 2)
                teammates = [r for j, r in zip([j for j in range(n) if j != i], others) if not self.adversary[j]]
                mine = np.linalg.norm(goal)
                if all(mine <= np.linalg.norm(goal - r) for r in teammates):
                    target = goal
                else:
                    decoys = [lm for lm in landmarks if np.linalg.norm(lm - goal) > 1e-6] or [goal]
                    target = min(decoys, key=np.linalg.norm)
            action = steer(target - self.coast * self._velocity(i, landmarks))
            self._last[i] = (landmarks[0].copy(), action)
            out[i] = action
        return out


def scripted_team(env: JointEnv, env_id: str, agents: list[int]) -> RandomOpponent | None:
    """The scripted controller of ``agents`` for task ``env_id``, or None when the task has none."""
    if env_id == "particle":
        return ScriptedOpponent.for_task(env, agents)
    if env_id == "simple_tag":
        return ScriptedTag(env, agents)
    if env_id == "simple_adversary":
        return ScriptedAdversary(env, agents)
    return None

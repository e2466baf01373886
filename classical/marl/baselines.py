"""Reference policies for the multi-agent tasks: random, no-op and greedy assignment.

They act like the learners (``_act`` on the joint observation, ``predict`` on a dict of
observations), so :func:`classical.marl.loop.evaluate` runs them unchanged.

**Example**

>>> from classical.marl.envs import make_env
>>> from classical.marl.loop import evaluate
>>> env = make_env("simple_spread", max_cycles=5)
>>> len(evaluate(env, GreedyAssignmentPolicy(env), episodes=2))
2
"""

from __future__ import annotations

import numpy as np

from classical.marl.envs import MOVES, JointEnv
from classical.rl.base import MultiAgent


class RandomPolicy(MultiAgent):
    """Uniformly random valid actions: the baseline every learner must beat."""

    on_policy, team_reward, n_params = False, False, 0

    def __init__(self, env: JointEnv):
        self.env, self.action_mask = env, env.action_mask

    def _act(self, obs, explore=True, progress=1.0, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        return np.array([rng.choice(np.flatnonzero(m)) for m in self.action_mask])


class NoOpPolicy(RandomPolicy):
    """Every agent always takes action 0 (no move, or silence)."""

    def _act(self, obs, explore=True, progress=1.0, rng=None):
        return np.zeros(len(self.action_mask), dtype=int)


class GreedyAssignmentPolicy(RandomPolicy):
    """Hand-coded spread: agents claim landmarks greedily (closest pair first), then
    steer to them with a damped (position minus velocity) error. Reads true positions
    from the env, so it is a reference, not a decentralised policy.

    Args:
        env: a spread-like task whose ``positions()`` gives agents and landmarks.
        damping: velocity weight of the steering error.
        stop_radius: inside this distance the agent stays put.
    """

    def __init__(self, env: JointEnv, damping: float = 0.3, stop_radius: float = 0.05):
        super().__init__(env)
        self.damping, self.stop_radius = damping, stop_radius

    def _act(self, obs, explore=True, progress=1.0, rng=None):
        agents, landmarks, _ = self.env.positions()
        velocities = obs[:, :2]                 # MPE and ParticleEnv observations start with own velocity
        dist = np.linalg.norm(agents[:, None] - landmarks[None], axis=-1)
        target = np.full(len(agents), -1)
        free_agents, free_landmarks = set(range(len(agents))), set(range(len(landmarks)))
        for flat in np.argsort(dist, axis=None):
            a, lm = np.unravel_index(flat, dist.shape)
            if a in free_agents and lm in free_landmarks:
                target[a] = lm
                free_agents.discard(a)
                free_landmarks.discard(lm)
        actions = np.zeros(len(agents), dtype=int)
        for a, lm in enumerate(target):
            if lm < 0:
                continue
            error = landmarks[lm] - agents[a] - self.damping * velocities[a]
            if np.linalg.norm(error) > self.stop_radius:
                actions[a] = int(np.argmax(MOVES @ error))
        return actions

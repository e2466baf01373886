"""A contextual bandit whose logged actions are confounded with the reward.

Each step draws a context ``s``, a hidden confounder ``U`` and an instrument ``z``
(fresh standard normal, standard normal and fair coin); the agent sees only ``s`` and
picks ``a ∈ {0, 1}`` (treat or not). Structural equations:

==============  =======================================================================
``r``           ``a · τ(s) + 0.5 s + confounding · U + 0.5 ε``,  ``τ(s) = s − 0.5``
``a_logged``    ``1[0.5 s + logger_confounding · U + instrument_strength · (2z − 1) + e > 0]``
==============  =======================================================================

``a_logged`` is what the *logging* policy would do: it saw ``U`` (a clinician who
sees how ill the patient is) and a randomised encouragement ``z`` (a coin, which moves
the treatment but not the reward). In logged data, treated units have larger ``U``,
so the naive regression of ``r`` on ``a`` credits the treatment with ``U``'s effect; ``z``
is a valid instrument for ``a``. The best policy treats exactly when ``τ(s) > 0``,
i.e. ``s > 0.5``; its value per step is ``E[max(τ(s), 0)] = φ(0.5) − 0.5·(1 − Φ(0.5))``
≈ 0.198 (:data:`ORACLE_VALUE`), never treating is worth 0.

``info`` carries the logging policy's view (``hidden``, ``instrument``, ``logged_action``)
so offline data can be collected; policies must not read it.

Register-free use: ``gym.make("classical.causal.confounded_env:ConfoundedBandit-v0")``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from scipy.stats import norm

ENV_ID = "classical.causal.confounded_env:ConfoundedBandit-v0"
THRESHOLD = 0.5
ORACLE_VALUE = float(norm.pdf(THRESHOLD) - THRESHOLD * norm.sf(THRESHOLD))


def treatment_effect(s: np.ndarray) -> np.ndarray:
    """The true conditional effect ``τ(s) = E[r | s, do(a=1)] − E[r | s, do(a=0)]``."""
    return np.asarray(s, dtype=float) - THRESHOLD


class ConfoundedBanditEnv(gym.Env):
    """Treat-or-not bandit with a hidden confounder seen only by the logging policy.

    Args:
        horizon: steps per episode (each step is an independent unit).
        confounding: effect of the hidden ``U`` on the reward.
        logger_confounding: how strongly the logging policy's choice follows ``U``.
        instrument_strength: how strongly the logging policy follows the coin ``z``.

    **Example**

    >>> env = ConfoundedBanditEnv()
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, sorted(info)
    ((1,), ['hidden', 'instrument', 'logged_action'])
    """

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = 100, confounding: float = 1.0,
                 logger_confounding: float = 1.5, instrument_strength: float = 1.0):
        if horizon < 1:
            raise ValueError(f"horizon = {horizon}; an episode needs at least one step.")
        self.horizon = int(horizon)
        self.confounding = float(confounding)
        self.logger_confounding = float(logger_confounding)
        self.instrument_strength = float(instrument_strength)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._t = 0

    def _draw(self) -> None:
        rng = self.np_random
        self._s, self._u = rng.standard_normal(2)
        self._z = int(rng.integers(2))
        self._eps = rng.standard_normal()
        score = (0.5 * self._s + self.logger_confounding * self._u
                 + self.instrument_strength * (2 * self._z - 1) + rng.standard_normal())
        self._logged = int(score > 0)

    def _obs(self) -> np.ndarray:
        return np.array([self._s], dtype=np.float32)

    def _info(self) -> dict:
        return {"hidden": float(self._u), "instrument": self._z, "logged_action": self._logged}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._draw()
        return self._obs(), self._info()

    def step(self, action):
        a = int(action)
        reward = (a * float(treatment_effect(self._s)) + 0.5 * self._s
                  + self.confounding * self._u + 0.5 * self._eps)
        self._t += 1
        self._draw()
        return self._obs(), float(reward), False, self._t >= self.horizon, self._info()


def collect_logged_data(episodes: int, seed: int, max_steps: int | None = None,
                        **env_kwargs) -> dict[str, np.ndarray]:
    """Offline data from the confounded logging policy: ``s, a, r, z`` (and ``u``, for checks only).

    Args:
        episodes: logged episodes (at most).
        seed: first episode's reset seed (episode ``k`` uses ``seed · 100_003 + k``).
        max_steps: stop after this many steps in total.
        **env_kwargs: :class:`ConfoundedBanditEnv` settings.
    """
    env = ConfoundedBanditEnv(**env_kwargs)
    rows = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed * 100_003 + ep)
        done = False
        while not done and (max_steps is None or len(rows) < max_steps):
            a = info["logged_action"]
            s, u, z = float(obs[0]), info["hidden"], info["instrument"]
            obs, r, terminated, truncated, info = env.step(a)
            rows.append((s, a, r, z, u))
            done = terminated or truncated
        if max_steps is not None and len(rows) >= max_steps:
            break
    data = np.asarray(rows, dtype=float)
    return {k: data[:, i] for i, k in enumerate(("s", "a", "r", "z", "u"))}


if "ConfoundedBandit-v0" not in gym.registry:
    gym.register(id="ConfoundedBandit-v0", entry_point=ConfoundedBanditEnv)

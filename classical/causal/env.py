"""A gymnasium environment with a hidden confounder and a spurious feature that flips.

Each step the agent sees four features and picks ``a ∈ {0, 1}``; it earns +1 when
``a`` equals a hidden binary outcome ``y`` and −1 otherwise. Structural equations
(``H``, ``ε``, ``e·`` fresh standard normals each step; ``H`` is never observed):

==========  ================================================================
``c1``      ``0.5 c1' + 0.8 H + 0.6 e1``              causal parent of ``y``
``c2``      ``0.5 c2' + 0.4 (2a' − 1) + 0.8 e2``      causal parent of ``y``, moved by actions
``n``       ``H + 0.5 e3``                            confounded with ``c1`` through ``H``
``y``       ``1[c1 + c2 + target_noise · ε > 0]``     what the reward pays for
``s``       ``ρ (2y − 1) + spurious_noise · e4``      an *effect* of ``y``: spurious
==========  ================================================================

(primes: previous step). In training ``ρ = +1``, so ``s`` predicts the reward
better than the causal features do (it sees ``ε``); with ``shift=True`` the
mechanism of ``s`` flips to ``ρ = −1`` (as colour does in Coloured MNIST). A
policy that reads ``s`` loses its return; one that reads only the causal parents
``c1, c2`` of ``y`` keeps it. ``n`` is correlated with the reward only through
``c1``'s confounder.

Register-free use: ``gym.make("classical.causal.env:CausalShift-v0", shift=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

FEATURES = ("c1", "c2", "n", "s")
ENV_ID = "classical.causal.env:CausalShift-v0"


class CausalShiftEnv(gym.Env):
    """Binary-decision task whose spurious feature's correlation with reward flips under ``shift``.

    Args:
        horizon: steps per episode.
        shift: test-time mechanism for the spurious feature (``ρ = −1``).
        features: indices (or names) of the features exposed in the observation;
            ``None`` exposes all of :data:`FEATURES`.
        target_noise: scale of the unobserved noise in ``y`` (limits what ``c1, c2`` can predict).
        spurious_noise: noise on the spurious feature (small: ``s`` predicts ``y`` well).

    **Example**

    >>> env = CausalShiftEnv(features=["c1", "c2"])
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, sorted(info)
    ((2,), ['all_features', 'hidden', 'y'])
    """

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = 50, shift: bool = False,
                 features: Sequence[int | str] | None = None, target_noise: float = 0.5,
                 spurious_noise: float = 0.3):
        if horizon < 1:
            raise ValueError(f"horizon = {horizon}; an episode needs at least one step.")
        self.horizon = int(horizon)
        self.shift = bool(shift)
        self.features = _feature_indices(features)
        self.target_noise = float(target_noise)
        self.spurious_noise = float(spurious_noise)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (len(self.features),), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._c = np.zeros(2)
        self._t = 0

    def _draw(self, prev_action: int | None) -> None:
        rng = self.np_random
        h = rng.standard_normal()
        push = 0.0 if prev_action is None else 0.4 * (2 * prev_action - 1)
        c1 = 0.5 * self._c[0] + 0.8 * h + 0.6 * rng.standard_normal()
        c2 = 0.5 * self._c[1] + push + 0.8 * rng.standard_normal()
        self._c = np.array([c1, c2])
        n = h + 0.5 * rng.standard_normal()
        self._y = int(c1 + c2 + self.target_noise * rng.standard_normal() > 0)
        rho = -1.0 if self.shift else 1.0
        s = rho * (2 * self._y - 1) + self.spurious_noise * rng.standard_normal()
        self._all = np.array([c1, c2, n, s], dtype=np.float32)
        self._hidden = h

    def _obs(self) -> np.ndarray:
        return self._all[self.features]

    def _info(self) -> dict:
        return {"y": self._y, "hidden": self._hidden, "all_features": self._all.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._c = self.np_random.standard_normal(2)
        self._draw(None)
        return self._obs(), self._info()

    def step(self, action):
        a = int(action)
        reward = 1.0 if a == self._y else -1.0
        self._t += 1
        self._draw(a)
        truncated = self._t >= self.horizon
        return self._obs(), reward, False, truncated, self._info()


def _feature_indices(features: Sequence[int | str] | None) -> list[int]:
    if features is None:
        return list(range(len(FEATURES)))
    out = []
    for f in features:
        if isinstance(f, str):
            if f not in FEATURES:
                raise ValueError(f"unknown feature '{f}'; choose from {FEATURES}.")
            out.append(FEATURES.index(f))
        else:
            if not 0 <= int(f) < len(FEATURES):
                raise ValueError(f"feature index {f} is out of range; use 0..{len(FEATURES) - 1}.")
            out.append(int(f))
    if not out:
        raise ValueError("features is empty; expose at least one feature (or pass None for all).")
    return out


if "CausalShift-v0" not in gym.registry:
    gym.register(id="CausalShift-v0", entry_point=CausalShiftEnv)

"""Causal policy gradient: REINFORCE on the discovered causal parents of the reward.

The agent first watches the environment under a uniformly random policy and
records every feature together with the *action-signed reward* ``z = r · (2a − 1)``.
For the binary "match the hidden outcome" reward of :mod:`classical.causal.env`,
``z = 2y − 1`` is the outcome the reward pays for, freed from the action (which is
random and independent of everything else here). Causal discovery (PC or
NOTEARS) on ``(features, z)`` then gives the parents of ``z``; the policy is the
shared REINFORCE loop (:mod:`classical.rl.reinforce`) whose observation holds
only those features. With ``features="all"`` the same loop sees every feature —
the baseline that learns whatever correlates with reward, spurious or not.

Which features count as parents: with PC, the features with a directed edge
into ``z`` plus those joined to ``z`` by an undirected CPDAG edge (possible
parents: dropping them could drop a cause); with NOTEARS, the features with a
non-zero weight into ``z``. Features PC finds to be *effects* of ``z`` — a
spurious feature generated from the outcome — are excluded.

**Example**

>>> data, names = collect_discovery_data(episodes=20, seed=0)
>>> [names[i] for i in discover_reward_parents(data)]
['c1', 'c2']
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from classical.causal.env import FEATURES, CausalShiftEnv
from classical.causal.notears import notears
from classical.causal.pc import pc
from classical.common.seeding import episode_seed


def collect_discovery_data(episodes: int, seed: int, **env_kwargs) -> tuple[np.ndarray, list[str]]:
    """Random-policy data: one row per step, columns = every feature then the signed reward.

    Args:
        episodes: episodes to play.
        seed: seeds the environment resets and the random actions.
        **env_kwargs: :class:`~classical.causal.env.CausalShiftEnv` settings (``features``
            is ignored: discovery always sees all features).
    """
    env_kwargs = {k: v for k, v in env_kwargs.items() if k != "features"}
    env = CausalShiftEnv(**env_kwargs)
    rng = np.random.default_rng(seed)
    rows = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, ep, stride=100_003))
        done = False
        while not done:
            a = int(rng.integers(2))
            next_obs, r, terminated, truncated, _ = env.step(a)
            rows.append([*obs, r * (2 * a - 1)])
            obs, done = next_obs, terminated or truncated
    return np.asarray(rows, dtype=float), [*FEATURES, "signed_reward"]


def discover_reward_parents(data: np.ndarray, method: Literal["pc", "notears"] = "pc",
                            alpha: float = 0.05, w_threshold: float = 0.3,
                            target: int = -1) -> list[int]:
    """Indices of the columns that discovery puts as (possible) parents of column ``target``."""
    d = data.shape[1]
    target = target % d
    if method == "pc":
        a = pc(data, alpha=alpha)
        into = a[:, target] != 0     # directed into target, or undirected
    elif method == "notears":
        a = notears(data - data.mean(0), w_threshold=w_threshold)
        into = (a[:, target] != 0) & (a[target, :] == 0)
    else:
        raise ValueError(f"discovery method '{method}' is unknown; use 'pc' or 'notears'.")
    return [i for i in range(d) if i != target and into[i]]

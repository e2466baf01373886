"""Coordination analysis: coverage and collisions on spread, message–goal mutual information.

**Example**

>>> import numpy as np
>>> step_coordination(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.05], [1.0, 0.0]]), 0.15)
{'landmark_distance': 0.05, 'covered': 1.0, 'collisions': 0.0}
>>> round(mutual_information([0, 1, 0, 1], [0, 1, 0, 1]), 3)     # bits
1.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

CAPTURE_RADIUS = 0.1   # mpe2 simple_spread's "occupied" distance


def step_coordination(agent_pos: np.ndarray, landmark_pos: np.ndarray, agent_size: float) -> dict:
    """One step's coordination: summed landmark-to-nearest-agent distance, fraction of
    landmarks covered (an agent within :data:`CAPTURE_RADIUS`), colliding agent pairs."""
    dist = np.linalg.norm(landmark_pos[:, None] - agent_pos[None], axis=-1)
    nearest = dist.min(axis=1)
    gaps = np.linalg.norm(agent_pos[:, None] - agent_pos[None], axis=-1)
    pairs = np.triu(gaps < 2 * agent_size, k=1).sum()
    return {"landmark_distance": round(float(nearest.sum()), 6),
            "covered": float((nearest < CAPTURE_RADIUS).mean()),
            "collisions": float(pairs)}


def episode_coordination(steps: Sequence[dict]) -> dict:
    """Per-episode summary of :func:`step_coordination` rows: mean distance and coverage,
    final-step coverage, total collisions."""
    return {"landmark_distance": float(np.mean([s["landmark_distance"] for s in steps])),
            "coverage": float(np.mean([s["covered"] for s in steps])),
            "final_coverage": float(steps[-1]["covered"]),
            "collisions": float(np.sum([s["collisions"] for s in steps]))}


def team_of(agent: str) -> str:
    """The team an agent belongs to: its name without the trailing index (``adversary_0`` -> ``adversary``)."""
    head, _, tail = agent.rpartition("_")
    return head if head and tail.isdigit() else agent


def agent_returns(returns: np.ndarray, agents: Sequence[str], zero_sum: bool = False) -> dict:
    """One episode's per-agent and per-team returns, and who won if the task has winners.

    Columns: ``return_<agent>`` for every agent; ``team_return_<team>`` for every team when
    the agents form more than one team (:func:`team_of`); for zero-sum tasks ``win_<agent>``
    (1 for the agent with the strictly highest return, else 0; a tie has no winner).

    **Example**

    >>> agent_returns(np.array([1.5, -1.5]), ["agent_0", "agent_1"], zero_sum=True)
    {'return_agent_0': 1.5, 'return_agent_1': -1.5, 'win_agent_0': 1.0, 'win_agent_1': 0.0}
    >>> agent_returns(np.array([2.0, -1.0, -1.0]), ["adversary_0", "agent_0", "agent_1"])["team_return_agent"]
    -2.0
    """
    returns = np.asarray(returns, dtype=np.float64)
    row = {f"return_{a}": float(r) for a, r in zip(agents, returns)}
    teams = [team_of(a) for a in agents]
    if len(set(teams)) > 1:
        for team in dict.fromkeys(teams):
            row[f"team_return_{team}"] = float(sum(r for t, r in zip(teams, returns) if t == team))
    if zero_sum:
        best = returns.max()
        unique = np.sum(np.isclose(returns, best)) == 1
        row.update({f"win_{a}": float(unique and np.isclose(r, best)) for a, r in zip(agents, returns)})
    return row


def agent_summary(rows: Sequence[dict]) -> dict:
    """Evaluation means of the :func:`agent_returns` columns: ``eval_return_<agent>_mean``,
    ``eval_team_return_<team>_mean`` and ``win_rate_<agent>``.

    **Example**

    >>> agent_summary([{"return": 0.0, "return_agent_0": 1.0, "win_agent_0": 1.0},
    ...                {"return": 0.0, "return_agent_0": 3.0, "win_agent_0": 0.0}])
    {'eval_return_agent_0_mean': 2.0, 'win_rate_agent_0': 0.5}
    """
    out = {}
    for key in rows[0] if rows else ():
        values = float(np.mean([r[key] for r in rows]))
        if key.startswith("return_") or key.startswith("team_return_"):
            out[f"eval_{key}_mean"] = values
        elif key.startswith("win_"):
            out[f"win_rate_{key[4:]}"] = values
    return out


def mutual_information(x: Sequence[int], y: Sequence[int]) -> float:
    """Plug-in estimate of I(X; Y) in bits from paired discrete samples."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0:
        return 0.0
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    joint = np.zeros((xi.max() + 1, yi.max() + 1))
    np.add.at(joint, (xi, yi), 1)
    joint /= joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (px @ py)[nz])).sum())


def plot_coordination(rows: Sequence[dict], path: str | Path, title: str = "coordination") -> Path:
    """Bar plot of mean coverage, collisions and landmark distance per labelled run.

    ``rows``: dicts with ``label`` and the :func:`episode_coordination` keys.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["coverage", "collisions", "landmark_distance"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    labels = [r["label"] for r in rows]
    for ax, key in zip(axes, keys):
        ax.bar(labels, [r[key] for r in rows])
        ax.set_title(key)
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _channel_symbol(messages, sender: int) -> int:
    """A learned message as a discrete symbol: the one-hot index, or the sign pattern of a continuous one."""
    m = np.asarray(messages[0, sender])
    if set(np.unique(m)).issubset({0.0, 1.0}):
        return int(m.argmax())
    return int(sum(1 << k for k, v in enumerate(m) if v > 0))


def message_goal_information(env, learner, episodes: int = 50, seed: int = 0) -> dict:
    """Mutual information (bits) between the speaker's messages and the goal landmark on
    ``simple_speaker_listener``, over greedy episodes.

    ``mi_env_message``: the speaker's environment action (its 3-symbol say channel);
    ``mi_learned_message``: the learned channel's message, if the learner has one.
    The goal index is the speaker's observation (the goal colour) argmax; the upper
    bound is log2(3) = 1.58 bits.
    """
    import torch

    net = getattr(learner, "actor", None) or getattr(learner, "q_net", None)
    channel = getattr(net, "comm", None)
    goals, said, learned = [], [], []
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for k in range(episodes):
            obs, _ = env.reset(seed=2 * 10**9 + seed * 10_007 + k)
            done = False
            while not done:
                actions = learner._act(obs, explore=False, progress=1.0, rng=rng)
                goals.append(int(np.argmax(obs[0, :3])))
                said.append(int(actions[0]))
                if channel is not None:
                    learned.append(_channel_symbol(channel.last_messages, 0))
                obs, _, _, terminated, truncated = env.step(actions)
                done = terminated or truncated
    out = {"mi_env_message": mutual_information(said, goals)}
    if channel is not None:
        out["mi_learned_message"] = mutual_information(learned, goals)
    return out

"""Seeding and RNG state capture, so that a resumed run continues exactly."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a NumPy generator for the caller's own draws.

    **Example**

    >>> rng = seed_everything(0)
    >>> float(rng.random()) == float(seed_everything(0).random())
    True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def rng_state(generator: np.random.Generator | None = None) -> dict:
    """Everything needed to continue the random streams after a restart."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if generator is not None:
        state["generator"] = generator.bit_generator.state
    return state


def set_rng_state(state: dict, generator: np.random.Generator | None = None) -> None:
    """Restore the streams saved by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if generator is not None and "generator" in state:
        generator.bit_generator.state = state["generator"]


def episode_seed(seed: int, episode: int, stride: int = 1_000_003) -> int:
    """The reset seed of training episode ``episode`` of run ``seed``, so a resumed run replays the same episodes.

    The world-model, causal and federated trainers pass ``stride=100_003``, the value they were
    benchmarked with (BENCHMARKS.md), so their published seeds still reproduce.

    **Example**

    >>> episode_seed(2, 5)
    2000011
    """
    return seed * stride + episode

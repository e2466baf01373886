"""Causal feature selection for a quantum policy: encode only the reward's causal parents.

The causal policy gradient of :mod:`classical.causal.train` with the policy swapped
for a data re-uploading circuit (:class:`qrl.models.ReuploadingPolicy`, one qubit per
encoded feature). PC on random-policy data keeps the two causal parents ``c1, c2``
of the reward out of the four features of ``CausalShift-v0``, so the circuit needs
2 qubits instead of 4 — and, because it ignores the spurious feature, it keeps its
return when that feature's correlation with the reward flips at test time.
:func:`compare` trains both circuits (causal features vs every feature) and
reports qubits, parameters and returns before and after the shift.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(episodes=10, eval_episodes=1, model={"type": "vqc", "n_layers": 1})
>>> out = run(cfg, RunDir(tempfile.mkdtemp()))
>>> out["features"], out["qubits"]
(['c1', 'c2'], 2)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

import qrl.models  # noqa: F401  (registers `model: {type: vqc}`)
from classical.causal import train as causal_train
from classical.common.rundir import RunDir


class Config(causal_train.Config):
    """Causal policy gradient with a re-uploading circuit policy (one qubit per feature)."""

    model: dict[str, Any] = Field(default_factory=lambda: {"type": "vqc", "n_layers": 3},
                                  description="policy circuit spec (one qubit per kept feature)")
    backend: str | None = Field("default.qubit", description="backends.yaml entry for the circuit")
    lr: dict[str, float] = Field(
        default_factory=lambda: {"input_scaling": 0.1, "weights": 0.1, "output_scaling": 0.1},
        description="Adam learning rate per circuit parameter group (README: lr)")


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Discover the reward's parents, train the circuit on them, evaluate before/after the shift."""
    summary = causal_train.run(causal_train.Config(**cfg.model_dump()), run_dir)
    return {**summary, "qubits": len(summary["features"])}


def load_agent(run_dir, backend: str | None = None, **device_overrides):
    """The trained circuit policy of a run folder (a REINFORCE agent reading the kept features)."""
    return causal_train.load_agent(run_dir, backend, **device_overrides)


def compare(seeds: int = 3, on_row: Callable[[dict], None] | None = None,
            **overrides) -> list[dict]:
    """Train the circuit on causal features and on all features for each seed; one row per run.

    ``on_row`` is called with each row as soon as its run finishes (for progress output).
    """
    rows = []
    for seed in range(seeds):
        for features in ("causal", "all"):
            cfg = Config(**{**overrides, "features": features, "seed": seed})
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                out = run(cfg, RunDir(tmp))
            rows.append({"seed": seed, **out, "seconds": time.perf_counter() - start})
            if on_row is not None:
                on_row(rows[-1])
    return rows

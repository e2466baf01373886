"""Quantum-inspired experience replay (Wei, Dong et al. 2021, IEEE Trans. Cybernetics).

Every stored transition i is a qubit a_i|0⟩ + b_i|1⟩ whose |1⟩ ("replay me") amplitude
is set by amplitude amplification. The base state RY(2θ₀)|0⟩ has b = sin θ₀
(θ₀ = asin √p₀); a Grover iteration (oracle Z on |1⟩, reflection about the base state)
rotates by 2θ₀, so after m iterations b = sin((2m + 1)θ₀).

- *Preparation*: a transition's last TD error δ_i sets its iteration count,
  m_i = ⌊m_max · |δ_i| / max_j |δ_j|⌋, with m_max = ⌊π / (4θ₀) − ½⌋ the count that brings
  the probability closest to 1 without rotating past it. New transitions get m_max.
- *Depreciation*: a transition replayed c_i times loses ⌊λ c_i⌋ iterations, so the same
  experience is not replayed over and over (the role of replay times in the paper).
- *Sampling*: measuring all qubits and drawing among the ones found in |1⟩ picks i with
  probability P(i) = b_i² / Σ_j b_j²; that distribution is sampled directly.

The buffer implements the :class:`~classical.common.buffers.ReplayBuffer` interface with
``update_priorities`` like the prioritized buffer, so any DQN uses it with
``replay: {type: quantum, p0: ..., depreciation: ...}`` (registered when :mod:`qrl.models`
is imported). No importance weights: the paper corrects no bias.

**Example**

>>> buf = QuantumReplayBuffer(capacity=8, p0=0.05)
>>> buf.add(x=np.arange(2.0))
>>> buf.update_priorities(np.array([0, 1]), np.array([0.0, 2.0]))
>>> [round(float(p), 4) for p in buf.probabilities()]   # sin²θ₀ = 0.05 vs sin²(5θ₀), normalised
[0.0577, 0.9423]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from classical.common.buffers import ReplayBuffer, register_buffer


class QuantumReplayBuffer(ReplayBuffer):
    """Replay probabilities from Grover-amplified amplitudes (see the module docstring)."""

    def __init__(self, capacity: int, p0: float = 0.01, depreciation: float = 0.1):
        super().__init__(capacity)
        if not 0 < p0 < 0.5:
            raise ValueError(f"replay.p0 = {p0}: the base probability must lie in (0, 0.5).")
        self.theta0 = math.asin(math.sqrt(p0))
        self.m_max = max(0, math.floor(math.pi / (4 * self.theta0) - 0.5))
        self.depreciation = depreciation
        self.iterations = np.zeros(self.capacity, dtype=np.int64)   # m_i from the last TD error
        self.replays = np.zeros(self.capacity, dtype=np.int64)      # c_i
        self.td_max = 0.0

    def add(self, **batch: np.ndarray) -> None:
        n = len(next(iter(batch.values())))
        idx = (self._pos + np.arange(n)) % self.capacity
        super().add(**batch)
        self.iterations[idx], self.replays[idx] = self.m_max, 0

    def effective_iterations(self) -> np.ndarray:
        """m_i − ⌊λ c_i⌋, at least 0, for the stored transitions."""
        n = self._size
        return np.maximum(0, self.iterations[:n] - np.floor(self.depreciation * self.replays[:n]).astype(np.int64))

    def amplitudes(self) -> np.ndarray:
        """b_i = sin((2 m_i + 1) θ₀), the |1⟩ amplitude of each stored transition."""
        return np.sin((2 * self.effective_iterations() + 1) * self.theta0)

    def probabilities(self) -> np.ndarray:
        b2 = self.amplitudes() ** 2
        return b2 / b2.sum()

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.choice(self._size, size=batch_size, p=self.probabilities())
        np.add.at(self.replays, idx, 1)
        out = {k: torch.as_tensor(v[idx]) for k, v in self._data.items()}
        out["indices"] = torch.as_tensor(idx)
        return out

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        """Preparation: the new TD errors set the Grover iteration counts of those transitions."""
        err = np.abs(np.asarray(td_errors, dtype=float))
        self.td_max = max(self.td_max, float(err.max(initial=0.0)))
        if self.td_max > 0:
            self.iterations[np.asarray(idx)] = np.floor(self.m_max * err / self.td_max).astype(np.int64)

    def state_dict(self) -> dict:
        n = self._size
        return {**super().state_dict(), "iterations": self.iterations[:n].tolist(),
                "replays": self.replays[:n].tolist(), "td_max": self.td_max}

    def load_state_dict(self, state: Mapping) -> None:
        super().load_state_dict(state)
        n = len(state["iterations"])
        self.iterations[:n], self.replays[:n] = state["iterations"], state["replays"]
        self.td_max = state["td_max"]


register_buffer("quantum", QuantumReplayBuffer)

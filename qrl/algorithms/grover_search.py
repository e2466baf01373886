"""Grover action search: quantum reinforcement learning of Dong, Chen, Li & Tarn (2008).

Each state s holds its actions in superposition, |ψ_s⟩ = Σ_a c_{s,a}|a⟩, starting
uniform. One step: measure |ψ_s⟩ (action a with probability |c_{s,a}|²), act, observe
(r, s'); update the state value by TD(0), V(s) ← V(s) + α (r + γ V(s') − V(s)); then
reinforce a by L = min(⌊k (r + V(s'))⌋, max_iterations) Grover iterations

    G_a = U_ψ₀ U_a,   U_a = I − 2|a⟩⟨a| (the oracle marks a),   U_ψ₀ = 2|ψ₀⟩⟨ψ₀| − I,

ψ₀ the uniform superposition. The iteration is the circuit ``qml.FlipSign(a)`` then
``qml.GroverOperator`` on the ⌈log₂ n_actions⌉ action qubits, compiled once per action to a
matrix (the tests check it against the formula). With four actions a single iteration
from ψ₀ already gives a probability 1, and a further one rotates past it (back to
uniform): iterations are applied only while they raise the probability of a, so a good
action is never over-rotated out of favour. Greedy acting picks the most probable
action. The classical counterpart is ε-greedy tabular Q-learning
(:mod:`classical.rl.tabular_q`), judged by the same loop.

**Example**

>>> cfg = Config(env_kwargs={"is_slippery": False}, episodes=200, seed=3)
>>> agent = GroverSearch(cfg)
>>> np.allclose(np.abs(agent.amplitudes[0]) ** 2, 0.25)
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pennylane as qml
from pydantic import Field

from classical.common.rundir import RunDir
from classical.rl.tabular_q import TabularAgent, TabularConfig, train_tabular


class Config(TabularConfig):
    """Grover action search; ``configs/*_grover_search.yaml`` are presets of this."""

    k: float = Field(2.0, gt=0, description="Grover iterations per unit of r + V(s'): L = floor(k (r + V(s')))")
    max_iterations: int = Field(1, ge=0, description="cap on L per step")


def grover_matrices(n_actions: int) -> np.ndarray:
    """G_a for every action a, shape [n_actions, 2^q, 2^q] (q action qubits), from PennyLane circuits."""
    q = max(1, int(np.ceil(np.log2(n_actions))))
    wires = list(range(q))

    def iteration(a: int) -> None:
        qml.FlipSign([int(b) for b in format(a, f"0{q}b")], wires=wires)   # U_a: −1 on |a⟩
        qml.GroverOperator(wires=wires)                                    # 2|ψ₀⟩⟨ψ₀| − I

    return np.stack([np.real(qml.matrix(iteration, wire_order=wires)(a)) for a in range(n_actions)])


class GroverSearch(TabularAgent):
    """Action amplitudes per state reinforced by Grover iterations, V(s) by TD(0)."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        if self.n_actions < 2 or self.n_actions & (self.n_actions - 1):   # ψ₀ must cover the whole register
            raise ValueError(f"GroverSearch needs a power-of-two number of actions; {cfg.env_id} has "
                             f"{self.n_actions}.")
        self.grover = grover_matrices(self.n_actions)
        self.amplitudes = np.full((self.n_states, self.n_actions), 1 / np.sqrt(self.n_actions))
        self.v = np.zeros(self.n_states)

    def probabilities(self, state: int) -> np.ndarray:
        p = self.amplitudes[state] ** 2
        return p / p.sum()

    def act(self, state: int) -> int:
        """Measure the action register (collapse to a with probability |c_a|²)."""
        return int(self.rng.choice(self.n_actions, p=self.probabilities(state)))

    def greedy(self, state: int) -> int:
        return int(np.argmax(np.round(self.probabilities(state), 9) + self.tie_order[state]))

    def observe(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        cfg = self.cfg
        next_value = 0.0 if terminated else self.v[s2]
        self.v[s] += self.alpha * (r + cfg.gamma * next_value - self.v[s])
        iterations = min(int(np.floor(cfg.k * (r + next_value))), cfg.max_iterations)
        for _ in range(max(0, iterations)):
            candidate = self.grover[a] @ self.amplitudes[s]
            if candidate[a] ** 2 <= self.amplitudes[s, a] ** 2:
                break
            self.amplitudes[s] = candidate

    def _tables(self) -> dict:
        return {"amplitudes": self.amplitudes, "v": self.v}


GroverSearch.Config = Config


def run(cfg: Config, run: RunDir) -> dict:
    """The entry point of ``qrl train`` for this algorithm."""
    return train_tabular(GroverSearch(cfg), run)


def load_agent(run_dir: str | Path, backend: str | None = None, **_) -> GroverSearch:
    return GroverSearch.from_run(run_dir)

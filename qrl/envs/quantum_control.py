"""Quantum control as a gymnasium environment: drive n qubits to a target state.

The register (1–4 qubits) starts in |0…0⟩. Each action applies one gate from a
configurable set (PennyLane operations, so any named gate works); the episode
ends when the fidelity |⟨target|ψ⟩|² reaches ``threshold`` (terminated) or after
``max_steps`` gates (truncated). Targets: ``"plus"`` (|+⟩^n), ``"bell"`` (2
qubits), ``"ghz"`` (n ≥ 2) or ``"random"`` (a Haar-random state from ``target_seed``).

Gates are written ``NAME`` + wires (+ an angle for rotations): ``"H0"``,
``"CNOT01"``, ``"RY1(pi/8)"``, ``"RZ0(-0.3)"``. The observation is the state's
real and imaginary parts, shape ``[2 * 2**n]``. Rewards:

- ``reward="gain"`` (default): F_t − F_{t−1} − ``step_penalty``; the undiscounted
  return is F_final − F_0 minus the step cost, so an agent is paid for getting
  close and for getting there fast;
- ``reward="fidelity"``: F_t itself (the course sketch's reward).

``info`` carries ``fidelity``, ``success`` (fidelity ≥ threshold) and ``steps``.

**Example**

>>> env = QuantumControlEnv(n_qubits=2, target="bell", gates=["H0", "CNOT01", "X1"])
>>> _ = env.reset(seed=0)
>>> _ = env.step(0); obs, r, terminated, truncated, info = env.step(1)
>>> terminated, round(info["fidelity"], 6)
(True, 1.0)
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import gymnasium as gym
import numpy as np
import pennylane as qml

TARGETS = ("plus", "bell", "ghz", "random")
_GATE = re.compile(r"^([A-Za-z]+?)(\d+)(?:\((.+)\))?$")


def default_gates(n_qubits: int, target: str) -> list[str]:
    """The gate set used when none is given: Clifford gates for the stabiliser targets,
    ±π/8 rotations for random states; CNOTs along the chain in both cases."""
    cnots = [f"CNOT{q}{q + 1}" for q in range(n_qubits - 1)]
    if target == "random":
        rotations = [f"R{axis}{q}({sign}pi/8)" for q in range(n_qubits) for axis in "XYZ" for sign in ("", "-")]
        return rotations + cnots
    return [f"H{q}" for q in range(n_qubits)] + [f"S{q}" for q in range(n_qubits)] + cnots


def _angle(text: str) -> float:
    """``"pi/8"``, ``"-pi/4"``, ``"2*pi/3"`` or a plain number."""
    m = re.fullmatch(r"\s*(-?)\s*(?:(\d*\.?\d+)\s*\*?\s*)?pi\s*(?:/\s*(\d*\.?\d+))?\s*", text)
    if m:
        sign = -1.0 if m.group(1) else 1.0
        return sign * float(m.group(2) or 1.0) * math.pi / float(m.group(3) or 1.0)
    return float(text)


def parse_gate(spec: str, n_qubits: int) -> tuple[str, np.ndarray]:
    """A gate string as (label, unitary on the full register).

    >>> parse_gate("X0", 1)[1].real.astype(int).tolist()
    [[0, 1], [1, 0]]
    """
    m = _GATE.match(spec.replace(" ", ""))
    op_class = getattr(qml, m.group(1), None) if m else None
    if op_class is None:
        raise ValueError(f"cannot read gate '{spec}'; write it like 'H0', 'CNOT01' or 'RY1(pi/8)'.")
    wires = [int(c) for c in m.group(2)]
    if any(w >= n_qubits for w in wires) or len(set(wires)) != len(wires):
        raise ValueError(f"gate '{spec}' acts on wires {wires}, but the register has qubits 0..{n_qubits - 1}.")
    try:
        params = [_angle(m.group(3))] if m.group(3) else []
        op = op_class(*params, wires=wires)
    except (ValueError, TypeError) as err:
        raise ValueError(f"gate '{spec}': {err}; check its angle and number of wires.") from None
    return spec, qml.matrix(op, wire_order=range(n_qubits))


def target_state(kind: str, n_qubits: int, seed: int = 0) -> np.ndarray:
    """The target statevector (wire 0 is the most significant bit, as in PennyLane)."""
    dim = 2 ** n_qubits
    if kind == "plus":
        return np.full(dim, 1 / math.sqrt(dim), dtype=complex)
    if kind in ("bell", "ghz"):
        if n_qubits < 2 or (kind == "bell" and n_qubits != 2):
            raise ValueError(f"target '{kind}' needs {'2' if kind == 'bell' else 'at least 2'} qubits, "
                             f"not {n_qubits}; use 'plus' or 'random' for one qubit.")
        state = np.zeros(dim, dtype=complex)
        state[0] = state[-1] = 1 / math.sqrt(2)
        return state
    if kind == "random":
        z = np.random.default_rng(seed).normal(size=(2, dim))
        state = z[0] + 1j * z[1]
        return state / np.linalg.norm(state)
    raise ValueError(f"unknown target '{kind}'; choose one of {', '.join(TARGETS)}.")


class QuantumControlEnv(gym.Env):
    """Prepare a target state gate by gate; see the module docstring.

    Args:
        n_qubits: register size, 1 to 4.
        target: "plus", "bell", "ghz" or "random".
        target_seed: seed of the random target.
        gates: gate strings; default :func:`default_gates`.
        threshold: fidelity that ends the episode as solved.
        max_steps: gates per episode before truncation (default 10 per qubit).
        reward: "gain" or "fidelity".
        step_penalty: subtracted from every "gain" reward.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_qubits: int = 1, target: str = "plus", target_seed: int = 0,
                 gates: Sequence[str] | None = None, threshold: float = 0.95, max_steps: int | None = None,
                 reward: str = "gain", step_penalty: float = 0.01):
        if not 1 <= n_qubits <= 4:
            raise ValueError(f"n_qubits must be 1 to 4, not {n_qubits}.")
        if reward not in ("gain", "fidelity"):
            raise ValueError(f"unknown reward '{reward}'; choose 'gain' or 'fidelity'.")
        self.n_qubits, self.threshold, self.reward_kind = n_qubits, threshold, reward
        self.step_penalty = step_penalty
        self.max_steps = max_steps or 10 * n_qubits
        self.target = target_state(target, n_qubits, target_seed)
        parsed = [parse_gate(g, n_qubits) for g in (gates or default_gates(n_qubits, target))]
        self.gate_names = [name for name, _ in parsed]
        self.unitaries = np.stack([u for _, u in parsed])
        dim = 2 ** n_qubits
        self.action_space = gym.spaces.Discrete(len(parsed))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2 * dim,), dtype=np.float32)
        self.state = np.zeros(dim, dtype=complex)

    def fidelity(self, state: np.ndarray | None = None) -> float:
        state = self.state if state is None else state
        return float(abs(np.vdot(self.target, state)) ** 2)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.state.real, self.state.imag]).astype(np.float32)

    def _info(self) -> dict:
        f = self.fidelity()
        return {"fidelity": f, "success": f >= self.threshold, "steps": self.steps}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = np.zeros(2 ** self.n_qubits, dtype=complex)
        self.state[0] = 1.0
        self.steps = 0
        return self._obs(), self._info()

    def step(self, action):
        before = self.fidelity()
        self.state = self.unitaries[int(action)] @ self.state
        self.steps += 1
        info = self._info()
        if self.reward_kind == "gain":
            reward = info["fidelity"] - before - self.step_penalty
        else:
            reward = info["fidelity"]
        terminated = bool(info["success"])
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), float(reward), terminated, truncated, info

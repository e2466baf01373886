"""Quantum architecture search as a gymnasium environment: an RL agent builds a VQE ansatz gate by gate.

:class:`AnsatzBuildingEnv` (registered as ``qrl/AnsatzBuilding-v0``; configs name it
``"qrl.algorithms.qas:qrl/AnsatzBuilding-v0"``): each episode draws a molecule geometry
(H₂ or LiH at one of ``bond_lengths``, Hamiltonians from :mod:`qrl.algorithms.vqe`) and
starts from the Hartree–Fock state. An action appends one gate from a pool:

- ``RY(θ)`` on each wire, ``CNOT`` on each neighbouring pair (hardware-efficient gates),
- ``SingleExcitation(θ)`` on wires (0, 2) and (1, 3), ``DoubleExcitation(θ)`` on (0, 1, 2, 3)
  (chemistry-inspired gates),
- ``stop``.

After a parametrised gate all angles are re-optimised (torch L-BFGS, warm start, the new
angle at 0) on a ``backends.yaml`` backend. Reward = the energy improvement in units of
``energy_unit`` Hartree (or, with ``energy_unit=None``, as a fraction of the episode's
correlation energy E_HF − E_exact) minus ``gate_penalty`` per gate added, so the return trades
the energy reached against the circuit size. Observation: gate counts per pool entry / max_gates,
the step fraction, the bond length, and the energy gained so far (in the reward's unit).
Episodes end on ``stop`` (terminated) or after ``max_gates`` gates (truncated); with
``stop_below_mha`` set, also (terminated) as soon as the energy is within that many mHa of
the exact ground energy — the goal condition of Ostaszewski et al. (2021), whose architecture
search likewise measures success against the exact energy of a benchmark molecule. The final
``info`` has ``energy``, ``exact`` (exact diagonalisation, never shown to the agent),
``error_mha``, ``chemical_accuracy`` and ``n_gates``.

**Example**

>>> env = AnsatzBuildingEnv(molecule="H2", bond_lengths=[0.74])
>>> obs, info = env.reset(seed=0)
>>> _, reward, *_ , info = env.step(env.pool.index("DoubleExcitation(0,1,2,3)"))
>>> bool(info["error_mha"] < 1.6), reward > 1
(True, True)
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch

from qrl.algorithms.vqe import exact_ground_energy, hartree_fock_energy
from qrl.algorithms.vqe import molecule as molecule_hamiltonian


def gate_pool(n_qubits: int = 4) -> list[str]:
    """The action names, in action order."""
    pool = [f"RY({w})" for w in range(n_qubits)]
    pool += [f"CNOT({w},{w + 1})" for w in range(n_qubits - 1)]
    pool += ["SingleExcitation(0,2)", "SingleExcitation(1,3)", "DoubleExcitation(0,1,2,3)", "stop"]
    return pool


def _apply(name: str, theta):
    import pennylane as qml

    kind, wires = name.split("(")
    wires = [int(w) for w in wires.rstrip(")").split(",")]
    if kind == "CNOT":
        qml.CNOT(wires)
    else:
        getattr(qml, kind)(theta, wires=wires)


class AnsatzBuildingEnv(gym.Env):
    """Build an ansatz gate by gate; see the module docstring.

    Args:
        molecule: ``"H2"`` or ``"LiH"`` (4 qubits each).
        bond_lengths: geometries (Å) an episode draws from.
        max_gates: episode length limit.
        gate_penalty: reward subtracted per gate.
        energy_unit: Hartree per unit of reward; ``None``: the episode's correlation energy
            E_HF − E_exact, so a reward of 1 (before the penalty) removes all of Hartree–Fock's error
            at any geometry (H₂'s 12 mHa at 0.5 Å counts as much as its 87 mHa at 1.5 Å).
        optimizer_steps: L-BFGS iterations of the re-optimisation after each parametrised gate.
        backend: ``backends.yaml`` entry for the energy evaluations.
        stop_below_mha: end the episode once the error against exact diagonalisation is below this
            (mHa; 1.6 is chemical accuracy); ``None`` never.

    The optimised energy and angles depend only on the geometry and the gate sequence (L-BFGS from
    the previous angles and a new 0 is deterministic), so they are computed once per sequence and
    reused: later episodes that repeat a circuit cost no simulation.
    """

    metadata = {"render_modes": []}

    def __init__(self, molecule: str = "H2", bond_lengths: Sequence[float] = (0.5, 0.74, 1.5),
                 max_gates: int = 6, gate_penalty: float = 0.1, energy_unit: float | None = 0.01,
                 optimizer_steps: int = 20, backend: str = "qrl.torch", stop_below_mha: float | None = None):
        if not bond_lengths:
            raise ValueError("bond_lengths must list at least one bond length (Angstrom).")
        if energy_unit is not None and not energy_unit > 0:
            raise ValueError(f"energy_unit must be positive (Hartree) or None, got {energy_unit!r}.")
        if stop_below_mha is not None and not stop_below_mha > 0:
            raise ValueError(f"stop_below_mha must be positive (mHa) or None, got {stop_below_mha!r}.")
        self.stop_below_mha = stop_below_mha
        self.molecule, self.bond_lengths = molecule, [float(b) for b in bond_lengths]
        self.max_gates, self.gate_penalty, self.energy_unit = max_gates, gate_penalty, energy_unit
        self.optimizer_steps, self.backend = optimizer_steps, backend
        self.n_qubits = molecule_hamiltonian(molecule, self.bond_lengths[0])[1]
        self.pool = gate_pool(self.n_qubits)
        self.action_space = gym.spaces.Discrete(len(self.pool))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (len(self.pool) + 2,), np.float32)
        self._nodes: dict[tuple[str, ...], object] = {}
        self._optimised: dict[tuple, tuple[float, list[float]]] = {}

    # -- energies ------------------------------------------------------------------
    def _energy_fn(self, gates: tuple[str, ...]):
        """A torch QNode E(θ) for this gate sequence on the current geometry (cached per sequence)."""
        import pennylane as qml

        from qrl import backends

        key = (self.bond_length, *gates)
        if key not in self._nodes:
            if len(self._nodes) > 4096:   # a long search visits many sequences; keep memory bounded
                self._nodes.clear()
            h, n, hf = self._ham

            def circuit(thetas):
                qml.BasisState(np.array(hf), wires=range(n))
                k = 0
                for g in gates:
                    _apply(g, thetas[k] if not g.startswith("CNOT") else None)
                    k += not g.startswith("CNOT")
                return qml.expval(h)

            self._nodes[key] = backends.qnode(circuit, self.backend, n)
        return self._nodes[key]

    def _optimise(self) -> float:
        key = (self.bond_length, *self.gates)
        if key not in self._optimised:
            if len(self._optimised) > 100_000:
                self._optimised.clear()
            energy = self._run_optimiser()
            self._optimised[key] = (energy, list(self.thetas))
        energy, thetas = self._optimised[key]
        self.thetas = list(thetas)
        return energy

    def _run_optimiser(self) -> float:
        node = self._energy_fn(tuple(self.gates))
        if not self.thetas:
            return float(node(torch.zeros(1, dtype=torch.float64)))
        thetas = torch.tensor(self.thetas, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([thetas], max_iter=self.optimizer_steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            e = node(thetas)
            e.backward()
            return e

        opt.step(closure)
        self.thetas = thetas.detach().tolist()
        with torch.no_grad():
            return float(node(thetas))

    # -- gymnasium -------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        counts = np.array([self.gates.count(g) for g in self.pool[:-1]] + [0], float) / self.max_gates
        gained = (self.e_hf - self.energy) / self.unit
        return np.concatenate([counts[:-1], [len(self.gates) / self.max_gates, self.bond_length,
                                             gained]]).astype(np.float32)

    def reset(self, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.bond_length = self.bond_lengths[int(self.np_random.integers(len(self.bond_lengths)))]
        self._ham = molecule_hamiltonian(self.molecule, self.bond_length)
        self.e_hf = hartree_fock_energy(self.molecule, self.bond_length)
        self.exact = exact_ground_energy(self._ham[0], self._ham[1])
        self.unit = self.energy_unit if self.energy_unit is not None else max(self.e_hf - self.exact, 1e-6)
        self.gates: list[str] = []
        self.thetas: list[float] = []
        self.energy = self.e_hf
        return self._obs(), self._info()

    def _info(self) -> dict:
        error = self.energy - self.exact
        return {"energy": self.energy, "exact": self.exact, "error_mha": 1000 * error,
                "chemical_accuracy": bool(error < 1.6e-3), "n_gates": len(self.gates),
                "bond_length": self.bond_length, "circuit": " ".join(self.gates)}

    def step(self, action):
        name = self.pool[int(action)]
        if name == "stop":
            return self._obs(), 0.0, True, False, self._info()
        self.gates.append(name)
        if not name.startswith("CNOT"):
            self.thetas.append(0.0)
        before = self.energy
        self.energy = self._optimise()
        reward = (before - self.energy) / self.unit - self.gate_penalty
        reached = self.stop_below_mha is not None and 1000 * (self.energy - self.exact) < self.stop_below_mha
        truncated = len(self.gates) >= self.max_gates and not reached
        return self._obs(), float(reward), reached, truncated, self._info()


if "qrl/AnsatzBuilding-v0" not in gym.registry:
    gym.register("qrl/AnsatzBuilding-v0", entry_point="qrl.algorithms.qas:AnsatzBuildingEnv")

"""PennyLane tapes as Qiskit circuit structures, bindings and parameter-shift rows.

A *structure* is a tape's gate sequence with every gate angle replaced by a Qiskit
``Parameter``. Tapes that differ only in angles (every state of a batch, every
parameter-shift evaluation, every training step) share one structure, so the
structure is transpiled once and everything else becomes rows of a parameter array.

**Example**

>>> import numpy as np, pennylane as qp
>>> tape = qp.tape.QuantumScript([qp.RX(np.array([0.1, 0.2]), 0)], [qp.expval(qp.Z(0))])
>>> structure = CircuitStructure.from_tape(tape, wire_order=[0])
>>> parameter_rows(tape).shape
(2, 1)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pennylane as qp

# PennyLane gate name -> (qiskit gate class name, number of parameters). Controlled
# rotations are left out on purpose: Aer does not bind parameters of crx/cry/crz (it runs
# them with the parameter unbound), so PennyLane decomposes them into these gates first.
QISKIT_GATES: dict[str, tuple[str, int]] = {
    "RX": ("RXGate", 1),
    "RY": ("RYGate", 1),
    "RZ": ("RZGate", 1),
    "PhaseShift": ("PhaseGate", 1),
    "U3": ("UGate", 3),
    "IsingXX": ("RXXGate", 1),
    "IsingYY": ("RYYGate", 1),
    "IsingZZ": ("RZZGate", 1),
    "CNOT": ("CXGate", 0),
    "CZ": ("CZGate", 0),
    "CY": ("CYGate", 0),
    "SWAP": ("SwapGate", 0),
    "Toffoli": ("CCXGate", 0),
    "Hadamard": ("HGate", 0),
    "PauliX": ("XGate", 0),
    "PauliY": ("YGate", 0),
    "PauliZ": ("ZGate", 0),
    "S": ("SGate", 0),
    "T": ("TGate", 0),
    "SX": ("SXGate", 0),
    "Identity": ("IGate", 0),
}


def is_supported_operation(op: qp.operation.Operator) -> bool:
    """True when ``op`` maps one-to-one onto a Qiskit standard gate."""
    return op.name in QISKIT_GATES


@dataclass(frozen=True)
class CircuitStructure:
    """The angle-free shape of a circuit: gate names, wires and parameter slots.

    Attributes:
        gates: ``(name, wire indices, number of parameters)`` per gate, in order.
        n_qubits: Width of the circuit (the device's wires).
    """

    gates: tuple[tuple[str, tuple[int, ...], int], ...]
    n_qubits: int

    @classmethod
    def from_tape(cls, tape: qp.tape.QuantumScript, wire_order) -> CircuitStructure:
        """Reads the structure of ``tape``; wires are numbered by their place in ``wire_order``."""
        index = {w: i for i, w in enumerate(wire_order)}
        gates = tuple(
            (op.name, tuple(index[w] for w in op.wires), op.num_params) for op in tape.operations
        )
        return cls(gates=gates, n_qubits=len(wire_order))

    @property
    def n_parameters(self) -> int:
        return sum(n for _, _, n in self.gates)

    @property
    def key(self) -> str:
        """A short stable digest naming this structure (cache key, ledger field)."""
        return hashlib.sha1(repr((self.gates, self.n_qubits)).encode()).hexdigest()[:16]

    def to_qiskit(self):
        """Builds the parametrised Qiskit circuit; parameter ``θ[k]`` is the k-th gate angle."""
        from qiskit.circuit import ParameterVector, QuantumCircuit
        from qiskit.circuit.library import standard_gates

        theta = ParameterVector("θ", self.n_parameters)
        circuit = QuantumCircuit(self.n_qubits)
        k = 0
        for name, wires, n_params in self.gates:
            gate_cls = getattr(standard_gates, QISKIT_GATES[name][0])
            circuit.append(gate_cls(*theta[k : k + n_params]), list(wires))
            k += n_params
        return circuit


def parameter_rows(tape: qp.tape.QuantumScript) -> np.ndarray:
    """All gate angles of ``tape`` as a ``[batch, n_parameters]`` float array.

    Broadcast parameters (shape ``[batch]``) fill a column; scalars are repeated.
    An unbroadcast tape gives one row.
    """
    values = [np.asarray(qp.math.unwrap(p), dtype=float) for op in tape.operations for p in op.data]
    batch = tape.batch_size or 1
    rows = np.empty((batch, len(values)))
    for k, value in enumerate(values):
        rows[:, k] = value
    return rows


@lru_cache(maxsize=None)
def _shift_rule(frequencies: tuple[float, ...]) -> np.ndarray:
    return np.asarray(qp.gradients.generate_shift_rule(frequencies))


def shift_terms(tape: qp.tape.QuantumScript) -> list[np.ndarray]:
    """Parameter-shift terms ``[[coefficient, shift], ...]`` for each trainable parameter.

    The Jacobian column of trainable parameter ``t`` is
    ``sum(c * f(θ + s e_t) for c, s in shift_terms(tape)[t])``.
    """
    n_gate_params = sum(op.num_params for op in tape.operations)
    terms = []
    for t in tape.trainable_params:
        assert t < n_gate_params, "observables must be parameter-free after preprocessing"
        op, _, p_idx = tape.get_operation(tape.trainable_params.index(t))
        terms.append(_shift_rule(tuple(op.parameter_frequencies[p_idx])))
    return terms


def pauli_observables(tape: qp.tape.QuantumScript, wire_order):
    """Each measured observable of ``tape`` as a Qiskit ``SparsePauliOp`` on the device wires."""
    from qiskit.quantum_info import SparsePauliOp

    index = {w: i for i, w in enumerate(wire_order)}
    ops = []
    for m in tape.measurements:
        sentence = qp.pauli.pauli_sentence(m.obs)
        terms = [
            ("".join(word[w] for w in word), [index[w] for w in word], float(np.real(coeff)))
            for word, coeff in sentence.items()
        ] or [("", [], 0.0)]
        ops.append(SparsePauliOp.from_sparse_list(terms, num_qubits=len(wire_order)).simplify())
    return ops


def observables_key(observables) -> str:
    """A stable digest of a list of ``SparsePauliOp`` (labels and coefficients)."""
    parts = [(tuple(o.paulis.to_labels()), tuple(np.round(o.coeffs.real, 12))) for o in observables]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

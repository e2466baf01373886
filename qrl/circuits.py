"""Variational circuits as plain PennyLane quantum functions.

The data re-uploading circuit of Jerbi et al. (2021) and Skolik et al. (2022):
for each layer, variational rotations on every qubit, an entangling layer, then
the (scaled) inputs encoded as rotations; a last variational layer; expectation
values of Pauli words. Inputs may carry a batch dimension (parameter
broadcasting), weights never do.
"""

from __future__ import annotations

from typing import Sequence

import pennylane as qml

ROTATIONS = {"x": qml.RX, "y": qml.RY, "z": qml.RZ}
ENTANGLERS = ("cz_ring", "cnot_ring", "none")


def entangling_gates(kind: str, n_qubits: int) -> list[tuple]:
    """The gates of an entangling layer on a ring of ``n_qubits`` (none for one qubit)."""
    if kind == "none" or n_qubits < 2:
        return []
    pairs = [(i, (i + 1) % n_qubits) for i in range(n_qubits)] if n_qubits > 2 else [(0, 1)]
    gate = qml.CZ if kind == "cz_ring" else qml.CNOT
    return [(gate, None, [a, b]) for a, b in pairs]


def _unstack(t, axis: int = 0) -> list:
    """Split along ``axis`` in one operation (one autograd node, not one per gate angle)."""
    if hasattr(t, "unbind"):
        return list(t.unbind(axis))
    return list(qml.math.unstack(t, axis=axis)) if qml.math.ndim(t) else [t]


def variational_gates(weights, rotations: str) -> list[tuple]:
    """One rotation per letter of ``rotations`` on every qubit; ``weights`` has shape [n_qubits, len(rotations)]."""
    n_qubits, n_rot = weights.shape[0], len(rotations)
    angles = _unstack(qml.math.reshape(weights, (-1,)))
    return [(ROTATIONS[axis], angles[q * n_rot + k], q)
            for q in range(n_qubits) for k, axis in enumerate(rotations)]


def encoding_gates(x, scaling, n_qubits: int, encoding: str) -> list[tuple]:
    """Input feature j as a rotation by ``scaling[j] * x[..., j]`` on qubit ``j mod n_qubits``."""
    gate = ROTATIONS[encoding[-1]]
    return [(gate, angle, j % n_qubits) for j, angle in enumerate(_unstack(x * scaling, axis=-1))]


def apply(gates) -> None:
    """Queue ``(gate class, angle or None, wires)`` triples as PennyLane operations."""
    for gate, angle, wires in gates:
        if angle is None:
            gate(wires=wires)
        else:
            gate(angle, wires=wires)


def entangle(kind: str, n_qubits: int) -> None:
    """An entangling layer on a ring of ``n_qubits`` (nothing for one qubit)."""
    apply(entangling_gates(kind, n_qubits))


def encode(x, scaling, n_qubits: int, encoding: str) -> None:
    """Encode input feature j as a rotation by ``scaling[j] * x[..., j]`` on qubit ``j mod n_qubits``."""
    apply(encoding_gates(x, scaling, n_qubits, encoding))


def pauli_word(word: str):
    """``"Z0Z1"`` → ``Z(0) @ Z(1)``; ``"X2"`` → ``X(2)``."""
    ops = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}
    terms, i = [], 0
    while i < len(word):
        p = word[i]
        j = i + 1
        while j < len(word) and word[j].isdigit():
            j += 1
        if p not in ops or j == i + 1:
            raise ValueError(f"cannot read Pauli word '{word}'; write it like 'Z0Z1' or 'X2'.")
        terms.append(ops[p](int(word[i + 1:j])))
        i = j
    return qml.prod(*terms) if len(terms) > 1 else terms[0]


def reuploading_gates(x, input_scaling, weights, *, n_qubits: int, rotations: str,
                      entangler: str, encoding: str) -> list[tuple]:
    """The gates of the data re-uploading circuit in order, as ``(gate class, angle or None, wires)``.

    Args:
        x: inputs, shape [n_inputs] or [batch, n_inputs].
        input_scaling: λ, shape [n_layers, n_inputs].
        weights: θ, shape [n_layers + 1, n_qubits, len(rotations)].
    """
    n_layers = input_scaling.shape[0]
    gates = []
    for layer in range(n_layers):
        gates += variational_gates(weights[layer], rotations)
        gates += entangling_gates(entangler, n_qubits)
        gates += encoding_gates(x, input_scaling[layer], n_qubits, encoding)
    return gates + variational_gates(weights[n_layers], rotations)


def reuploading_parameters(x, input_scaling, weights, **structure) -> list:
    """The gate angles of :func:`reuploading_circuit` in tape order (for a compiled circuit)."""
    return [angle for _, angle, _ in reuploading_gates(x, input_scaling, weights, **structure)
            if angle is not None]


def reuploading_packed_parameters(x, input_scaling, weights):
    """The same angles as :func:`reuploading_parameters`, packed for ``CompiledCircuit.packed``.

    Returns ``(θ in tape order [P], encoding angles [batch, n_layers * n_inputs])``:
    the variational angles are the only unbroadcast parameters, in the order of
    ``weights.reshape(-1)``; the encoding angle of layer l, feature j is column
    ``l * n_inputs + j``. ``x`` must have a batch dimension.
    """
    return weights.reshape(-1), (x.unsqueeze(-2) * input_scaling).flatten(-2)


def reuploading_circuit(x, input_scaling, weights, *, n_qubits: int, rotations: str,
                        entangler: str, encoding: str, observables: Sequence[str]):
    """The data re-uploading circuit; returns one expectation value per observable.

    Args:
        x: inputs, shape [n_inputs] or [batch, n_inputs].
        input_scaling: λ, shape [n_layers, n_inputs].
        weights: θ, shape [n_layers + 1, n_qubits, len(rotations)].
    """
    apply(reuploading_gates(x, input_scaling, weights, n_qubits=n_qubits, rotations=rotations,
                            entangler=entangler, encoding=encoding))
    return [qml.expval(pauli_word(o)) for o in observables]

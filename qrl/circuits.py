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


def entangle(kind: str, n_qubits: int) -> None:
    """An entangling layer on a ring of ``n_qubits`` (nothing for one qubit)."""
    if kind == "none" or n_qubits < 2:
        return
    pairs = [(i, (i + 1) % n_qubits) for i in range(n_qubits)] if n_qubits > 2 else [(0, 1)]
    gate = qml.CZ if kind == "cz_ring" else qml.CNOT
    for a, b in pairs:
        gate(wires=[a, b])


def _unstack(t, axis: int = 0) -> list:
    """Split along ``axis`` in one operation (one autograd node, not one per gate angle)."""
    if hasattr(t, "unbind"):
        return list(t.unbind(axis))
    return list(qml.math.unstack(t, axis=axis)) if qml.math.ndim(t) else [t]


def variational_layer(weights, rotations: str) -> None:
    """One rotation per letter of ``rotations`` on every qubit; ``weights`` has shape [n_qubits, len(rotations)]."""
    n_qubits, n_rot = weights.shape[0], len(rotations)
    angles = _unstack(qml.math.reshape(weights, (-1,)))
    for q in range(n_qubits):
        for k, axis in enumerate(rotations):
            ROTATIONS[axis](angles[q * n_rot + k], wires=q)


def encode(x, scaling, n_qubits: int, encoding: str) -> None:
    """Encode input feature j as a rotation by ``scaling[j] * x[..., j]`` on qubit ``j mod n_qubits``."""
    gate = ROTATIONS[encoding[-1]]
    for j, angle in enumerate(_unstack(x * scaling, axis=-1)):
        gate(angle, wires=j % n_qubits)


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


def reuploading_circuit(x, input_scaling, weights, *, n_qubits: int, rotations: str,
                        entangler: str, encoding: str, observables: Sequence[str]):
    """The data re-uploading circuit; returns one expectation value per observable.

    Args:
        x: inputs, shape [n_inputs] or [batch, n_inputs].
        input_scaling: λ, shape [n_layers, n_inputs].
        weights: θ, shape [n_layers + 1, n_qubits, len(rotations)].
    """
    n_layers = input_scaling.shape[0]
    for layer in range(n_layers):
        variational_layer(weights[layer], rotations)
        entangle(entangler, n_qubits)
        encode(x, input_scaling[layer], n_qubits, encoding)
    variational_layer(weights[n_layers], rotations)
    return [qml.expval(pauli_word(o)) for o in observables]

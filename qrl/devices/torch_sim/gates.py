"""Gate kernels of the torch statevector simulator: gate sets, matrices, and how a gate acts.

Everything here is a pure function of tensors and gate names, used by the plan
(:mod:`.plan`), the simulator (:mod:`.simulator`) and the measurements (:mod:`.measure`):

* the gate sets the device applies natively (rotations, fixed single-qubit gates,
  constant permutation/phase gates, one-parameter diagonal gates);
* vectorised builders of rotation matrices (one call builds every ``RX`` of a circuit);
* ``lift_monomial`` / ``lift_diag``: a gate on a few wires as a gather index and a phase
  vector, or as a diagonal, over all ``2**n`` basis states;
* ``apply_small_matrix``: a matrix on at most a few wires applied to a ``[rows, 2**n]`` state.

**Example**

>>> import torch
>>> mat = rx(torch.tensor([0.0, 3.141592653589793]))
>>> mat.shape, round(float(mat[1, 0, 1].imag), 4)
(torch.Size([2, 2, 2]), -1.0)
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

# Single-qubit gates whose matrices are built in vectorised torch code.
ROTATIONS = ("RX", "RY", "RZ", "PhaseShift")
ANGLE_KINDS = frozenset(ROTATIONS + ("Rot",))
# Parameter-free single-qubit gates (matrix cached per dtype).
FIXED_1Q = ("Identity", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX")
# Parameter-free multi-qubit gates that are a permutation times a phase.
MONOMIAL = ("CNOT", "CZ", "CY", "SWAP", "ISWAP", "Toffoli", "CCZ", "CSWAP")
# One-parameter diagonal gates: diag = exp(i * theta * g), g a real vector.
PARAM_DIAG = ("IsingZZ", "MultiRZ", "ControlledPhaseShift", "CRZ")
SKIP = ("Barrier", "Snapshot")
NATIVE = frozenset(ROTATIONS + ("Rot",) + FIXED_1Q + MONOMIAL + PARAM_DIAG + SKIP)
SCALAR_PARAMS = frozenset(ROTATIONS + ("Rot", "GlobalPhase") + PARAM_DIAG)
GENERIC_MAX_WIRES = 3  # other gates are applied from their own matrix up to this size


def as_tensor(mat, dtype: torch.dtype) -> torch.Tensor:
    """A matrix from PennyLane (numpy array or torch tensor) as a torch tensor of ``dtype``."""
    mat = mat if isinstance(mat, torch.Tensor) else torch.as_tensor(np.asarray(mat))
    return mat.to(dtype)


def op_batch_size(op):
    """Broadcast size of an operation (None if not broadcast).

    Gates with scalar parameters are checked directly: ``op.batch_size`` re-validates
    every parameter and costs more than simulating a small circuit.
    """
    if op.name in SCALAR_PARAMS:
        for d in op.data:
            if getattr(d, "ndim", 0) == 1:
                return d.shape[0]
        return None
    return op.batch_size


# --------------------------------------------------------------------------- single-qubit matrices


def mul2x2(left, right):
    """Batched 2x2 products as one elementwise kernel (matmul loops BLAS per matrix)."""
    return (left.unsqueeze(-1) * right.unsqueeze(-3)).sum(-2)


def _complex(re, im):
    return torch.complex(re, im)


def rx(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, z, z, c], -1), torch.stack([z, -s, -s, z], -1)).unflatten(-1, (2, 2))


def ry(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, -s, s, c], -1), torch.stack([z, z, z, z], -1)).unflatten(-1, (2, 2))


def rz(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, z, z, c], -1), torch.stack([-s, z, z, s], -1)).unflatten(-1, (2, 2))


def phase_shift(phi):
    c, s = torch.cos(phi), torch.sin(phi)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return _complex(torch.stack([o, z, z, c], -1), torch.stack([z, z, z, s], -1)).unflatten(-1, (2, 2))


def rot(phi, theta, omega):
    """Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    a, b = (phi + omega) / 2, (phi - omega) / 2
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    re = torch.stack([ca * c, -cb * s, cb * s, ca * c], -1)
    im = torch.stack([-sa * c, -sb * s, -sb * s, sa * c], -1)
    return _complex(re, im).unflatten(-1, (2, 2))


ROTATION_BUILDERS = {"RX": rx, "RY": ry, "RZ": rz, "PhaseShift": phase_shift}


def fixed_matrix(name: str) -> np.ndarray:
    """Matrix of a parameter-free gate, from PennyLane."""
    return qml.math.toarray(getattr(qml, name).compute_matrix())


# --------------------------------------------------------------------------- gates on all basis states


def basis_index(axes, n: int) -> np.ndarray:
    """For every basis state of ``n`` qubits, the index of its bits on ``axes`` (in that order)."""
    x = np.arange(2**n)
    sub = np.zeros_like(x)
    for a in axes:
        sub = (sub << 1) | ((x >> (n - 1 - a)) & 1)
    return sub


def lift_monomial(name: str, axes: tuple[int, ...], n: int):
    """Row-wise form of a constant monomial gate on the full space.

    Returns ``(src, fac)`` with ``(U psi)[x] = fac[x] * psi[src[x]]``.
    """
    mat = fixed_matrix(name)
    k = len(axes)
    small_src = np.argmax(np.abs(mat) > 1e-12, axis=1)
    small_fac = mat[np.arange(2**k), small_src]
    x = np.arange(2**n)
    sub = basis_index(axes, n)
    new_sub = small_src[sub]
    src = x.copy()
    for j, a in enumerate(axes):
        s = n - 1 - a
        bit = (new_sub >> (k - 1 - j)) & 1
        src = (src & ~(1 << s)) | (bit << s)
    return src, small_fac[sub]


def diag_generator(name: str, k: int) -> np.ndarray:
    """Real vector g with diag(gate(theta)) = exp(i * theta * g) on the gate's wires."""
    if name in ("IsingZZ", "MultiRZ"):
        parity = np.array([bin(i).count("1") % 2 for i in range(2**k)])
        return -0.5 * (1 - 2 * parity)
    if name == "ControlledPhaseShift":
        return np.array([0.0, 0.0, 0.0, 1.0])
    if name == "CRZ":
        return np.array([0.0, 0.0, -0.5, 0.5])
    raise AssertionError(name)


def lift_diag(vec: np.ndarray, axes: tuple[int, ...], n: int) -> np.ndarray:
    """Vector on the gate's wires -> vector on all 2**n basis states."""
    return vec[basis_index(axes, n)]


def parity_signs(axes, n: int) -> np.ndarray:
    """(-1)^(parity of the bits on ``axes``) for every basis state: the diagonal of Z...Z."""
    x = np.arange(2**n)
    parity = np.zeros_like(x)
    for a in axes:
        parity ^= (x >> (n - 1 - a)) & 1
    return 1 - 2 * parity


# --------------------------------------------------------------------------- applying a small matrix


_LETTERS = "cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def apply_small_matrix(mat, axes, state, n):
    """Apply a [2^k, 2^k] (or [B, 2^k, 2^k]) matrix on the given qubit axes of a [rows, 2**n] state."""
    k = len(axes)
    rows = state.shape[0]
    assert n + k <= len(_LETTERS), "too many qubits for the einsum path"
    state_idx = list(_LETTERS[:n])
    out_idx = list(state_idx)
    new = _LETTERS[n : n + k]
    for j, a in enumerate(axes):
        out_idx[a] = new[j]
    in_sub = "".join(state_idx[a] for a in axes)
    batched = mat.dim() == 3
    mat = mat.reshape(([mat.shape[0]] if batched else []) + [2] * (2 * k))
    mat_sub = ("b" if batched else "") + new + in_sub
    if batched and rows != mat.shape[0]:
        state = state.expand(mat.shape[0], -1)
        rows = mat.shape[0]
    spec = f"{mat_sub},b{''.join(state_idx)}->b{''.join(out_idx)}"
    out = torch.einsum(spec, mat, state.reshape([rows] + [2] * n))
    return out.reshape(rows, 2**n)

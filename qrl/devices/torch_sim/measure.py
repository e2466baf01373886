"""Measurements on a final ``[rows, 2**n]`` state: expectation values, variances, probabilities.

Expectation values of Pauli words and of sums of them are computed from ``|psi|^2``
(Z words) or ``conj(psi) * flip(psi)`` (words with X/Y) against +-1 sign vectors; no
observable matrix is built. Other observables act through their own matrix on at
most three wires; a SparseHamiltonian through one sparse-dense product.

**Example**

>>> import torch
>>> from qrl.devices.torch_sim.simulator import Simulator
>>> state = torch.tensor([[0.6, 0.8, 0.0, 0.0]], dtype=torch.complex128)  # 0.6|00> + 0.8|01>
>>> measure = Measurer(Simulator(torch.complex128), state, n=2, axis={0: 0, 1: 1})
>>> round(float(measure.expval(qml.Z(1))[0]), 4)
-0.28
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pennylane as qml
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, StateMP, VarianceMP

from qrl.devices.torch_sim.gates import apply_small_matrix, as_tensor, parity_signs


class Measurer:
    """Measurement processes on a final state [rows, 2**n]; each result keeps the rows dimension.

    Args:
        sim: the :class:`~qrl.devices.torch_sim.simulator.Simulator` (dtypes and caches).
        state: the state, ``[rows, 2**n]``.
        n: number of qubits.
        axis: wire label -> qubit axis.
        batched: whether the circuit was broadcast (only matters for state measurements
            PennyLane post-processes itself).
    """

    def __init__(self, sim, state, n, axis, batched: bool = True):
        self.sim = sim
        self.state = state
        self.n = n
        self.axis = axis
        self.batched = batched
        self._probs = None

    @property
    def probs(self):
        if self._probs is None:
            self._probs = self.state.real**2 + self.state.imag**2
        return self._probs

    def __call__(self, mp):
        if type(mp) is StateMP:
            return self.state
        if isinstance(mp, ExpectationMP):
            return self.expval(mp.obs)
        if isinstance(mp, VarianceMP):
            return self.var(mp.obs)
        if isinstance(mp, ProbabilityMP):
            return self.marginal_probs(mp)
        # another state measurement: its own post-processing of the (batched) state vector
        wire_order = qml.wires.Wires(list(self.axis))
        if self.batched:
            return mp.process_state(self.state, wire_order)
        return [mp.process_state(self.state[0], wire_order)]  # the caller takes element 0

    # Pauli sentences ----------------------------------------------------------------

    def pauli_expval(self, sentence) -> torch.Tensor:
        """sum_w c_w <psi|P_w|psi> grouped by the X/Y flip pattern of each word."""
        groups: dict[tuple, list] = {}
        for word, coeff in sentence.items():
            flips = tuple(sorted(self.axis[w] for w, p in word.items() if p in "XY"))
            groups.setdefault(flips, []).append((word, coeff))
        rows = self.state.shape[0]
        total = None
        for flips, terms in groups.items():
            signs, weights = [], []
            for word, coeff in terms:
                zaxes = tuple(sorted(self.axis[w] for w, p in word.items() if p in "YZ"))
                n_y = sum(1 for p in word.values() if p == "Y")
                signs.append(self.sim.signs(self.n, zaxes))
                weights.append(_scale(coeff, (-1j) ** n_y))
            # sums over 2**n amplitudes accumulate in float64: in float32 they lose ~1e-5
            sign_mat = torch.stack(signs, -1)  # [N, T], float64
            if flips:
                nd = self.state.reshape([rows] + [2] * self.n)
                flipped = torch.flip(nd, [a + 1 for a in flips]).reshape(rows, -1)
                overlap = (self.state.conj() * flipped).to(torch.complex128)
                vals = overlap @ sign_mat.to(torch.complex128)  # [rows, T]
            else:
                vals = self.probs.to(torch.float64) @ sign_mat
            part = _weighted_sum(vals, weights, torch.float64).to(self.sim.r_dtype)
            total = part if total is None else total + part
        if total is None:
            return torch.zeros(rows, dtype=self.sim.r_dtype)
        return total

    def expval(self, obs) -> torch.Tensor:
        if obs.pauli_rep is not None:
            return self.pauli_expval(obs.pauli_rep)
        if isinstance(obs, qml.SparseHamiltonian):
            return self.sparse_expval(obs)
        if isinstance(obs, qml.ops.Sum):
            return reduce(torch.add, (self.expval(o) for o in obs.operands))
        if isinstance(obs, qml.ops.SProd):
            return self.sim.real(obs.scalar) * self.expval(obs.base)
        applied = self._apply_obs(obs)
        return torch.sum(self.state.conj() * applied, dim=1).real

    def sparse_expval(self, obs) -> torch.Tensor:
        """<psi|H|psi> for a SparseHamiltonian: one sparse-dense product, no dense matrix."""
        coo = obs.sparse_matrix(wire_order=list(self.axis)).tocoo()
        index = torch.as_tensor(np.stack([coo.row, coo.col]), dtype=torch.long)
        h = torch.sparse_coo_tensor(index, torch.as_tensor(coo.data).to(torch.complex128), coo.shape)
        psi = self.state.to(torch.complex128)
        h_psi = torch.sparse.mm(h, psi.T).T
        return torch.sum(psi.conj() * h_psi, dim=1).real.to(self.sim.r_dtype)

    def var(self, obs) -> torch.Tensor:
        if obs.pauli_rep is not None:
            square = obs.pauli_rep @ obs.pauli_rep
            return self.pauli_expval(square) - self.pauli_expval(obs.pauli_rep) ** 2
        applied = self._apply_obs(obs)
        mean = torch.sum(self.state.conj() * applied, dim=1).real
        return torch.sum(applied.real**2 + applied.imag**2, dim=1) - mean**2

    def _apply_obs(self, obs):
        axes = tuple(self.axis[w] for w in obs.wires)
        return apply_small_matrix(as_tensor(obs.matrix(), self.sim.c_dtype), axes, self.state, self.n)

    # probabilities ---------------------------------------------------------------

    def marginal_probs(self, mp) -> torch.Tensor:
        wires = mp.wires if len(mp.wires) else qml.wires.Wires(list(self.axis))
        probs = self.probs
        if mp.obs is not None:
            state = self.state
            for op in mp.obs.diagonalizing_gates():
                axes = tuple(self.axis[w] for w in op.wires)
                state = apply_small_matrix(as_tensor(op.matrix(), state.dtype), axes, state, self.n)
            probs = state.real**2 + state.imag**2
        rows = probs.shape[0]
        axes = [self.axis[w] for w in wires]
        nd = probs.reshape([rows] + [2] * self.n)
        others = [a + 1 for a in range(self.n) if a not in axes]
        if others:
            nd = nd.sum(dim=others)
        kept = sorted(axes)
        nd = nd.permute([0] + [1 + kept.index(a) for a in axes])
        return nd.reshape(rows, 2 ** len(axes))


def _scale(coeff, phase):
    """coeff * phase, with a python phase folded in (stays differentiable for tensors)."""
    if phase == 1:
        return coeff
    return coeff * phase


def _weighted_sum(vals, weights, r_dtype) -> torch.Tensor:
    """Re(vals @ weights) for a mix of python numbers and (trainable) tensors."""
    complex_w = any(
        (isinstance(w, torch.Tensor) and w.is_complex()) or isinstance(w, complex)
        or (isinstance(w, np.ndarray) and np.iscomplexobj(w))
        for w in weights
    )
    if complex_w or vals.is_complex():
        c_dtype = torch.complex64 if r_dtype == torch.float32 else torch.complex128
        w = torch.stack([
            w.to(c_dtype) if isinstance(w, torch.Tensor) else torch.tensor(complex(w), dtype=c_dtype)
            for w in weights
        ])
        return (vals.to(c_dtype) @ w).real
    w = torch.stack([
        w.to(r_dtype) if isinstance(w, torch.Tensor) else torch.tensor(float(w), dtype=r_dtype)
        for w in weights
    ])
    return vals @ w


def z_expval_table(measurements, axis, n: int) -> torch.Tensor | None:
    """A float64 [2**n, M] table with ``<O_m> = |psi|^2 @ table[:, m]``, or None.

    Applies when every measurement is the expectation value of a sum of Z words with
    constant coefficients (e.g. ``Z0 Z1``, ``0.5 Z0 - Z2``): then all of them come out
    of one product with the probabilities, instead of one pass per word.
    """
    columns = []
    for mp in measurements:
        if type(mp) is not ExpectationMP or mp.obs is None or mp.obs.pauli_rep is None:
            return None
        column = np.zeros(2**n)
        for word, coeff in mp.obs.pauli_rep.items():
            if any(p != "Z" for p in word.values()) or isinstance(coeff, torch.Tensor) \
                    or np.iscomplexobj(coeff) and np.imag(coeff) != 0:
                return None
            column += float(np.real(coeff)) * parity_signs(tuple(axis[w] for w in word), n)
        columns.append(column)
    return torch.as_tensor(np.stack(columns, -1), dtype=torch.float64)

"""The torch statevector simulator shared by the ``qrl.torch`` device and its compiled circuits.

A :class:`Simulator` owns the dtypes, the fusion switch and the caches (plans per
circuit structure, constant gate matrices and sign vectors). It executes a
:class:`~qrl.devices.torch_sim.plan.Plan` on a ``[rows, 2**n]`` state:

* :class:`~.plan.FusedGate`: one (batched) 2x2 matrix on one qubit, as a ``matmul``
  on the ``[rows, 2**a, 2, 2**(n-a-1)]`` view of the state;
* :class:`~.plan.Block`: one gather and/or one multiply by a phase vector;
* :class:`~.plan.MatrixGate`: an einsum with the gate's own small matrix;
* :class:`~.plan.GlobalPhase`: one multiply.

The state starts as one row; it gains the batch dimension at the first broadcast
gate, so the unbroadcast gates before it act on a single row.

**Example**

>>> import pennylane as qml, torch
>>> sim = Simulator(torch.complex128)
>>> tape = qml.tape.QuantumScript([qml.Hadamard(0), qml.CNOT([0, 1])], [qml.probs(wires=[0, 1])])
>>> sim.simulate(tape, tape.wires)[0].round(decimals=3)
tensor([0.5000, 0.0000, 0.0000, 0.5000], dtype=torch.float64)
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from pennylane.operation import StatePrepBase

from qrl.devices.torch_sim.gates import (ANGLE_KINDS, ROTATION_BUILDERS, ROTATIONS, apply_small_matrix, as_tensor,
                                         diag_generator, fixed_matrix, lift_diag, lift_monomial, mul2x2,
                                         op_batch_size, parity_signs, rot)
from qrl.devices.torch_sim.measure import Measurer
from qrl.devices.torch_sim.plan import Block, FusedGate, GlobalPhase, Layer, LayeredPlan, MatrixGate, Plan, build_plan

PLAN_CACHE_SIZE = 64
# Cached constants must be normal tensors even when first made under torch.inference_mode
# (acting), or autograd could not save them for a later training step.
def _normal_tensors():
    return torch.inference_mode(False)


class Simulator:
    """Batched statevector simulation in torch, differentiable by autograd.

    Args:
        c_dtype: ``torch.complex64`` or ``torch.complex128`` (real results use the
            matching float dtype).
        fuse: fuse consecutive single-qubit gates on a wire into one matrix.
    """

    def __init__(self, c_dtype: torch.dtype = torch.complex64, fuse: bool = True):
        assert c_dtype in (torch.complex64, torch.complex128), c_dtype
        self.c_dtype = c_dtype
        self.r_dtype = torch.float32 if c_dtype == torch.complex64 else torch.float64
        self.fuse = bool(fuse)
        self._plans: OrderedDict = OrderedDict()
        self._consts: dict = {}

    # ------------------------------------------------------------ small helpers and caches

    def real(self, p) -> torch.Tensor:
        """A gate parameter as a real tensor of the simulator's float dtype."""
        if isinstance(p, torch.Tensor):
            return p.to(self.r_dtype)
        return torch.as_tensor(np.asarray(p, dtype=np.float64), dtype=self.r_dtype)

    def signs(self, n: int, axes) -> torch.Tensor:
        """The float64 diagonal of Z on ``axes`` over all ``2**n`` basis states (cached)."""
        key = ("signs", n, axes)
        if key not in self._consts:
            with _normal_tensors():
                self._consts[key] = torch.as_tensor(parity_signs(axes, n)).to(torch.float64)
        return self._consts[key]

    def fixed_matrix(self, name: str) -> torch.Tensor:
        """The matrix of a parameter-free gate in the state's dtype (cached)."""
        key = (name, self.c_dtype)
        if key not in self._consts:
            with _normal_tensors():
                self._consts[key] = torch.as_tensor(fixed_matrix(name)).to(self.c_dtype)
        return self._consts[key]

    def plan(self, ops, axes_of, batched, n: int, start: int = 0) -> Plan:
        """The (cached) plan of a circuit structure."""
        key = (n, start, self.fuse, tuple((op.name, axes_of[i], batched[i]) for i, op in enumerate(ops)))
        plan = self._plans.get(key)
        if plan is None:
            with _normal_tensors():
                plan = build_plan(ops, axes_of, batched, n, self.fuse, start)
            self._plans[key] = plan
            if len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def initial_state(self, n: int, prep=None, wire_order=None) -> torch.Tensor:
        """``|0...0>`` as one row ``[1, 2**n]``, or the vector of a state preparation ``[rows, 2**n]``."""
        if prep is not None:
            vec = as_tensor(prep.state_vector(wire_order=wire_order), self.c_dtype)
            return vec.reshape(-1, 2**n)
        key = ("zero", n, self.c_dtype)
        if key not in self._consts:
            with _normal_tensors():
                state = torch.zeros(1, 2**n, dtype=self.c_dtype)
                state[0, 0] = 1
            self._consts[key] = state
        return self._consts[key]

    # ------------------------------------------------------------ whole tapes

    def simulate(self, tape, wire_order) -> tuple:
        """Results of every measurement of ``tape`` as torch tensors (batch dim only when broadcast)."""
        axis = {w: i for i, w in enumerate(wire_order)}
        n = len(wire_order)
        ops = tape.operations
        op_batches = [op_batch_size(op) for op in ops]
        batch = next((b for b in op_batches if b is not None), None)
        start = 1 if ops and isinstance(ops[0], StatePrepBase) else 0
        state = self.initial_state(n, ops[0] if start else None, wire_order)
        axes_of = [tuple(axis[w] for w in op.wires) for op in ops]
        plan = self.plan(ops, axes_of, [b is not None for b in op_batches], n, start)
        state = self.run(plan, ops, state, n, batch)
        return self.measure(state, n, axis, batch, tape.measurements)

    def measure(self, state, n: int, axis: dict, batch, measurements) -> tuple:
        """Each measurement on the final state; without a batch the rows dimension is dropped."""
        rows = batch or 1
        if state.shape[0] != rows:  # no broadcast gate touched it
            state = state.expand(rows, -1)
        zero = self._consts.get(("zero", n, self.c_dtype))
        if zero is not None and state.data_ptr() == zero.data_ptr():
            state = state.clone()  # results never alias the cached initial state
        measure = Measurer(self, state, n, axis, batch is not None)
        results = tuple(measure(mp) for mp in measurements)
        if batch is None:
            results = tuple(r[0] for r in results)
        return results

    # ------------------------------------------------------------ running a plan

    def run(self, plan: Plan, ops, state, n: int, batch, angles=None) -> torch.Tensor:
        """Apply the plan's steps to ``state``; ``ops`` are operations or :class:`Gate` records.

        ``angles`` (from a compiled circuit) maps each rotation kind of the plan to its
        stacked parameters; without it they are read from ``ops``.
        """
        fused = self.fused_matrices(plan, ops, batch, angles)
        for step in plan.steps:
            rows = state.shape[0]
            if type(step) is FusedGate:
                a = step.axis
                u = fused[step.group]
                view = state.view(rows, 2**a, 2, 2 ** (n - a - 1))
                if u.dim() == 3:
                    if rows != u.shape[0]:
                        view = view.expand(u.shape[0], -1, -1, -1)
                        rows = u.shape[0]
                    view = torch.matmul(u.unsqueeze(1), view)  # [b, 1, 2, 2] @ [b, A, 2, C]
                else:
                    view = torch.matmul(u, view)
                state = view.reshape(rows, 2**n)
            elif type(step) is Block:
                state = self.apply_block(plan, step, ops, state, n, batch)
            elif type(step) is MatrixGate:
                mat = as_tensor(ops[step.op].matrix(), self.c_dtype)
                state = apply_small_matrix(mat, step.axes, state, n)
            else:
                assert type(step) is GlobalPhase, step
                phi = self.real(ops[step.op].data[0])
                phase = torch.complex(torch.cos(phi), -torch.sin(phi)).to(self.c_dtype)
                state = state * phase.reshape(-1, 1)
        return state

    # single-qubit matrices --------------------------------------------------------

    def _stack(self, values, batch):
        """Stack gate parameters into [G] or, when any is broadcast, [G, batch]."""
        tensors = [self.real(v) for v in values]
        if batch is not None and any(t.dim() for t in tensors):
            tensors = [t.expand(batch) for t in tensors]
        return torch.stack(tensors)

    def single_matrices(self, plan: Plan, ops, batch, angles=None):
        """Matrices of all single-qubit gates in the plan's row order: ``(fixed [Ku, 2, 2],
        broadcast [Kb, batch, 2, 2])``, either None when there are none."""
        parts = []
        for (kind, batched), rows in plan.kinds.items():
            idx = [plan.single_ops[r] for r in rows]
            size = batch if batched else None
            if angles is not None and kind in ANGLE_KINDS:
                params = angles[(kind, batched)]
            elif kind in ANGLE_KINDS:
                params = [self._stack([ops[i].data[j] for i in idx], size)
                          for j in range(3 if kind == "Rot" else 1)]
            if kind == "Rot":
                mats = rot(*params)
            elif kind in ROTATIONS:
                mats = ROTATION_BUILDERS[kind](params[0])
            elif kind == "fixed":
                mats = torch.stack([self.fixed_matrix(ops[i].name) for i in idx])
            else:
                mats = [as_tensor(ops[i].matrix(), self.c_dtype) for i in idx]
                if batched:
                    mats = [m.expand(batch, 2, 2) for m in mats]
                mats = torch.stack(mats)
            parts.append(mats.to(self.c_dtype))
        flags = [batched for _, batched in plan.kinds]
        fixed = [p for p, f in zip(parts, flags) if not f]
        broadcast = [p for p, f in zip(parts, flags) if f]
        return (torch.cat(fixed) if fixed else None,
                torch.cat(broadcast) if broadcast else None)

    def fused_matrices(self, plan: Plan, ops, batch, angles=None):
        """One matrix per fused group: [2, 2], or [batch, 2, 2] if any gate is broadcast."""
        if not plan.single_ops:
            return []
        fixed, broadcast = self.single_matrices(plan, ops, batch, angles)
        prods = {True: [], False: []}
        for flag, idx in plan.run_fusion:
            mats = broadcast if flag else fixed
            prod = mats.index_select(0, idx[0])
            for j in range(1, idx.shape[0]):
                prod = mul2x2(mats.index_select(0, idx[j]), prod)
            prods[flag].append(prod)
        run_b = torch.cat(prods[True]) if prods[True] else None
        run_u = torch.cat(prods[False]) if prods[False] else None
        fused: list = [None] * len(plan.groups)
        unbound = {True: run_b.unbind(0) if run_b is not None else (),
                   False: run_u.unbind(0) if run_u is not None else ()}
        for g, flag, pos in plan.single_run:
            fused[g] = unbound[flag][pos]
        if plan.mixed:
            parts = [run_b] + ([run_u.unsqueeze(1).expand(-1, batch, 2, 2)] if run_u is not None else [])
            runs = torch.cat(parts)
            for idx, gids in plan.mixed:
                prod = runs.index_select(0, idx[0])
                for j in range(1, idx.shape[0]):
                    prod = mul2x2(runs.index_select(0, idx[j]), prod)
                for g, mat in zip(gids, prod.unbind(0)):  # unbind: one backward node
                    fused[g] = mat
        return fused

    # multi-qubit gates ------------------------------------------------------------

    def block_tensors(self, plan: Plan, block: Block, n: int):
        """``(gather index or None, phase vector or None, generators [G, 2**n] or None)`` of a block."""
        key = (id(block), self.c_dtype)
        cached = plan.tensors.get(key)
        if cached is not None:
            return cached
        with _normal_tensors():
            plan.tensors[key] = self._block_tensors(block, n)
        return plan.tensors[key]

    def _block_tensors(self, block: Block, n: int):
        src = np.arange(2**n)
        fac = np.ones(2**n, dtype=np.complex128)
        for name, axes in block.const:
            g_src, g_fac = lift_monomial(name, axes, n)
            # (G (prev psi))[x] = g_fac[x] * fac[g_src[x]] * psi[src[g_src[x]]]
            fac = g_fac * fac[g_src]
            src = src[g_src]
        src_t = None if np.array_equal(src, np.arange(2**n)) else torch.as_tensor(src)
        fac_t = None if np.allclose(fac, 1.0) else torch.as_tensor(fac).to(self.c_dtype)
        gen_t = None
        if block.params:
            gens = [lift_diag(diag_generator(name, len(axes)), axes, n) for _, name, axes in block.params]
            gen_t = torch.as_tensor(np.stack(gens)).to(self.r_dtype)
        return src_t, fac_t, gen_t

    def apply_block(self, plan, block: Block, ops, state, n, batch):
        src, fac, gen = self.block_tensors(plan, block, n)
        if src is not None:
            state = state.index_select(1, src)
        if fac is not None:
            state = state * fac
        if gen is not None:
            theta = self._stack([ops[i].data[0] for i, _, _ in block.params], batch)
            angle = theta.transpose(0, -1) @ gen if theta.dim() == 2 else theta @ gen
            state = state * torch.complex(torch.cos(angle), torch.sin(angle))
        return state

    # ------------------------------------------------------------ layered plans (compiled circuits)

    def _layered_consts(self, lp: LayeredPlan, flag: bool):
        """Index tensors and Pauli matrices of a layered plan, built once per dtype."""
        key = (flag, self.c_dtype)
        if key not in lp.tensors:
            with _normal_tensors():
                lp.tensors[key] = self._build_layered_consts(lp, flag)
        return lp.tensors[key]

    def _build_layered_consts(self, lp: LayeredPlan, flag: bool):
        paulis = {"X": [[0, 1], [1, 0]], "Y": [[0, -1j], [1j, 0]], "Z": [[1, 0], [0, -1]]}
        minus_i_p = torch.as_tensor(np.array([paulis[p] for p in lp.paulis[flag]], dtype=np.complex128) * -1j)
        runs = lp.runs[flag]
        by_len: dict[int, list[int]] = {}
        for r, run in enumerate(runs):
            by_len.setdefault(len(run), []).append(r)
        products, row_of = [], {}
        for length, rids in sorted(by_len.items()):
            products.append(torch.tensor([[runs[r][j] for r in rids] for j in range(length)]))
            for r in rids:
                row_of[r] = len(row_of)
        identity_row = len(runs)
        n = lp.n
        layers = [item for item in lp.items if type(item) is Layer and item.broadcast == flag]
        table = torch.tensor([[row_of[layer.runs[a]] if a in layer.runs else identity_row for a in range(n)]
                              for layer in layers]).reshape(-1)
        eye = torch.eye(2, dtype=self.c_dtype)
        return minus_i_p.to(self.c_dtype), products, table, eye

    def layer_matrices(self, lp: LayeredPlan, angles: torch.Tensor, flag: bool) -> list[torch.Tensor]:
        """The chunk matrices of every layer with this flag, layer-major: [D, D] or [batch, D, D] each.

        ``angles`` are the packed parameters: fixed [P] or broadcast [batch, Q].
        """
        minus_i_p, products, table, eye = self._layered_consts(lp, flag)
        n, c = lp.n, lp.chunk
        shape = (*angles.shape, 1, 1)
        half = (angles * 0.5).view(shape)
        mats = torch.cos(half) * eye + torch.sin(half) * minus_i_p  # [(batch,) params, 2, 2]
        dim = mats.dim() - 3  # the parameter axis
        prods = []
        for idx in products:
            prod = mats.index_select(dim, idx[0])
            for j in range(1, idx.shape[0]):
                prod = mul2x2(mats.index_select(dim, idx[j]), prod)
            prods.append(prod)
        ident = eye.expand(*mats.shape[:dim], 1, 2, 2)
        runs = torch.cat(prods + [ident], dim)
        if c == n:  # one chunk: the state is a row vector and takes the transposed matrices
            runs = runs.transpose(-1, -2)
        per_qubit = runs.index_select(dim, table).unflatten(dim, (-1, n // c, c))  # [(B,) L, C, c, 2, 2]
        factors = per_qubit.unbind(-3)
        lead = factors[0].shape[:-2]
        kron, d = factors[0], 2
        for right in factors[1:]:  # kron[(i k), (j l)] = kron[i, j] * right[k, l]
            kron = (kron.reshape(*lead, d, 1, d, 1) * right.reshape(*lead, 1, 2, 1, 2)).reshape(*lead, 2 * d, 2 * d)
            d *= 2
        if dim:  # broadcast: [B, L, C, D, D] -> layer-major list of [B, D, D]
            kron = kron.movedim(0, -3)
        return list(kron.flatten(0, 1).unbind(0))

    def run_layered(self, lp: LayeredPlan, fixed_mats, broadcast_mats, n: int, batch) -> torch.Tensor:
        """Run a layered plan from ``|0...0>`` with the chunk matrices of :meth:`layer_matrices`."""
        state = self.initial_state(n)
        c = lp.chunk
        n_chunks = n // c
        d = 2**c
        for item in lp.items:
            if type(item) is Block:
                state = self.apply_block(lp, item, None, state, n, batch)
                continue
            if n_chunks == 1:  # whole-register matrices (transposed): one product per layer
                u_t = (broadcast_mats if item.broadcast else fixed_mats)[item.index]
                state = (state.unsqueeze(-1) * u_t).sum(-2) if item.broadcast else state @ u_t
                continue
            mats = broadcast_mats if item.broadcast else fixed_mats
            touched = {a // c for a in item.runs}
            for k in range(n_chunks):
                if k not in touched:
                    continue
                u = mats[item.index * n_chunks + k]
                rows = state.shape[0]
                view = state.view(rows, 2 ** (k * c), d, 2 ** (n - (k + 1) * c))
                if item.broadcast:
                    if rows != u.shape[0]:
                        view = view.expand(u.shape[0], -1, -1, -1)
                        rows = u.shape[0]
                    view = torch.matmul(u.unsqueeze(1), view)
                else:
                    view = torch.matmul(u, view)
                state = view.reshape(rows, 2**n)
        return state

    def measure_z_table(self, state: torch.Tensor, table: torch.Tensor, batch, split: bool = True):
        """Expectation values from a :func:`~.measure.z_expval_table`: one product for all of them.

        Returns one tensor per measurement, or (``split=False``) one ``[batch, M]`` tensor.
        """
        probs = torch.view_as_real(state).square().sum(-1)
        if table.dtype == probs.dtype:
            vals = probs @ table
        else:  # large registers: sums over 2**n amplitudes accumulate in float64
            vals = (probs.to(table.dtype) @ table).to(self.r_dtype)
        if batch is None:
            vals = vals[0]
        elif vals.shape[0] != batch:
            vals = vals.expand(batch, -1)
        return vals if not split else tuple(vals.unbind(-1))

"""Compiled circuits: one circuit structure as a function of its gate parameters.

A :class:`CompiledCircuit` keeps what a call of the device would rebuild every time
(the preprocessed tape's structure, its plan, where each parameter goes) and runs the
same :class:`~qrl.devices.torch_sim.simulator.Simulator` as the device on new angles.
Made by :meth:`qrl.devices.torch_device.TorchStatevectorDevice.compile`.

**Example**

>>> import math, pennylane as qml, torch
>>> from qrl.devices.torch_sim.simulator import Simulator
>>> tape = qml.tape.QuantumScript([qml.RX(0.0, 0)], [qml.expval(qml.Z(0))])
>>> circuit = CompiledCircuit(Simulator(torch.complex128), tape, tape.wires)
>>> round(float(circuit([torch.tensor(math.pi)])[0]), 4)
-1.0
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from qrl.devices.torch_sim.gates import ANGLE_KINDS, FIXED_1Q, op_batch_size
from qrl.devices.torch_sim.measure import z_expval_table
from qrl.devices.torch_sim.plan import LAYERED_MAX_AMPLITUDES, MatrixGate, build_layered_plan, build_plan


class Gate:
    """The parts of an operation the simulation reads: name, parameters and (rarely) matrix."""

    __slots__ = ("name", "data", "_template")

    def __init__(self, name: str, data, template=None):
        self.name, self.data, self._template = name, data, template

    def matrix(self):
        """The matrix of the compiled operation with this call's parameters."""
        op = self._template
        return (qml.ops.functions.bind_new_parameters(op, self.data) if self.data else op).matrix()


class CompiledCircuit:
    """One circuit structure of the ``qrl.torch`` device, as a function of its gate parameters.

    Two ways to call it, both giving the measurement results as torch tensors with
    gradients through autograd:

    * ``circuit(params)``: the flat list of gate parameters in tape order (the
      ``data`` of each operation of the preprocessed tape, in turn);
    * ``circuit.packed(fixed, broadcast)``: the same parameters packed into two
      tensors, ``fixed`` [P] (the unbroadcast ones, in tape order) and ``broadcast``
      [batch, Q] (one column per broadcast parameter, in tape order). A model that
      can produce its angles this way (e.g. ``weights.reshape(-1)``) skips all
      per-gate tensor handling; :meth:`pack` converts a flat list for checking.
      Only circuits whose gate parameters are all scalars pack (``packable``).

    Broadcast parameters must sit where the compiled tape had them; the batch size
    may change from call to call.

    Args:
        simulator: the simulator that runs it (the device's).
        tape: a preprocessed tape (no state preparation, no parametrised observables).
        wire_order: the device's wires (or the tape's when the device has none).

    Attributes:
        n_params: number of gate parameters a call takes.
        traced_parameters: the gate parameters of the compiled tape, in order.
        packable: whether :meth:`packed` applies.
    """

    @torch.inference_mode(False)  # its index tensors and tables outlive an acting call
    def __init__(self, simulator, tape, wire_order):
        self.simulator = simulator
        ops = tape.operations
        self._axis = {w: i for i, w in enumerate(wire_order)}
        self._n = len(wire_order)
        batched = [op_batch_size(op) is not None for op in ops]
        axes_of = [tuple(self._axis[w] for w in op.wires) for op in ops]
        plan = build_plan(ops, axes_of, batched, self._n, simulator.fuse, 0)
        self._plan = plan
        # gates applied from their own matrix keep their operation as a template
        generic = {step.op for step in plan.steps if type(step) is MatrixGate}
        generic.update(plan.single_ops[r] for (kind, _), rows in plan.kinds.items()
                       if kind == "generic" for r in rows)
        self._templates = {i: ops[i] for i in generic}
        self._names = [op.name for op in ops]
        self._arity = [len(op.data) for op in ops]
        self._measurements = list(tape.measurements)
        self.traced_parameters = [d for op in ops for d in op.data]
        self.n_params = len(self.traced_parameters)

        # where each parameter lives when packed: (broadcast?, column or index); only
        # scalar parameters (1-D when broadcast) pack
        batched_op = [b for b, m in zip(batched, self._arity) for _ in range(m)]
        ndims = [getattr(p, "ndim", 0) for p in self.traced_parameters]
        flags = [b and d >= 1 for b, d in zip(batched_op, ndims)]
        self.packable = all(d == int(f) for d, f in zip(ndims, flags))
        self._slots, counts = [], {True: 0, False: 0}
        for flag in flags:
            self._slots.append((flag, counts[flag]))
            counts[flag] += 1
        self._n_fixed, self._n_broadcast = counts[False], counts[True]
        self._first_batched = flags.index(True) if any(flags) else None
        op_start = np.cumsum([0] + self._arity).tolist()
        # rotation kinds read their angles with one index_select per parameter position
        self._kind_index = {}
        for (kind, flag), rows in plan.kinds.items():
            if kind not in ANGLE_KINDS:
                continue
            cols = []
            for j in range(3 if kind == "Rot" else 1):
                slots = [self._slots[op_start[plan.single_ops[r]] + j] for r in rows]
                cols.append((torch.tensor([pos for _, pos in slots]), [f for f, _ in slots]))
            self._kind_index[(kind, flag)] = cols
        # other gates the simulation reads (fixed 1-qubit gates, diagonal blocks, global
        # phase, gates applied from their matrix)
        self._data_ops = [i for i, name in enumerate(self._names) if name in FIXED_1Q
                          or i in self._templates or (self._arity[i] and name not in ANGLE_KINDS)]
        self._op_start = op_start
        # circuits of RX/RY/RZ and constant CZ/CNOT-like gates run as dense layers
        self._layered = build_layered_plan(plan, ops, {i: self._slots[op_start[i]] for i, m in enumerate(
            self._arity) if m == 1}, self._n) if self.packable else None
        self._z_table = z_expval_table(self._measurements, self._axis, self._n)
        if self._z_table is not None and self._n <= 10:
            # up to 2**10 terms a float32 sum stays well inside complex64's 1e-5: no float64 pass
            self._z_table = self._z_table.to(simulator.r_dtype)
        self._fixed_cache = None  # (fixed angles, their layer matrices), used without autograd

    def _check_packable(self):
        if not self.packable:
            raise ValueError("this compiled circuit has non-scalar gate parameters and does not "
                             "pack; call it with the flat parameter list.")

    def pack(self, params) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flat tape-order parameters → ``(fixed [P], broadcast [batch, Q] or None)``."""
        self._check_packable()
        params = [torch.as_tensor(p, dtype=torch.float64) for p in params]
        fixed = [p for p, (flag, _) in zip(params, self._slots) if not flag]
        cols = [p for p, (flag, _) in zip(params, self._slots) if flag]
        fixed_t = torch.stack(fixed) if fixed else torch.zeros(0, dtype=torch.float64)
        return fixed_t, (torch.stack(cols, -1) if cols else None)

    def __call__(self, params) -> tuple:
        """Results of the circuit with these gate parameters (one tensor per measurement)."""
        if len(params) != self.n_params:
            raise ValueError(f"the compiled circuit takes {self.n_params} parameters; got {len(params)}.")
        gates = [Gate(name, params[start:start + m], self._templates.get(i))
                 for i, (name, m, start) in enumerate(zip(self._names, self._arity, self._op_start))]
        batch = None if self._first_batched is None else params[self._first_batched].shape[0]
        return self._simulate(gates, batch)

    def expvals(self, fixed: torch.Tensor, broadcast: torch.Tensor | None = None) -> torch.Tensor:
        """All results of a circuit that measures expectation values only, as one tensor.

        The same numbers as :meth:`packed`, stacked: ``[batch, n_measurements]`` (or
        ``[n_measurements]`` without broadcasting). For Z-word expectation values this
        skips splitting the one product that computes them all.
        """
        out = self._packed(fixed, broadcast, split=False)
        return out if isinstance(out, torch.Tensor) else torch.stack(out, -1)

    def packed(self, fixed: torch.Tensor, broadcast: torch.Tensor | None = None) -> tuple:
        """Results from packed parameters (see the class docstring)."""
        return self._packed(fixed, broadcast, split=True)

    def _packed(self, fixed, broadcast, split: bool):
        self._check_packable()
        if fixed.shape != (self._n_fixed,) or (self._n_broadcast and (
                broadcast is None or broadcast.dim() != 2 or broadcast.shape[1] != self._n_broadcast)):
            raise ValueError(f"the compiled circuit takes fixed [{self._n_fixed}] and broadcast "
                             f"[batch, {self._n_broadcast}] parameters; got {tuple(fixed.shape)} and "
                             f"{None if broadcast is None else tuple(broadcast.shape)}.")
        r_dtype = self.simulator.r_dtype
        fixed = fixed.to(r_dtype)
        batch = None
        if self._n_broadcast:
            broadcast = broadcast.to(r_dtype)
            batch = broadcast.shape[0]
        if self._layered is not None and (batch or 1) << self._n <= LAYERED_MAX_AMPLITUDES:
            return self._run_layered(fixed, broadcast, batch, split)
        angles = {}
        for key, cols in self._kind_index.items():
            params = []
            for idx, flags in cols:
                if not any(flags):
                    params.append(fixed.index_select(0, idx))
                elif all(flags):
                    params.append(broadcast.index_select(1, idx).T)
                else:  # a broadcast gate with some fixed parameters
                    params.append(torch.stack([
                        broadcast[:, k] if f else fixed[k].expand(batch) for k, f in zip(idx.tolist(), flags)]))
            angles[key] = params
        gates = [None] * len(self._names)
        for i in self._data_ops:
            start = self._op_start[i]
            gates[i] = Gate(self._names[i], [
                broadcast[:, pos] if flag else fixed[pos]
                for flag, pos in self._slots[start:start + self._arity[i]]], self._templates.get(i))
        return self._simulate(gates, batch, angles, split)

    def _run_layered(self, fixed, broadcast, batch, split: bool = True):
        sim, lp = self.simulator, self._layered
        if torch.is_grad_enabled():
            fixed_mats = sim.layer_matrices(lp, fixed, False)
        else:  # acting: the fixed layers stay valid until the angles change
            cached = self._fixed_cache
            if cached is None or not torch.equal(cached[0], fixed):
                cached = self._fixed_cache = (fixed.clone(), sim.layer_matrices(lp, fixed, False))
            fixed_mats = cached[1]
        broadcast_mats = sim.layer_matrices(lp, broadcast, True) if batch is not None else []
        state = sim.run_layered(lp, fixed_mats, broadcast_mats, self._n, batch)
        return self._measure(state, batch, split)

    def _simulate(self, gates, batch, angles=None, split: bool = True):
        sim = self.simulator
        state = sim.initial_state(self._n)
        state = sim.run(self._plan, gates, state, self._n, batch, angles)
        return self._measure(state, batch, split)

    def _measure(self, state, batch, split: bool = True):
        """The results: a tuple, or with ``split=False`` and a Z table one [batch, M] tensor."""
        if self._z_table is not None:
            return self.simulator.measure_z_table(state, self._z_table, batch, split=split)
        return self.simulator.measure(state, self._n, self._axis, batch, self._measurements)

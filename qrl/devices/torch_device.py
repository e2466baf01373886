"""``qrl.torch``: a batched torch statevector device for PennyLane.

The device keeps the state of ``n`` qubits as one torch tensor of shape
``[batch, 2**n]`` (viewed as ``[batch, 2, ..., 2]`` when a gate needs the qubit
axes), so a broadcast QNode call (inputs of shape ``[batch, n]``) is one simulation,
and gradients come from torch autograd (``diff_method="backprop"`` or ``"best"``).

What makes it fast, compared with ``default.qubit`` on the same circuit:

* Consecutive single-qubit gates on one wire are fused into one (batched) 2x2
  matrix before they touch the state; all their matrices are built in a few
  vectorised torch calls per gate type, not one call per gate.
* A run of constant permutation/phase gates (CZ ring, CNOT ladder, SWAP, Toffoli)
  becomes ONE gather and/or ONE elementwise multiply, precomputed per circuit
  structure; a run of diagonal gates (CZ, IsingZZ, MultiRZ, CRZ, controlled
  phases) becomes one phase vector ``exp(i * theta @ G)``.
* Expectation values of Pauli words and of sums of them are computed from
  ``|psi|^2`` (Z words) or ``conj(psi) * flip(psi)`` (words with X/Y) against
  +-1 sign vectors; no observable matrix is built.

No ``[2**n, 2**n]`` matrix is ever built: the largest objects are the state, a
few vectors of length ``2**n`` and gate matrices on at most three wires. Gates
outside the supported set are decomposed by PennyLane's ``decompose`` transform.
Results are analytic (exact); finite shots are refused.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections import OrderedDict
from dataclasses import replace
from functools import reduce

import numpy as np
import pennylane as qml
import torch
from scipy import sparse
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import decompose, validate_device_wires, validate_measurements
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, ProbabilityMP, StateMeasurement, StateMP, VarianceMP
from pennylane.operation import StatePrepBase
from pennylane.transforms.core import CompilePipeline, transform

DEVICE_NAME = "qrl.torch"

# Single-qubit gates whose matrices are built in vectorised torch code.
_ROTATIONS = ("RX", "RY", "RZ", "PhaseShift")
# Parameter-free single-qubit gates (matrix cached per dtype).
_FIXED_1Q = ("Identity", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX")
# Parameter-free multi-qubit gates that are a permutation times a phase.
_MONOMIAL = ("CNOT", "CZ", "CY", "SWAP", "ISWAP", "Toffoli", "CCZ", "CSWAP")
# One-parameter diagonal gates: diag = exp(i * theta * g), g a real vector.
_PARAM_DIAG = ("IsingZZ", "MultiRZ", "ControlledPhaseShift", "CRZ")
_SKIP = ("Barrier", "Snapshot")
_NATIVE = frozenset(_ROTATIONS + ("Rot",) + _FIXED_1Q + _MONOMIAL + _PARAM_DIAG + _SKIP)
_GENERIC_MAX_WIRES = 3  # other gates are applied from their own matrix up to this size

_PLAN_CACHE_SIZE = 64

SHOTS_ERROR = (
    "qrl.torch computes exact (analytic) results only and does not sample shots; "
    "remove shots from the QNode (qml.set_shots / shots=) or use default.qubit for sampling."
)


def _supported_op(op) -> bool:
    """Decompose-transform stopping condition: gates the device applies directly."""
    if op.name in _NATIVE:
        return True
    if op.name == "GlobalPhase":
        return True
    if op.name[:3] == "Pow" and any(qml.math.requires_grad(d) for d in op.data):
        return False
    return op.has_matrix and 0 < len(op.wires) <= _GENERIC_MAX_WIRES


_SCALAR_PARAMS = frozenset(_ROTATIONS + ("Rot", "GlobalPhase") + _PARAM_DIAG)


def _op_batch_size(op):
    """Broadcast size of an operation (None if not broadcast).

    Gates with scalar parameters are checked directly: ``op.batch_size`` re-validates
    every parameter and costs more than simulating a small circuit.
    """
    if op.name in _SCALAR_PARAMS:
        for d in op.data:
            if getattr(d, "ndim", 0) == 1:
                return d.shape[0]
        return None
    return op.batch_size


def _supported_observable(obs) -> bool:
    if obs.pauli_rep is not None or isinstance(obs, qml.SparseHamiltonian):
        return True
    if isinstance(obs, (qml.ops.Sum, qml.ops.SProd)):
        operands = obs.operands if isinstance(obs, qml.ops.Sum) else (obs.base,)
        return all(_supported_observable(o) for o in operands)
    return obs.has_matrix and len(obs.wires) <= _GENERIC_MAX_WIRES


def _supported_measurement(mp) -> bool:
    if type(mp) is StateMP:
        return True
    if isinstance(mp, ExpectationMP):
        return mp.obs is not None and _supported_observable(mp.obs)
    if isinstance(mp, VarianceMP):  # non-Pauli observables are squared as one small matrix
        return mp.obs is not None and (mp.obs.pauli_rep is not None or (
            mp.obs.has_matrix and len(mp.obs.wires) <= _GENERIC_MAX_WIRES))
    if isinstance(mp, ProbabilityMP):
        return mp.mv is None and (mp.obs is None or mp.obs.has_diagonalizing_gates)
    # any other measurement of the state (e.g. purity, user-defined ones) reads the state vector
    return isinstance(mp, StateMeasurement) and mp.mv is None


@transform
def _analytic_only(tape):
    """Refuse finite-shot circuits with a message that names the fix."""
    if tape.shots:
        raise DeviceError(SHOTS_ERROR)
    return (tape,), lambda results: results[0]


# --------------------------------------------------------------------------- plans


class _Block:
    """A run of commuting-structure gates applied as one gather and/or one multiply."""

    def __init__(self, diagonal: bool):
        self.diagonal = diagonal  # True: only diagonal gates; False: constant monomials
        self.axes: set[int] = set()
        self.const: list[tuple[str, tuple[int, ...]]] = []  # (name, axes) in order
        self.params: list[tuple[int, str, tuple[int, ...]]] = []  # (op index, name, axes)


class _Plan:
    """Execution steps for one circuit structure (gate names, wires, broadcasting)."""

    def __init__(self):
        self.steps: list[tuple] = []
        self.groups: list[list[int]] = []  # fused single-qubit groups, op indices in order
        self.single_ops: list[int] = []  # op indices of all single-qubit gates
        self.run_fusion: list[tuple[bool, torch.Tensor]] = []  # (broadcast, row idx [L, R])
        self.single_run: list[tuple[int, bool, int]] = []  # (group, broadcast, run position)
        self.mixed: list[tuple[torch.Tensor, list[int]]] = []  # (run idx [r, G], group ids)
        self.tensors: dict = {}  # per-dtype caches of block vectors
        self.kinds: dict[tuple, list[int]] = {}  # (builder, broadcast) -> rows of single_ops


def _lift_monomial(name: str, axes: tuple[int, ...], n: int):
    """Row-wise form of a constant monomial gate on the full space.

    Returns ``(src, fac)`` with ``(U psi)[x] = fac[x] * psi[src[x]]``.
    """
    mat = qml.math.toarray(getattr(qml, name).compute_matrix())
    k = len(axes)
    small_src = np.argmax(np.abs(mat) > 1e-12, axis=1)
    small_fac = mat[np.arange(2**k), small_src]
    x = np.arange(2**n)
    shifts = [n - 1 - a for a in axes]
    sub = np.zeros_like(x)
    for s in shifts:
        sub = (sub << 1) | ((x >> s) & 1)
    new_sub = small_src[sub]
    src = x.copy()
    for j, s in enumerate(shifts):
        bit = (new_sub >> (k - 1 - j)) & 1
        src = (src & ~(1 << s)) | (bit << s)
    return src, small_fac[sub]


def _diag_generator(name: str, k: int) -> np.ndarray:
    """Real vector g with diag(gate(theta)) = exp(i * theta * g) on the gate's wires."""
    if name in ("IsingZZ", "MultiRZ"):
        parity = np.array([bin(i).count("1") % 2 for i in range(2**k)])
        return -0.5 * (1 - 2 * parity)
    if name == "ControlledPhaseShift":
        return np.array([0.0, 0.0, 0.0, 1.0])
    if name == "CRZ":
        return np.array([0.0, 0.0, -0.5, 0.5])
    raise AssertionError(name)


def _lift_diag(vec: np.ndarray, axes: tuple[int, ...], n: int) -> np.ndarray:
    """Vector on the gate's wires -> vector on all 2**n basis states."""
    x = np.arange(2**n)
    sub = np.zeros_like(x)
    for a in axes:
        sub = (sub << 1) | ((x >> (n - 1 - a)) & 1)
    return vec[sub]


def _build_plan(ops, axes_of, batched, n: int, fuse: bool, start: int) -> _Plan:
    plan = _Plan()
    pending: dict[int, list[int]] = {}
    block: _Block | None = None

    def emit_pending(axes):
        for a in axes:
            group = pending.pop(a, None)
            if not group:
                continue
            chunks = [group] if fuse else [[i] for i in group]
            for chunk in chunks:
                plan.steps.append(("u1", a, len(plan.groups)))
                plan.groups.append(chunk)

    def close_block():
        nonlocal block
        if block is not None:
            plan.steps.append(("block", block))
        block = None

    for i in range(start, len(ops)):
        op = ops[i]
        name = op.name
        axes = axes_of[i]
        if name in _SKIP or (name == "Identity" and len(axes) != 1):
            continue
        if name == "GlobalPhase":
            plan.steps.append(("phase", i))
            continue
        if len(axes) == 1 and (name in _ROTATIONS or name in _FIXED_1Q or name == "Rot"
                               or op.has_matrix):
            pending.setdefault(axes[0], []).append(i)
            plan.single_ops.append(i)
            continue
        is_param_diag = name in _PARAM_DIAG
        if is_param_diag or name in _MONOMIAL:
            diagonal = is_param_diag or name in ("CZ", "CCZ")
            blocked = any(pending.get(a) for a in axes if block is not None and a in block.axes)
            fits = block is not None and not blocked and (
                block.diagonal == diagonal
                or (not is_param_diag and not block.params)  # all constant: merge
            )
            if fits:
                emit_pending([a for a in axes if a not in block.axes])
                block.diagonal = block.diagonal and diagonal
            else:
                close_block()
                emit_pending(axes)
                block = _Block(diagonal)
            block.axes.update(axes)
            if is_param_diag:
                block.params.append((i, name, axes))
            else:
                block.const.append((name, axes))
            continue
        # any other multi-qubit gate: applied from its own matrix
        if block is not None and block.axes.intersection(axes):
            close_block()
        emit_pending(axes)
        plan.steps.append(("matrix", i, axes))
    close_block()
    emit_pending(sorted(pending))

    # matrices are built per (gate type, broadcast or not): broadcast ones end up in one
    # [Kb, batch, 2, 2] tensor, the others in one [Ku, 2, 2] tensor
    for r, i in enumerate(plan.single_ops):
        name = ops[i].name
        kind = name if name in _ROTATIONS or name == "Rot" else (
            "fixed" if name in _FIXED_1Q else "generic")
        plan.kinds.setdefault((kind, batched[i]), []).append(r)
    position, counts = {}, {True: 0, False: 0}
    for (_, flag), rows in plan.kinds.items():
        for r in rows:
            position[plan.single_ops[r]] = counts[flag]
            counts[flag] += 1

    # stage 1: runs of consecutive gates with the same broadcast flag, multiplied per
    # (flag, length) class in one vectorised product; unbroadcast runs stay [2, 2], so
    # the fixed rotations of a layer are fused once, not once per batch element
    runs, group_runs = [], []
    for group in plan.groups:
        ids = []
        for flag, chunk in itertools.groupby(group, key=lambda i: batched[i]):
            ids.append(len(runs))
            runs.append((flag, [position[i] for i in chunk]))
        group_runs.append(ids)
    by_class: dict[tuple, list[int]] = {}
    for rid, (flag, rows) in enumerate(runs):
        by_class.setdefault((flag, len(rows)), []).append(rid)
    run_pos, counts = {}, {True: 0, False: 0}
    for (flag, length), rids in sorted(by_class.items()):
        idx = torch.tensor([[runs[rid][1][j] for rid in rids] for j in range(length)])
        plan.run_fusion.append((flag, idx))
        for rid in rids:
            run_pos[rid] = counts[flag]
            counts[flag] += 1

    # stage 2: groups made of several runs (broadcast encoding + fixed rotations)
    by_len: dict[int, list[int]] = {}
    for g, ids in enumerate(group_runs):
        if len(ids) == 1:
            plan.single_run.append((g, runs[ids[0]][0], run_pos[ids[0]]))
        else:
            by_len.setdefault(len(ids), []).append(g)
    for length, gids in sorted(by_len.items()):
        idx = [[run_pos[r] if runs[r][0] else counts[True] + run_pos[r]
                for r in (group_runs[g][j] for g in gids)] for j in range(length)]
        plan.mixed.append((torch.tensor(idx), gids))
    return plan


# --------------------------------------------------------------------------- device


@simulator_tracking
@single_tape_support
class TorchStatevectorDevice(Device):
    """Batched statevector simulator in torch with backpropagation, for training.

    Args:
        wires (int or Iterable): number of wires or their labels.
        shots (None): must stay None; the device is analytic only (a finite number
            of shots raises ``DeviceError``).
        c_dtype (torch.dtype or str): ``torch.complex64`` (default, fastest) or
            ``torch.complex128``; strings ``"complex64"``/``"complex128"`` work too.
            Real outputs use the matching float dtype.
        fuse (bool): fuse consecutive single-qubit gates on a wire into one matrix
            before applying it (default True; False exists to measure the gain).

    **Example**

    >>> import pennylane as qml, torch
    >>> dev = qml.device("qrl.torch", wires=2)
    >>> @qml.qnode(dev, interface="torch", diff_method="backprop")
    ... def circuit(x):
    ...     qml.RX(x, wires=0)
    ...     qml.CNOT(wires=[0, 1])
    ...     return qml.expval(qml.Z(1))
    >>> x = torch.tensor([0.0, 3.14159265], requires_grad=True)
    >>> circuit(x).detach().round(decimals=4)
    tensor([ 1., -1.])
    """

    _device_options = ("c_dtype", "fuse")

    def __init__(self, wires=None, shots=None, c_dtype=torch.complex64, fuse: bool = True):
        super().__init__(wires=wires, shots=shots)
        if isinstance(c_dtype, str):
            c_dtype = getattr(torch, c_dtype.replace("torch.", ""), None)
        elif not isinstance(c_dtype, torch.dtype) and c_dtype is not None:
            c_dtype = {np.complex64: torch.complex64, np.complex128: torch.complex128}.get(
                np.dtype(c_dtype).type
            )
        if c_dtype not in (torch.complex64, torch.complex128):
            raise ValueError(
                "qrl.torch: c_dtype must be torch.complex64 or torch.complex128 "
                "(or the strings 'complex64' / 'complex128')."
            )
        self._c_dtype = c_dtype
        self._r_dtype = torch.float32 if c_dtype == torch.complex64 else torch.float64
        self._fuse = bool(fuse)
        self._plans: OrderedDict = OrderedDict()
        self._const_cache: dict = {}

    @property
    def name(self):
        """The name of the device."""
        return DEVICE_NAME

    @property
    def c_dtype(self) -> torch.dtype:
        """Complex dtype of the simulated state."""
        return self._c_dtype

    # ------------------------------------------------------------ PennyLane plumbing

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """Backpropagation through torch, for analytic circuits."""
        if execution_config is None:
            return True
        if execution_config.gradient_method not in ("backprop", "best"):
            return False
        interface = getattr(execution_config.interface, "value", execution_config.interface)
        if interface not in (None, "auto", "torch", "numpy"):
            return False
        return circuit is None or not circuit.shots

    def setup_execution_config(self, config=None, circuit=None) -> ExecutionConfig:
        """Resolve ``"best"`` to ``"backprop"`` and keep parameters as torch tensors."""
        config = config or ExecutionConfig()
        updates = {}
        if config.gradient_method == "best":
            updates["gradient_method"] = "backprop"
        gradient_method = updates.get("gradient_method", config.gradient_method)
        if gradient_method == "backprop":
            updates["convert_to_numpy"] = False
            updates["use_device_gradient"] = True
            updates["use_device_jacobian_product"] = False
            updates["grad_on_execution"] = False
        for option in config.device_options:
            if option not in self._device_options:
                raise DeviceError(f"device option {option} not present on {self}")
        if config.mcm_config.mcm_method not in (None, "deferred"):
            raise DeviceError(
                "qrl.torch has no mid-circuit measurement support beyond "
                "mcm_method='deferred'; use default.qubit for other methods."
            )
        updates["mcm_config"] = replace(config.mcm_config, mcm_method="deferred")
        return replace(config, **updates)

    def preprocess_transforms(self, execution_config=None) -> CompilePipeline:
        """Refuse shots, decompose unsupported gates, validate wires and measurements.

        Broadcast tapes are kept whole (no ``broadcast_expand``): batching is native.
        """
        pipeline = CompilePipeline()
        pipeline.add_transform(_analytic_only)
        pipeline.add_transform(qml.transforms.defer_measurements, allow_postselect=False)
        pipeline.add_transform(
            decompose,
            stopping_condition=_supported_op,
            name=self.name,
            skip_initial_state_prep=True,
        )
        pipeline.add_transform(validate_device_wires, self.wires, name=self.name)
        pipeline.add_transform(
            validate_measurements, analytic_measurements=_supported_measurement, name=self.name
        )
        return pipeline

    def execute(self, circuits, execution_config=None):
        """Simulate each tape; results are torch tensors when any input is a tensor."""
        return tuple(self._execute_tape(tape) for tape in circuits)

    # ------------------------------------------------------------ compiled circuits

    def compile(self, tape) -> "CompiledCircuit":
        """Compile a tape once; re-run it on new gate parameters without rebuilding a tape.

        Building a PennyLane tape (one Python object per gate, then the transform
        pipeline) costs more than simulating a small circuit: for the 4-qubit,
        116-gate policy at batch 10 it is about 80% of a QNode call. A training loop
        that calls the same circuit thousands of times with new angles compiles it
        once and then passes only the angles; the simulation (and its gradients) is
        the same code as :meth:`execute`.

        Args:
            tape: a tape with this device's gates (it is preprocessed here), e.g. from
                ``qml.workflow.construct_tape(qnode)(*args)``.

        Raises:
            DeviceError: the tape does not compile (state preparation, parametrised
                observables, several tapes after preprocessing); run it through the
                QNode instead.

        **Example**

        >>> dev = qml.device("qrl.torch", wires=1)
        >>> tape = qml.tape.QuantumScript([qml.RX(0.0, 0)], [qml.expval(qml.Z(0))])
        >>> circuit = dev.compile(tape)
        >>> round(float(circuit([torch.tensor(math.pi)])[0]), 4)
        -1.0
        """
        return CompiledCircuit(self, tape)

    # ------------------------------------------------------------ simulation

    def _execute_tape(self, tape):
        wire_order = self.wires if self.wires is not None else tape.wires
        axis = {w: i for i, w in enumerate(wire_order)}
        n = len(wire_order)
        ops = tape.operations
        params = tape.get_parameters(trainable_only=False)
        as_torch = False
        for p in params:
            if isinstance(p, torch.Tensor):
                as_torch = True
            elif not isinstance(p, (numbers.Number, np.ndarray, np.generic)) and not sparse.issparse(p):
                raise DeviceError(
                    f"qrl.torch runs on torch tensors; got a {type(p).__name__} parameter. "
                    "Use interface='torch' (or plain numbers / numpy arrays)."
                )
        op_batches = [_op_batch_size(op) for op in ops]
        batch = next((b for b in op_batches if b is not None), None)
        state = self._initial_state(ops, wire_order, n, batch)
        start = 1 if ops and isinstance(ops[0], StatePrepBase) else 0

        axes_of = [tuple(axis[w] for w in op.wires) for op in ops]
        key = (n, start, self._fuse, tuple(
            (op.name, axes_of[i], op_batches[i] is not None) for i, op in enumerate(ops)
        ))
        plan = self._plans.get(key)
        if plan is None:
            plan = _build_plan(ops, axes_of, [b is not None for b in op_batches], n,
                               self._fuse, start)
            self._plans[key] = plan
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)

        state = self._run(plan, ops, state, n, batch)
        measure = _Measurer(self, state, n, axis, batch is not None)
        results = tuple(measure(mp) for mp in tape.measurements)
        if batch is None:
            results = tuple(r[0] for r in results)
        if not as_torch:
            results = tuple(r.detach().numpy() if isinstance(r, torch.Tensor) else r for r in results)
        return results[0] if len(results) == 1 else results

    def _real(self, p) -> torch.Tensor:
        if isinstance(p, torch.Tensor):
            return p.to(self._r_dtype)
        return torch.as_tensor(np.asarray(p, dtype=np.float64), dtype=self._r_dtype)

    def _initial_state(self, ops, wire_order, n, batch):
        rows = batch or 1
        if ops and isinstance(ops[0], StatePrepBase):
            vec = ops[0].state_vector(wire_order=wire_order)
            vec = vec if isinstance(vec, torch.Tensor) else torch.as_tensor(np.asarray(vec))
            vec = vec.to(self._c_dtype).reshape(-1, 2**n)
            return vec.expand(rows, -1) if vec.shape[0] != rows else vec
        state = torch.zeros(rows, 2**n, dtype=self._c_dtype)
        state[:, 0] = 1
        return state

    def _run(self, plan: _Plan, ops, state, n, batch, angles=None):
        fused = self._fused_matrices(plan, ops, batch, angles)
        rows = state.shape[0]
        for step in plan.steps:
            kind = step[0]
            if kind == "u1":
                _, a, g = step
                u = fused[g]
                view = state.view(rows, 2**a, 2, 2 ** (n - a - 1))
                if u.dim() == 3:
                    if rows != u.shape[0]:
                        view = view.expand(u.shape[0], -1, -1, -1)
                        rows = u.shape[0]
                    view = torch.matmul(u.unsqueeze(1), view)  # [b, 1, 2, 2] @ [b, A, 2, C]
                else:
                    view = torch.matmul(u, view)
                state = view.reshape(rows, 2**n)
            elif kind == "block":
                state = self._apply_block(plan, step[1], ops, state, n, batch)
                rows = state.shape[0]
            elif kind == "matrix":
                state = self._apply_matrix(ops[step[1]], step[2], state, n)
                rows = state.shape[0]
            else:  # global phase exp(-i phi)
                phi = self._real(ops[step[1]].data[0])
                phase = torch.complex(torch.cos(phi), -torch.sin(phi)).to(self._c_dtype)
                state = state * phase.reshape(-1, 1)
                rows = state.shape[0]
        return state

    # single-qubit matrices --------------------------------------------------------

    def _fixed_matrix(self, name):
        key = (name, self._c_dtype)
        if key not in self._const_cache:
            mat = qml.math.toarray(getattr(qml, name).compute_matrix())
            self._const_cache[key] = torch.as_tensor(mat).to(self._c_dtype)
        return self._const_cache[key]

    def _stack(self, values, batch):
        """Stack gate parameters into [G] or, when any is broadcast, [G, batch]."""
        tensors = [self._real(v) for v in values]
        if batch is not None and any(t.dim() for t in tensors):
            tensors = [t.expand(batch) for t in tensors]
        return torch.stack(tensors)

    def _single_matrices(self, plan: _Plan, ops, batch, angles=None):
        """Matrices of all single-qubit gates in the plan's row order: ``(fixed [Ku, 2, 2],
        broadcast [Kb, batch, 2, 2])``, either None when there are none.

        ``angles`` (from a compiled circuit) maps each rotation kind of the plan to its
        stacked parameters; without it they are read from ``ops``.
        """
        parts = []
        for (kind, batched), rows in plan.kinds.items():
            idx = [plan.single_ops[r] for r in rows]
            size = batch if batched else None
            if angles is not None and kind in _ANGLE_KINDS:
                params = angles[(kind, batched)]
            elif kind in _ANGLE_KINDS:
                params = [self._stack([ops[i].data[j] for i in idx], size)
                          for j in range(3 if kind == "Rot" else 1)]
            if kind == "Rot":
                mats = _rot(*params)
            elif kind in _ROTATIONS:
                mats = _ROTATION_BUILDERS[kind](params[0])
            elif kind == "fixed":
                mats = torch.stack([self._fixed_matrix(ops[i].name) for i in idx])
            else:
                mats = [ops[i].matrix() for i in idx]
                mats = [m if isinstance(m, torch.Tensor) else torch.as_tensor(np.asarray(m))
                        for m in mats]
                mats = [m.to(self._c_dtype) for m in mats]
                if batched:
                    mats = [m.expand(batch, 2, 2) for m in mats]
                mats = torch.stack(mats)
            parts.append(mats.to(self._c_dtype))
        flags = [batched for _, batched in plan.kinds]
        fixed = [p for p, f in zip(parts, flags) if not f]
        broadcast = [p for p, f in zip(parts, flags) if f]
        return (torch.cat(fixed) if fixed else None,
                torch.cat(broadcast) if broadcast else None)

    def _fused_matrices(self, plan: _Plan, ops, batch, angles=None):
        """One matrix per fused group: [2, 2], or [batch, 2, 2] if any gate is broadcast."""
        if not plan.single_ops:
            return []
        fixed, broadcast = self._single_matrices(plan, ops, batch, angles)
        prods = {True: [], False: []}
        for flag, idx in plan.run_fusion:
            mats = broadcast if flag else fixed
            prod = mats.index_select(0, idx[0])
            for j in range(1, idx.shape[0]):
                prod = _mul2x2(mats.index_select(0, idx[j]), prod)
            prods[flag].append(prod)
        run_b = torch.cat(prods[True]) if prods[True] else None
        run_u = torch.cat(prods[False]) if prods[False] else None
        fused: list = [None] * len(plan.groups)
        unbound = {True: run_b.unbind(0) if run_b is not None else (),
                   False: run_u.unbind(0) if run_u is not None else ()}
        for g, flag, pos in plan.single_run:
            fused[g] = unbound[flag][pos]
        if plan.mixed:
            parts = [run_b] + ([run_u.unsqueeze(1).expand(-1, batch, 2, 2)]
                               if run_u is not None else [])
            runs = torch.cat(parts)
            for idx, gids in plan.mixed:
                prod = runs.index_select(0, idx[0])
                for j in range(1, idx.shape[0]):
                    prod = _mul2x2(runs.index_select(0, idx[j]), prod)
                for g, mat in zip(gids, prod.unbind(0)):  # unbind: one backward node
                    fused[g] = mat
        return fused

    # multi-qubit gates ------------------------------------------------------------

    def _block_tensors(self, plan: _Plan, block: _Block, n: int):
        key = (id(block), self._c_dtype)
        cached = plan.tensors.get(key)
        if cached is not None:
            return cached
        src = np.arange(2**n)
        fac = np.ones(2**n, dtype=np.complex128)
        for name, axes in block.const:
            g_src, g_fac = _lift_monomial(name, axes, n)
            # (G (prev psi))[x] = g_fac[x] * fac[g_src[x]] * psi[src[g_src[x]]]
            fac = g_fac * fac[g_src]
            src = src[g_src]
        src_t = None if np.array_equal(src, np.arange(2**n)) else torch.as_tensor(src)
        fac_t = None if np.allclose(fac, 1.0) else torch.as_tensor(fac).to(self._c_dtype)
        gen_t = None
        if block.params:
            gens = [_lift_diag(_diag_generator(name, len(axes)), axes, n)
                    for _, name, axes in block.params]
            gen_t = torch.as_tensor(np.stack(gens)).to(self._r_dtype)
        plan.tensors[key] = (src_t, fac_t, gen_t)
        return plan.tensors[key]

    def _apply_block(self, plan, block: _Block, ops, state, n, batch):
        src, fac, gen = self._block_tensors(plan, block, n)
        if src is not None:
            state = state.index_select(1, src)
        if fac is not None:
            state = state * fac
        if gen is not None:
            theta = self._stack([ops[i].data[0] for i, _, _ in block.params], batch)
            angle = theta.transpose(0, -1) @ gen if theta.dim() == 2 else theta @ gen
            state = state * torch.complex(torch.cos(angle), torch.sin(angle))
        return state

    def _apply_matrix(self, op, axes, state, n):
        mat = op.matrix()
        mat = mat if isinstance(mat, torch.Tensor) else torch.as_tensor(np.asarray(mat))
        return _apply_small_matrix(mat.to(self._c_dtype), axes, state, n)


class _Gate:
    """The parts of an operation the simulation reads: name, parameters and (rarely) matrix."""

    __slots__ = ("name", "data", "_template")

    def __init__(self, name: str, data, template=None):
        self.name, self.data, self._template = name, data, template

    def matrix(self):
        """The matrix of the compiled operation with this call's parameters."""
        op = self._template
        return (qml.ops.functions.bind_new_parameters(op, self.data) if self.data else op).matrix()


class CompiledCircuit:
    """One circuit structure of :class:`TorchStatevectorDevice`, as a function of its gate parameters.

    Made by :meth:`TorchStatevectorDevice.compile`. Two ways to call it, both giving
    the measurement results as torch tensors with gradients through autograd:

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

    Attributes:
        n_params: number of gate parameters a call takes.
        traced_parameters: the gate parameters of the compiled tape, in order.
        packable: whether :meth:`packed` applies.
    """

    def __init__(self, device: TorchStatevectorDevice, tape):
        tapes, _ = device.preprocess_transforms()((tape,))
        if len(tapes) != 1:
            raise DeviceError("qrl.torch: this circuit preprocesses into several tapes and cannot be "
                              "compiled; call it through its QNode.")
        tape = tapes[0]
        ops = tape.operations
        if ops and isinstance(ops[0], StatePrepBase):
            raise DeviceError("qrl.torch: circuits that start with a state preparation are not "
                              "compiled; call them through their QNode.")
        for mp in tape.measurements:
            if mp.obs is not None and any(isinstance(d, torch.Tensor) for d in mp.obs.data):
                raise DeviceError("qrl.torch: parametrised observables are not compiled; call the "
                                  "circuit through its QNode.")
        self.device = device
        wire_order = device.wires if device.wires is not None else tape.wires
        self._axis = {w: i for i, w in enumerate(wire_order)}
        self._n = len(wire_order)
        batched = [_op_batch_size(op) is not None for op in ops]
        axes_of = [tuple(self._axis[w] for w in op.wires) for op in ops]
        plan = _build_plan(ops, axes_of, batched, self._n, device._fuse, 0)
        self._plan = plan
        # gates applied from their own matrix keep their operation as a template
        generic = {step[1] for step in plan.steps if step[0] == "matrix"}
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
            if kind not in _ANGLE_KINDS:
                continue
            cols = []
            for j in range(3 if kind == "Rot" else 1):
                slots = [self._slots[op_start[plan.single_ops[r]] + j] for r in rows]
                cols.append((torch.tensor([pos for _, pos in slots]), [f for f, _ in slots]))
            self._kind_index[(kind, flag)] = cols
        # other gates the simulation reads (fixed 1-qubit gates, diagonal blocks, global
        # phase, gates applied from their matrix)
        self._data_ops = [i for i, name in enumerate(self._names) if name in _FIXED_1Q
                          or i in self._templates or (self._arity[i] and name not in _ANGLE_KINDS)]
        self._op_start = op_start

    def pack(self, params) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flat tape-order parameters → ``(fixed [P], broadcast [batch, Q] or None)``."""
        if not self.packable:
            raise ValueError("this compiled circuit has non-scalar gate parameters and does not "
                             "pack; call it with the flat parameter list.")
        params = [torch.as_tensor(p, dtype=torch.float64) for p in params]
        fixed = [p for p, (flag, _) in zip(params, self._slots) if not flag]
        cols = [p for p, (flag, _) in zip(params, self._slots) if flag]
        fixed_t = torch.stack(fixed) if fixed else torch.zeros(0, dtype=torch.float64)
        return fixed_t, (torch.stack(cols, -1) if cols else None)

    def __call__(self, params) -> tuple:
        """Results of the circuit with these gate parameters (one tensor per measurement)."""
        if len(params) != self.n_params:
            raise ValueError(f"the compiled circuit takes {self.n_params} parameters; got {len(params)}.")
        gates = [_Gate(name, params[start:start + m], self._templates.get(i))
                 for i, (name, m, start) in enumerate(zip(self._names, self._arity, self._op_start))]
        batch = None if self._first_batched is None else params[self._first_batched].shape[0]
        return self._simulate(gates, batch)

    def packed(self, fixed: torch.Tensor, broadcast: torch.Tensor | None = None) -> tuple:
        """Results from packed parameters (see the class docstring)."""
        device = self.device
        if not self.packable:
            raise ValueError("this compiled circuit has non-scalar gate parameters and does not "
                             "pack; call it with the flat parameter list.")
        if fixed.shape != (self._n_fixed,) or (self._n_broadcast and (
                broadcast is None or broadcast.dim() != 2 or broadcast.shape[1] != self._n_broadcast)):
            raise ValueError(f"the compiled circuit takes fixed [{self._n_fixed}] and broadcast "
                             f"[batch, {self._n_broadcast}] parameters; got {tuple(fixed.shape)} and "
                             f"{None if broadcast is None else tuple(broadcast.shape)}.")
        fixed = fixed.to(device._r_dtype)
        batch = None
        if self._n_broadcast:
            broadcast = broadcast.to(device._r_dtype)
            batch = broadcast.shape[0]
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
            gates[i] = _Gate(self._names[i], [
                broadcast[:, pos] if flag else fixed[pos]
                for flag, pos in self._slots[start:start + self._arity[i]]], self._templates.get(i))
        return self._simulate(gates, batch, angles)

    def _simulate(self, gates, batch, angles=None) -> tuple:
        device = self.device
        state = device._initial_state((), None, self._n, batch)
        state = device._run(self._plan, gates, state, self._n, batch, angles)
        measure = _Measurer(device, state, self._n, self._axis, batch is not None)
        results = tuple(measure(mp) for mp in self._measurements)
        if batch is None:
            results = tuple(r[0] for r in results)
        return results


def _mul2x2(left, right):
    """Batched 2x2 products as one elementwise kernel (matmul loops BLAS per matrix)."""
    return (left.unsqueeze(-1) * right.unsqueeze(-3)).sum(-2)


def _apply_small_matrix(mat, axes, state, n):
    """Apply a [2^k, 2^k] (or [B, 2^k, 2^k]) matrix on the given qubit axes."""
    k = len(axes)
    rows = state.shape[0]
    letters = "cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert n + k <= len(letters), "too many qubits for the einsum path"
    state_idx = list(letters[:n])
    out_idx = list(state_idx)
    new = letters[n : n + k]
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


def _complex(re, im):
    return torch.complex(re, im)


def _rx(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, z, z, c], -1), torch.stack([z, -s, -s, z], -1)).unflatten(
        -1, (2, 2))


def _ry(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, -s, s, c], -1), torch.stack([z, z, z, z], -1)).unflatten(
        -1, (2, 2))


def _rz(theta):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(c)
    return _complex(torch.stack([c, z, z, c], -1), torch.stack([-s, z, z, s], -1)).unflatten(
        -1, (2, 2))


def _phase_shift(phi):
    c, s = torch.cos(phi), torch.sin(phi)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return _complex(torch.stack([o, z, z, c], -1), torch.stack([z, z, z, s], -1)).unflatten(
        -1, (2, 2))


def _rot(phi, theta, omega):
    """Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    a, b = (phi + omega) / 2, (phi - omega) / 2
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    re = torch.stack([ca * c, -cb * s, cb * s, ca * c], -1)
    im = torch.stack([-sa * c, -sb * s, -sb * s, sa * c], -1)
    return _complex(re, im).unflatten(-1, (2, 2))


_ROTATION_BUILDERS = {"RX": _rx, "RY": _ry, "RZ": _rz, "PhaseShift": _phase_shift}
_ANGLE_KINDS = frozenset(_ROTATIONS + ("Rot",))


# --------------------------------------------------------------------------- measurements


class _Measurer:
    """Measurement processes on a final state [rows, 2**n]; each result has a batch dim."""

    def __init__(self, device: TorchStatevectorDevice, state, n, axis, batched: bool = True):
        self.device = device
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

    def _signs(self, axes) -> torch.Tensor:
        key = ("signs", self.n, axes)
        cache = self.device._const_cache
        if key not in cache:
            x = np.arange(2**self.n)
            parity = np.zeros_like(x)
            for a in axes:
                parity ^= (x >> (self.n - 1 - a)) & 1
            cache[key] = torch.as_tensor(1 - 2 * parity).to(torch.float64)
        return cache[key]

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
                signs.append(self._signs(zaxes))
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
            part = _weighted_sum(vals, weights, torch.float64).to(self.device._r_dtype)
            total = part if total is None else total + part
        if total is None:
            return torch.zeros(rows, dtype=self.device._r_dtype)
        return total

    def expval(self, obs) -> torch.Tensor:
        if obs.pauli_rep is not None:
            return self.pauli_expval(obs.pauli_rep)
        if isinstance(obs, qml.SparseHamiltonian):
            return self.sparse_expval(obs)
        if isinstance(obs, qml.ops.Sum):
            return reduce(torch.add, (self.expval(o) for o in obs.operands))
        if isinstance(obs, qml.ops.SProd):
            return self.device._real(obs.scalar) * self.expval(obs.base)
        applied = self._apply_obs(obs)
        return torch.sum(self.state.conj() * applied, dim=1).real

    def sparse_expval(self, obs) -> torch.Tensor:
        """<psi|H|psi> for a SparseHamiltonian: one sparse-dense product, no dense matrix."""
        coo = obs.sparse_matrix(wire_order=list(self.axis)).tocoo()
        index = torch.as_tensor(np.stack([coo.row, coo.col]), dtype=torch.long)
        h = torch.sparse_coo_tensor(index, torch.as_tensor(coo.data).to(torch.complex128), coo.shape)
        psi = self.state.to(torch.complex128)
        h_psi = torch.sparse.mm(h, psi.T).T
        return torch.sum(psi.conj() * h_psi, dim=1).real.to(self.device._r_dtype)

    def var(self, obs) -> torch.Tensor:
        if obs.pauli_rep is not None:
            square = obs.pauli_rep @ obs.pauli_rep
            return self.pauli_expval(square) - self.pauli_expval(obs.pauli_rep) ** 2
        applied = self._apply_obs(obs)
        mean = torch.sum(self.state.conj() * applied, dim=1).real
        return torch.sum(applied.real**2 + applied.imag**2, dim=1) - mean**2

    def _apply_obs(self, obs):
        axes = tuple(self.axis[w] for w in obs.wires)
        mat = obs.matrix()
        mat = mat if isinstance(mat, torch.Tensor) else torch.as_tensor(np.asarray(mat))
        return _apply_small_matrix(mat.to(self.device._c_dtype), axes, self.state, self.n)

    # probabilities ---------------------------------------------------------------

    def marginal_probs(self, mp) -> torch.Tensor:
        wires = mp.wires if len(mp.wires) else qml.wires.Wires(list(self.axis))
        probs = self.probs
        if mp.obs is not None:
            state = self.state
            for op in mp.obs.diagonalizing_gates():
                axes = tuple(self.axis[w] for w in op.wires)
                mat = op.matrix()
                mat = mat if isinstance(mat, torch.Tensor) else torch.as_tensor(np.asarray(mat))
                state = _apply_small_matrix(mat.to(state.dtype), axes, state, self.n)
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

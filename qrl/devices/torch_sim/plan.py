"""Execution plans: one circuit structure turned into a short list of typed steps.

A plan depends only on the structure of a circuit (gate names, wires, which gates
are broadcast), never on parameter values, so it is built once and reused for every
call with new angles. :func:`build_plan` walks the operations once and

* collects consecutive single-qubit gates per wire into fused groups
  (:class:`FusedGate`: one 2x2, possibly batched, matrix applied to the state);
* merges runs of constant permutation/phase gates (CZ ring, CNOT ladder, SWAP,
  Toffoli) and of one-parameter diagonal gates into a :class:`Block` (one gather
  and/or one multiply over the ``2**n`` basis states);
* leaves any other gate as a :class:`MatrixGate` (its own matrix on at most three
  wires), and a global phase as :class:`GlobalPhase`.

It also records how the single-qubit matrices are built and multiplied in
vectorised batches (:class:`Plan` fields ``kinds``, ``run_fusion``, ``single_run``,
``mixed``); :mod:`.simulator` executes the plan.

**Example**

>>> import pennylane as qml
>>> ops = [qml.RX(0.1, 0), qml.RY(0.2, 0), qml.CZ([0, 1]), qml.RX(0.3, 1)]
>>> plan = build_plan(ops, [(0,), (0,), (0, 1), (1,)], [False] * 4, n=2, fuse=True, start=0)
>>> [type(step).__name__ for step in plan.steps]
['FusedGate', 'Block', 'FusedGate']
>>> plan.groups
[[0, 1], [3]]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from qrl.devices.torch_sim.gates import FIXED_1Q, MONOMIAL, PARAM_DIAG, ROTATIONS, SKIP


@dataclass(frozen=True, slots=True)
class FusedGate:
    """Apply fused single-qubit group ``group`` (its product matrix) on qubit ``axis``."""

    axis: int
    group: int


@dataclass(eq=False, slots=True)
class Block:
    """A run of commuting-structure gates applied as one gather and/or one multiply.

    ``const`` holds the constant monomial gates ``(name, axes)`` in order and ``params``
    the one-parameter diagonal gates ``(op index, name, axes)``.
    """

    diagonal: bool  # True: only diagonal gates; False: constant monomials (maybe diagonal ones too)
    axes: set[int] = field(default_factory=set)
    const: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    params: list[tuple[int, str, tuple[int, ...]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MatrixGate:
    """Apply operation ``op`` from its own matrix on ``axes`` (at most three qubits)."""

    op: int
    axes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GlobalPhase:
    """Multiply the state by ``exp(-i phi)``, ``phi`` the parameter of operation ``op``."""

    op: int


Step = FusedGate | Block | MatrixGate | GlobalPhase


@dataclass(eq=False)
class Plan:
    """Execution steps for one circuit structure (gate names, wires, broadcasting)."""

    steps: list[Step] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)  # fused single-qubit groups, op indices
    single_ops: list[int] = field(default_factory=list)  # op indices of all single-qubit gates
    # (builder kind, broadcast) -> rows of single_ops; one vectorised build per entry
    kinds: dict[tuple[str, bool], list[int]] = field(default_factory=dict)
    run_fusion: list[tuple[bool, torch.Tensor]] = field(default_factory=list)  # (broadcast, row idx [L, R])
    single_run: list[tuple[int, bool, int]] = field(default_factory=list)  # (group, broadcast, run position)
    mixed: list[tuple[torch.Tensor, list[int]]] = field(default_factory=list)  # (run idx [r, G], group ids)
    tensors: dict = field(default_factory=dict)  # per-dtype caches of block vectors


def single_qubit_kind(name: str) -> str:
    """How the matrix of a single-qubit gate is built: its rotation builder, ``fixed`` or ``generic``."""
    if name in ROTATIONS or name == "Rot":
        return name
    return "fixed" if name in FIXED_1Q else "generic"


def build_plan(ops, axes_of, batched, n: int, fuse: bool, start: int) -> Plan:
    """The plan of ``ops[start:]``; ``axes_of[i]`` are op i's qubit axes, ``batched[i]`` whether it is broadcast."""
    plan = Plan()
    pending: dict[int, list[int]] = {}
    block: Block | None = None

    def emit_pending(axes):
        for a in axes:
            group = pending.pop(a, None)
            if not group:
                continue
            chunks = [group] if fuse else [[i] for i in group]
            for chunk in chunks:
                plan.steps.append(FusedGate(a, len(plan.groups)))
                plan.groups.append(chunk)

    def close_block():
        nonlocal block
        if block is not None:
            plan.steps.append(block)
        block = None

    for i in range(start, len(ops)):
        op = ops[i]
        name = op.name
        axes = axes_of[i]
        if name in SKIP or (name == "Identity" and len(axes) != 1):
            continue
        if name == "GlobalPhase":
            plan.steps.append(GlobalPhase(i))
            continue
        if len(axes) == 1 and (name in ROTATIONS or name in FIXED_1Q or name == "Rot" or op.has_matrix):
            pending.setdefault(axes[0], []).append(i)
            plan.single_ops.append(i)
            continue
        is_param_diag = name in PARAM_DIAG
        if is_param_diag or name in MONOMIAL:
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
                block = Block(diagonal)
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
        plan.steps.append(MatrixGate(i, axes))
    close_block()
    emit_pending(sorted(pending))
    _plan_fusion(plan, ops, batched)
    return plan


def _plan_fusion(plan: Plan, ops, batched) -> None:
    """How the fused matrices are built and multiplied, in a few vectorised products."""
    # matrices are built per (gate type, broadcast or not): broadcast ones end up in one
    # [Kb, batch, 2, 2] tensor, the others in one [Ku, 2, 2] tensor
    for r, i in enumerate(plan.single_ops):
        plan.kinds.setdefault((single_qubit_kind(ops[i].name), batched[i]), []).append(r)
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


# --------------------------------------------------------------------------- layered plans


LAYERED_GATES = frozenset(("RX", "RY", "RZ"))
# Dense layers pay off while the per-operation overhead dominates: a [batch, 2**n] state
# of at most this many amplitudes (measured on the 5-layer re-uploading circuit: 4 qubits x
# batch 1 2.1 vs 2.8 ms CPU forward + backward, 8 x 1 3.7 vs 5.2 ms; 4 x 32 5.0 vs 4.4 ms).
LAYERED_MAX_AMPLITUDES = 256


def chunk_size(n: int) -> int:
    """Qubits per dense chunk: all of them up to 4 qubits, else 4, 3 or 2 if it divides n, else 1."""
    if n <= 4:
        return n
    return next((c for c in (4, 3, 2) if n % c == 0), 1)


@dataclass(eq=False)
class Layer:
    """Rotation runs on distinct qubits, all fixed or all broadcast, applied as dense chunks.

    ``runs`` maps a qubit axis to its run (a row of the fixed or broadcast run table);
    ``index`` is this layer's position among the layers with the same ``broadcast`` flag.
    """

    broadcast: bool
    runs: dict[int, int] = field(default_factory=dict)
    index: int = 0


@dataclass(eq=False)
class LayeredPlan:
    """A circuit of RX/RY/RZ gates and constant permutation/phase blocks, as dense layers.

    Consecutive rotations on one qubit with the same broadcast flag form a *run*
    (multiplied into one 2x2 matrix); runs on distinct qubits are scheduled as early
    as their qubit allows into a :class:`Layer`, whose matrix is the Kronecker product
    of its runs over chunks of ``chunk`` qubits (identity where a qubit has no run).
    The state then takes one matmul per chunk and layer, instead of one per qubit, and
    the matrices of all layers are built together in a few vectorised products. This
    cuts the number of torch operations (and autograd nodes) per call, which is what a
    small circuit costs; compiled circuits use it up to ``LAYERED_MAX_AMPLITUDES``
    amplitudes (batch x 2**n) and the per-qubit plan above that.

    Attributes:
        items: the layers and :class:`Block` steps, in execution order.
        runs: per flag (False: fixed, True: broadcast), the runs as lists of parameter
            positions (in the packed ``fixed`` vector, or ``broadcast`` columns) in order.
        paulis: per flag, the rotation axis (``"X"``, ``"Y"``, ``"Z"``) of each parameter
            position: ``R(t) = cos(t/2) I - i sin(t/2) P``.
        n: qubits.
        chunk: qubits per dense chunk.
        n_layers: per flag, how many layers.
        tensors: per-dtype caches (index tensors, Pauli matrices, block vectors).
    """

    items: list = field(default_factory=list)
    runs: dict[bool, list[list[int]]] = field(default_factory=lambda: {False: [], True: []})
    paulis: dict[bool, list[str]] = field(default_factory=lambda: {False: [], True: []})
    n: int = 0
    chunk: int = 1
    n_layers: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    tensors: dict = field(default_factory=dict)


def build_layered_plan(plan: Plan, ops, slots, n: int) -> LayeredPlan | None:
    """The layered form of a plan, or None when the circuit has other gates than it handles.

    ``slots[i]`` is ``(broadcast?, position)`` of op i's only parameter in the packed
    parameters (see :class:`~qrl.devices.torch_sim.compiled.CompiledCircuit`).
    """
    for step in plan.steps:
        if type(step) is FusedGate:
            if any(ops[i].name not in LAYERED_GATES for i in plan.groups[step.group]):
                return None
        elif type(step) is not Block or step.params:
            return None
    layered = LayeredPlan(n=n, chunk=chunk_size(n))
    frontier = [-1] * n  # last item index touching each qubit
    for step in plan.steps:
        if type(step) is Block:
            layered.items.append(step)
            for a in step.axes:
                frontier[a] = len(layered.items) - 1
            continue
        a = step.axis
        for flag, chunk in itertools.groupby(plan.groups[step.group], key=lambda i: slots[i][0]):
            chunk = list(chunk)
            run = len(layered.runs[flag])
            layered.runs[flag].append([slots[i][1] for i in chunk])
            target = next((j for j in range(frontier[a] + 1, len(layered.items))
                           if type(layered.items[j]) is Layer and layered.items[j].broadcast == flag
                           and a not in layered.items[j].runs), None)
            if target is None:
                layered.items.append(Layer(flag, index=layered.n_layers[flag]))
                layered.n_layers[flag] += 1
                target = len(layered.items) - 1
            layered.items[target].runs[a] = run
            frontier[a] = target
    for i, op in enumerate(ops):
        if op.name in LAYERED_GATES:
            flag, pos = slots[i]
            paulis = layered.paulis[flag]
            paulis.extend([""] * (pos + 1 - len(paulis)))
            paulis[pos] = op.name[1]
    return layered

"""``qrl.torch``: a batched torch statevector device for PennyLane (the device contract).

The device keeps the state of ``n`` qubits as one torch tensor of shape
``[batch, 2**n]`` (viewed as ``[batch, 2, ..., 2]`` when a gate needs the qubit
axes), so a broadcast QNode call (inputs of shape ``[batch, n]``) is one simulation,
and gradients come from torch autograd (``diff_method="backprop"`` or ``"best"``).

This module holds what PennyLane asks of a device: the execution config
(``"best"`` resolves to backprop), the preprocessing pipeline (shots refused,
unsupported gates decomposed, wires and measurements validated), ``execute`` and
``compile``. The simulation itself lives in :mod:`qrl.devices.torch_sim` (plan,
gate kernels, simulator, measurements, compiled circuits), as PennyLane keeps
``default.qubit``'s simulation in ``devices/qubit``.

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

No ``[2**n, 2**n]`` matrix is built beyond 4 qubits: the largest objects are the
state, a few vectors of length ``2**n`` and gate matrices on at most three wires, or,
in compiled circuits with small states (batch x 2**n <= 256), dense layer matrices on
chunks of at most four qubits (16 x 16), which cut the number of torch operations. Gates
outside the supported set are decomposed by PennyLane's ``decompose`` transform.
Results are analytic (exact); finite shots are refused.
"""

from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np
import pennylane as qml
import torch
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import decompose, validate_device_wires, validate_measurements
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, ProbabilityMP, StateMeasurement, StateMP, VarianceMP
from pennylane.operation import StatePrepBase
from pennylane.transforms.core import CompilePipeline, transform
from scipy import sparse

from qrl.devices.torch_sim.compiled import CompiledCircuit
from qrl.devices.torch_sim.gates import GENERIC_MAX_WIRES, NATIVE
from qrl.devices.torch_sim.simulator import Simulator

__all__ = ["DEVICE_NAME", "SHOTS_ERROR", "CompiledCircuit", "TorchStatevectorDevice"]

DEVICE_NAME = "qrl.torch"

SHOTS_ERROR = (
    "qrl.torch computes exact (analytic) results only and does not sample shots; "
    "remove shots from the QNode (qml.set_shots / shots=) or use default.qubit for sampling."
)


def _supported_op(op) -> bool:
    """Decompose-transform stopping condition: gates the device applies directly."""
    if op.name in NATIVE:
        return True
    if op.name == "GlobalPhase":
        return True
    if op.name[:3] == "Pow" and any(qml.math.requires_grad(d) for d in op.data):
        return False
    return op.has_matrix and 0 < len(op.wires) <= GENERIC_MAX_WIRES


def _supported_observable(obs) -> bool:
    if obs.pauli_rep is not None or isinstance(obs, qml.SparseHamiltonian):
        return True
    if isinstance(obs, (qml.ops.Sum, qml.ops.SProd)):
        operands = obs.operands if isinstance(obs, qml.ops.Sum) else (obs.base,)
        return all(_supported_observable(o) for o in operands)
    return obs.has_matrix and len(obs.wires) <= GENERIC_MAX_WIRES


def _supported_measurement(mp) -> bool:
    if type(mp) is StateMP:
        return True
    if isinstance(mp, ExpectationMP):
        return mp.obs is not None and _supported_observable(mp.obs)
    if isinstance(mp, VarianceMP):  # non-Pauli observables are squared as one small matrix
        return mp.obs is not None and (mp.obs.pauli_rep is not None or (
            mp.obs.has_matrix and len(mp.obs.wires) <= GENERIC_MAX_WIRES))
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
        self.simulator = Simulator(c_dtype, fuse)

    @property
    def name(self):
        """The name of the device."""
        return DEVICE_NAME

    @property
    def c_dtype(self) -> torch.dtype:
        """Complex dtype of the simulated state."""
        return self.simulator.c_dtype

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

    def _execute_tape(self, tape):
        as_torch = False
        for p in tape.get_parameters(trainable_only=False):
            if isinstance(p, torch.Tensor):
                as_torch = True
            elif not isinstance(p, (numbers.Number, np.ndarray, np.generic)) and not sparse.issparse(p):
                raise DeviceError(
                    f"qrl.torch runs on torch tensors; got a {type(p).__name__} parameter. "
                    "Use interface='torch' (or plain numbers / numpy arrays)."
                )
        wire_order = self.wires if self.wires is not None else tape.wires
        results = self.simulator.simulate(tape, wire_order)
        if not as_torch:
            results = tuple(r.detach().numpy() if isinstance(r, torch.Tensor) else r for r in results)
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------ compiled circuits

    def compile(self, tape) -> CompiledCircuit:
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

        >>> import math
        >>> dev = qml.device("qrl.torch", wires=1)
        >>> tape = qml.tape.QuantumScript([qml.RX(0.0, 0)], [qml.expval(qml.Z(0))])
        >>> circuit = dev.compile(tape)
        >>> round(float(circuit([torch.tensor(math.pi)])[0]), 4)
        -1.0
        """
        tapes, _ = self.preprocess_transforms()((tape,))
        if len(tapes) != 1:
            raise DeviceError("qrl.torch: this circuit preprocesses into several tapes and cannot be "
                              "compiled; call it through its QNode.")
        tape = tapes[0]
        if tape.operations and isinstance(tape.operations[0], StatePrepBase):
            raise DeviceError("qrl.torch: circuits that start with a state preparation are not "
                              "compiled; call them through their QNode.")
        for mp in tape.measurements:
            if mp.obs is not None and any(isinstance(d, torch.Tensor) for d in mp.obs.data):
                raise DeviceError("qrl.torch: parametrised observables are not compiled; call the "
                                  "circuit through its QNode.")
        wire_order = self.wires if self.wires is not None else tape.wires
        return CompiledCircuit(self.simulator, tape, wire_order)


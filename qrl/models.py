"""Quantum models: torch modules whose forward pass is ONE PennyLane QNode call.

:class:`VQC` wraps the data re-uploading circuit (:mod:`qrl.circuits`) with
trainable input scaling λ, variational angles θ and output scaling w, on any
backend of ``backends.yaml``. The heads used by the agents:

- :class:`ReuploadingPolicy`: softmax-PQC policy (Jerbi et al. 2021); logits β·wₐ·⟨Oₐ⟩.
- :class:`ReuploadingQNetwork`: Q-values wₐ·⟨Oₐ⟩ (Skolik et al. 2022).
- :class:`ReuploadingValue`: a state value w·⟨O⟩.

A batch of states goes through the circuit as one broadcast QNode call; on
``qrl.torch`` the circuit is compiled on the first call and later calls pass only
its angles to the device (same results and gradients, no tape per call).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, Sequence

import pennylane as qml
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import nn

from qrl import backends
from qrl.circuits import (ENTANGLERS, ROTATIONS, reuploading_circuit, reuploading_packed_parameters,
                          reuploading_parameters)
from qrl.devices.torch_device import TorchStatevectorDevice


def default_observables(n_outputs: int, n_qubits: int) -> tuple[list[str], torch.Tensor]:
    """Observables and the fixed sign/selection matrix that maps them to outputs.

    Two outputs share the all-qubit Z word with opposite signs (Jerbi et al.);
    otherwise output a reads Z on qubit a (and ZZ pairs once qubits run out).
    """
    all_z = "".join(f"Z{q}" for q in range(n_qubits))
    if n_outputs == 1:
        return [all_z], torch.ones(1, 1)
    if n_outputs == 2:
        return [all_z], torch.tensor([[1.0], [-1.0]])
    words = [f"Z{q}" for q in range(n_qubits)]
    words += [f"Z{a}Z{b}" for a in range(n_qubits) for b in range(a + 1, n_qubits)]
    if n_outputs > len(words):
        raise ValueError(f"{n_outputs} outputs need more distinct observables than {n_qubits} qubits give; "
                         "use more qubits or pass observables explicitly.")
    return words[:n_outputs], torch.eye(n_outputs)


class VQC(nn.Module):
    """Data re-uploading variational circuit with trainable input and output scaling.

    Args:
        n_inputs: features per input; feature j is encoded on qubit ``j % n_qubits``.
        n_outputs: outputs of the forward pass.
        n_qubits: qubits (wires).
        n_layers: encoding layers (there are ``n_layers + 1`` variational layers).
        backend: a ``backends.yaml`` entry name (default: the file's default), or a run's
            resolved :class:`qrl.backends.Backend` (entry, backends file and job ledger).
        rotations: variational rotations per qubit and layer, e.g. ``"xyz"`` or ``"zyz"``.
        entangler: ``"cz_ring"``, ``"cnot_ring"`` or ``"none"``.
        encoding: rotation axis of the input encoding: ``"rx"``, ``"ry"`` or ``"rz"``.
        observables: Pauli words such as ``["Z0Z1", "Z2Z3"]``; with ``readout`` (a
            [n_outputs, n_observables] matrix) they map to outputs. Default: see
            :func:`default_observables`.
        output_scaling: learn one weight per output (``True``), one weight shared by all
            outputs (``"shared"``) or keep outputs as is (``False``). A shared positive
            weight scales every output alike, so it moves no argmax: the greedy action of a
            Q-network then changes only with the circuit angles, not with each step of the
            (fast) output-scaling optimiser.
        output_scale_init: starting value of the output weights (default 1). A Q-network
            whose returns are near 1/(1 − γ) (CartPole: ~100) otherwise spends its first
            hundreds of updates growing the weight from 1 at the output-scaling lr. (On the
            CartPole VQ-DQN preset, starting at 100 was measured worse: BENCHMARKS.md, issue 4.)
        unit_expectations: map every ⟨O⟩ ∈ [−1, 1] to (1 + ⟨O⟩)/2 ∈ [0, 1] before the
            readout and output weights, as the TensorFlow Quantum Q-learning tutorial
            does (Q-values wₐ·(1 + ⟨Oₐ⟩)/2 start positive and share one sign).
        output_bias: learn one offset b added to every output (``y = b + wₐ·⟨Oₐ⟩``).
            It carries the mean of the target (CartPole's Q-values sit near 1/(1 − γ)),
            so the expectation values can stay in their responsive middle range
            instead of near ±1. It is shared by all outputs: it moves no argmax.
        output_bias_init: starting value of that bias (default 0). A Q-network started at
            the largest possible return (optimistic initialisation) learns from its first
            transitions which actions end an episode without reward: their targets are 0
            while every other target stays near γ·b, so the values carry information before
            the first reward is seen (FrozenLake: falling into a hole).
        backends_file: a backends file other than the default.
        compile: on ``qrl.torch``, compile the circuit once and afterwards pass only
            its angles to the device (:meth:`TorchStatevectorDevice.compile`): the
            same results and gradients, without rebuilding a tape per call. Other
            backends always go through the QNode.

    **Example**

    >>> model = VQC(n_inputs=4, n_outputs=2, n_qubits=4, n_layers=5, backend="default.qubit")
    >>> model.n_params
    94
    >>> model(torch.zeros(8, 4)).shape
    torch.Size([8, 2])
    """

    def __init__(self, n_inputs: int, n_outputs: int, n_qubits: int = 4, n_layers: int = 5,
                 backend: str | backends.Backend | None = None, rotations: str = "xyz", entangler: str = "cz_ring",
                 encoding: str = "rx", observables: Sequence[str] | None = None,
                 readout: torch.Tensor | None = None, output_scaling: bool | str = True,
                 output_scale_init: float = 1.0, unit_expectations: bool = False, output_bias: bool = False,
                 output_bias_init: float = 0.0, backends_file: str | None = None, compile: bool = True, **device_overrides):
        super().__init__()
        if entangler not in ENTANGLERS:
            raise ValueError(f"unknown entangler '{entangler}'; choose one of {', '.join(ENTANGLERS)}.")
        if not rotations or any(r not in ROTATIONS for r in rotations):
            raise ValueError(f"rotations '{rotations}' must be letters from 'xyz', e.g. 'xyz' or 'zyz'.")
        if encoding not in ("rx", "ry", "rz"):
            raise ValueError(f"unknown encoding '{encoding}'; choose rx, ry or rz.")
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.n_qubits, self.n_layers = n_qubits, n_layers
        where = backend if isinstance(backend, backends.Backend) else backends.Backend(backend, backends_file)
        self.backend = where.name or backends.default_name(backends_file or where.file)
        if observables is None:
            observables, readout = default_observables(n_outputs, n_qubits)
        elif readout is None:
            readout = torch.eye(len(observables))
        self.observables = list(observables)
        self.register_buffer("readout", torch.as_tensor(readout, dtype=torch.float32))
        if self.readout.shape != (n_outputs, len(self.observables)):
            raise ValueError(f"readout must have shape [{n_outputs}, {len(self.observables)}].")

        self.input_scaling = nn.Parameter(torch.ones(n_layers, n_inputs))
        self.weights = nn.Parameter(torch.rand(n_layers + 1, n_qubits, len(rotations)) * math.pi)
        if output_scaling not in (True, False, "shared"):
            raise ValueError(f"output_scaling must be true, false or 'shared', not {output_scaling!r}.")
        n_scales = 1 if output_scaling == "shared" else n_outputs
        self.output_scaling = nn.Parameter(torch.full((n_scales,), float(output_scale_init))) \
            if output_scaling else None
        self.output_bias = nn.Parameter(torch.full((1,), float(output_bias_init))) if output_bias else None
        self.unit_expectations = unit_expectations

        self._structure = dict(n_qubits=n_qubits, rotations=rotations, entangler=entangler,
                               encoding=encoding)

        def circuit(x, input_scaling, weights):
            return reuploading_circuit(x, input_scaling, weights, observables=self.observables,
                                       **self._structure)

        self.qnode = backends.qnode(circuit, where, n_qubits, backends_file, **device_overrides)
        self._compiled = None if compile and isinstance(self.qnode, qml.QNode) and isinstance(
            self.qnode.device, TorchStatevectorDevice) else False

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role, so agents can give λ, θ and w their own learning rates."""
        groups = {"input_scaling": [self.input_scaling], "weights": [self.weights]}
        if self.output_scaling is not None:
            groups["output_scaling"] = [self.output_scaling]
        if self.output_bias is not None:
            groups["output_bias"] = [self.output_bias]
        return groups

    def expectations(self, x: torch.Tensor) -> torch.Tensor:
        """⟨O_k⟩ for a batch: shape [batch, n_observables]; one QNode call."""
        squeeze = x.dim() == 1
        x = x.reshape(-1, self.n_inputs)
        dtype = self.weights.dtype
        x = x.to(dtype)
        if self._compiled is not False:
            out = self._run_compiled(x)
        else:
            out = self.qnode(x, self.input_scaling, self.weights)
        out = torch.stack([torch.as_tensor(o) for o in out], dim=-1) if isinstance(out, (list, tuple)) \
            else torch.as_tensor(out).reshape(-1, 1)
        out = out.to(dtype).reshape(x.shape[0], len(self.observables))
        return out[0] if squeeze else out

    def _run_compiled(self, x: torch.Tensor):
        """Expectations from the compiled circuit (compiled, and checked, on the first call)."""
        fixed, broadcast = reuploading_packed_parameters(x, self.input_scaling, self.weights)
        if self._compiled is None:
            tape = qml.workflow.construct_tape(self.qnode)(x, self.input_scaling, self.weights)
            compiled = self.qnode.device.compile(tape)
            angles = reuploading_parameters(x, self.input_scaling, self.weights, **self._structure)
            traced = compiled.pack(compiled.traced_parameters)
            same = len(angles) == compiled.n_params and all(
                a is not None and b is not None and a.shape == b.shape and torch.allclose(a.double(), b.double())
                for a, b in zip((fixed, broadcast), traced))
            if not same:  # the device rewrote the circuit: its parameters are not ours in order
                warnings.warn("qrl.torch did not compile this circuit as written; using the QNode.")
                self._compiled = False
                return self.qnode(x, self.input_scaling, self.weights)
            self._compiled = compiled
        return self._compiled.expvals(fixed, broadcast)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expectations = self.expectations(x)
        if self.unit_expectations:
            expectations = (1.0 + expectations) / 2.0
        y = expectations @ self.readout.T
        if self.output_scaling is not None:
            y = y * self.output_scaling
        if self.output_bias is not None:
            y = y + self.output_bias
        return y


class ReuploadingPolicy(nn.Module):
    """Softmax-PQC policy (Jerbi et al. 2021): π(a|s) ∝ exp(β · wₐ · ⟨Oₐ⟩_s).

    **Example**

    >>> pi = ReuploadingPolicy(obs_dim=4, n_actions=2, backend="default.qubit")
    >>> pi.n_params, [round(p, 5) for p in pi.distribution(torch.zeros(3, 4)).probs.sum(-1).tolist()]
    (94, [1.0, 1.0, 1.0])
    """

    def __init__(self, obs_dim: int, n_actions: int, n_qubits: int | None = None, n_layers: int = 5,
                 beta: float = 1.0, backend: str | backends.Backend | None = None, **vqc_kwargs):
        super().__init__()
        self.beta = beta
        self.vqc = VQC(obs_dim, n_actions, n_qubits or obs_dim, n_layers, backend, **vqc_kwargs)

    n_params = VQC.n_params

    def parameter_groups(self):
        return self.vqc.parameter_groups()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits, shape [batch, n_actions]."""
        return self.beta * self.vqc(obs)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.forward(obs))


class ReuploadingQNetwork(nn.Module):
    """Q-values wₐ·⟨Oₐ⟩ from a re-uploading circuit (Skolik et al. 2022).

    With four qubits and two actions the observables are Z0Z1 and Z2Z3, as in the paper.
    """

    def __init__(self, obs_dim: int, n_actions: int, n_qubits: int | None = None, n_layers: int = 5,
                 backend: str | backends.Backend | None = None, **vqc_kwargs):
        super().__init__()
        n_qubits = n_qubits or obs_dim
        if "observables" not in vqc_kwargs and n_qubits == 2 * n_actions:
            vqc_kwargs["observables"] = [f"Z{2 * a}Z{2 * a + 1}" for a in range(n_actions)]
        self.vqc = VQC(obs_dim, n_actions, n_qubits, n_layers, backend, **vqc_kwargs)

    n_params = VQC.n_params

    def parameter_groups(self):
        return self.vqc.parameter_groups()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.vqc(obs)


class ReuploadingValue(nn.Module):
    """A state value w·⟨Z…Z⟩ from a re-uploading circuit, shape [batch]."""

    def __init__(self, obs_dim: int, n_qubits: int | None = None, n_layers: int = 5,
                 backend: str | backends.Backend | None = None, **vqc_kwargs):
        super().__init__()
        self.vqc = VQC(obs_dim, 1, n_qubits or obs_dim, n_layers, backend, **vqc_kwargs)

    n_params = VQC.n_params

    def parameter_groups(self):
        return self.vqc.parameter_groups()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.vqc(obs).squeeze(-1)


class VQCSpec(BaseModel):
    """The keys of ``{type: vqc, ...}`` for a Q-network or a value head."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["vqc"] = Field("vqc", description="a data re-uploading circuit")
    n_qubits: PositiveInt | None = Field(None, description="qubits (default: one per observation entry)")
    n_layers: PositiveInt = Field(5, description="encoding + variational layers")
    rotations: str = Field("xyz", pattern="^[xyz]+$", description="variational rotation axes, e.g. xyz or zyz")
    entangler: Literal[ENTANGLERS] = Field("cz_ring", description="entangling pattern between layers")
    encoding: Literal["rx", "ry", "rz"] = Field("rx", description="gate encoding each scaled input")
    observables: list[str] | None = Field(None, description="Pauli words read out, e.g. [Z0Z1, Z2Z3]")
    readout: list[list[float]] | None = Field(None, description="matrix mapping observables to outputs")
    output_scaling: bool | Literal["shared"] = Field(True, description="trainable output weights; "
                                                                        "'shared' for one weight")
    output_scale_init: float = Field(1.0, description="initial output weight")
    unit_expectations: bool = Field(False, description="map expectations from [-1, 1] to [0, 1]")
    output_bias: bool = Field(False, description="add one trainable bias to every output")
    output_bias_init: float = Field(0.0, description="initial value of that bias (optimistic Q-values: the "
                                                     "largest return)")
    backends_file: str | None = Field(None, description="backends.yaml to resolve the backend in")
    compile: bool = Field(True, description="compile the circuit once on qrl.torch")
    # Device settings qrl evaluate passes to qrl.qiskit targets; a preset may not set them (qrl.training
    # refuses them: a run's circuits use its backends file and job ledger). The backend itself is
    # build_model's argument, never a spec key.
    ledger: str | None = Field(None, description="job ledger (sqlite) of a qrl.qiskit device")
    run_id: str | None = Field(None, description="run id recorded with each hardware job")
    dry_run: bool = Field(False, description="count the jobs a qrl.qiskit device would submit; submit none")
    budget: dict[str, float] | None = Field(None, description="jobs / shots / qpu_seconds limits")
    # The other qrl.qiskit device options (OPTIONS in qrl/devices/qiskit_device.py, which checks their
    # values), for running a trained circuit elsewhere, e.g.
    # load_agent(run, backend="aer.fast", fake_backend="FakeManilaV2").
    shots: PositiveInt | None = Field(None, description="shots per circuit on a sampling target")
    target: Any = Field(None, description="qrl.qiskit target: aer, fake or ibm")
    fake_backend: Any = Field(None, description="IBM fake backend whose noise and coupling map to use")
    ibm_backend: Any = Field(None, description="IBM backend name or least_busy")
    channel: Any = Field(None, description="IBM Quantum channel")
    method: Any = Field(None, description="Aer simulation method")
    mode: Any = Field(None, description="Runtime execution mode: job, batch or session")
    resilience_level: Any = Field(None, description="Runtime resilience level")
    measure_mitigation: Any = Field(None, description="Runtime TREX readout mitigation")
    zne: Any = Field(None, description="zero-noise extrapolation settings")
    dynamical_decoupling: Any = Field(None, description="Runtime dynamical decoupling")
    twirling: Any = Field(None, description="Runtime Pauli twirling")
    seed: Any = Field(None, description="simulator seed of the device")
    optimization_level: Any = Field(None, description="transpiler optimisation level")
    retry: Any = Field(None, description="retry and backoff settings for jobs")
    pec: Any = Field(None, description="probabilistic error cancellation settings")
    entry: Any = Field(None, description="backends.yaml entry name recorded by the device")


class VQCPolicySpec(VQCSpec):
    """The keys of ``{type: vqc, ...}`` for a softmax policy head."""

    beta: float = Field(1.0, description="inverse temperature of the softmax")


def _register() -> None:
    """Let config-driven algorithms build circuits with ``model: {type: vqc}``."""
    from classical.rl.models import register_model

    register_model("vqc", "policy", ReuploadingPolicy, VQCPolicySpec)
    register_model("vqc", "q", ReuploadingQNetwork, VQCSpec)
    register_model("vqc", "value", lambda obs_dim, _n_out=1, **kw: ReuploadingValue(obs_dim, **kw), VQCSpec)


_register()

import qrl.algorithms.quantum_replay  # noqa: E402,F401  (registers replay: {type: quantum})

"""Execution targets behind the ``qrl.qiskit`` device: Aer, IBM fake backends, IBM Quantum.

Every target takes a list of :class:`EstimatorTask` (a circuit structure, its
observables and a ``[rows, parameters]`` array of angles) and runs them all as ONE
primitive job with one PUB per task. ISA circuits are cached per backend and
structure for the whole process (:func:`isa_circuit`), so a structure is transpiled
once however many steps a run takes.

- ``AerTarget`` exact (``shots=None``): ``AerSimulator`` with ``save_expectation_value``
  (statevector, or density matrix when a fake backend's noise model is attached) —
  analytic expectation values, the same as Aer's ``EstimatorV2`` at precision 0 but
  without its per-row overhead.
- ``AerTarget`` with shots: Aer runs measurement circuits (one per group of qubit-wise
  commuting Pauli terms) with a parameter array — real shot statistics from counts, seeded.
- ``RuntimeTarget``: Qiskit Runtime ``EstimatorV2`` on an IBM fake backend (local testing
  mode) or a real IBM backend, in job, batch or session mode, with Runtime's mitigation
  options.

**Example**

>>> target = AerTarget(fake_backend=None)
>>> job = target.submit([task], shots=None, seed=1)   # doctest: +SKIP
>>> values = target.result(job)     # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qrl.hardware.circuits import CircuitStructure, observables_key
from qrl.hardware.retry import HardwareError

TRANSPILE_CALLS: Counter = Counter()
"""Number of pass-manager runs per backend name in this process (tests and benchmarks read it)."""

_ISA_CACHE: dict[tuple, object] = {}
_ISA_LOCK = threading.Lock()

IBM_ACCOUNT_HELP = (
    "no IBM Quantum account is configured: set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE, "
    "optionally QISKIT_IBM_CHANNEL) in the environment, or save one once with "
    "QiskitRuntimeService.save_account(token=..., instance=...)"
)


class CredentialsError(HardwareError):
    """No IBM Quantum account could be found or used (message says how to configure one)."""


IBM_ACCOUNT_FIX = (
    "check QISKIT_IBM_TOKEN (an API key from quantum.cloud.ibm.com), QISKIT_IBM_INSTANCE (the "
    "instance CRN or name) and QISKIT_IBM_CHANNEL, or the account saved with "
    "QiskitRuntimeService.save_account(...)"
)


def account_error(exc: BaseException, entry: str | None = None) -> CredentialsError:
    """One line for a failure to open an IBM Quantum account: what happened, the entry, the fix.

    The token never appears in it (the text goes through :func:`qrl.hardware.secrets.redact`).
    """
    from qrl.hardware.secrets import redact

    where = f"backend '{entry}': " if entry else ""
    if isinstance(exc, CredentialsError):
        return CredentialsError(redact(f"{where}{exc}"))
    name = type(exc).__name__
    detail = (str(exc).strip().splitlines() or [""])[0].strip()[:200]
    if isinstance(exc, (AttributeError, TypeError, ValueError, KeyError)) and not name.startswith("IBM"):
        what = "IBM Quantum account settings are malformed"
    elif "Account" in name or "NotAuthorized" in name or "CloudResourceName" in name:
        what = "IBM Quantum rejected the account"
    else:
        what = "IBM Quantum could not be reached"
    reason = f"{name}: {detail}" if detail else name
    return CredentialsError(redact(f"{where}{what} ({reason}); {IBM_ACCOUNT_FIX}."))


@dataclass
class EstimatorTask:
    """One PUB: a structure, its observables on the logical qubits, and angle rows.

    Attributes:
        structure: The circuit structure (gates with parameter slots).
        observables: One ``SparsePauliOp`` per measured observable (logical qubits).
        rows: ``[n_rows, structure.n_parameters]`` angles; one circuit execution per row.
    """

    structure: CircuitStructure
    observables: list
    rows: np.ndarray


def fake_backend_by_name(name: str):
    """Instantiates ``qiskit_ibm_runtime.fake_provider.<name>`` (e.g. ``FakeManilaV2``)."""
    from qiskit_ibm_runtime import fake_provider

    cls = getattr(fake_provider, name, None)
    if cls is None or not name.startswith("Fake"):
        raise ValueError(
            f"fake_backend {name!r} is not in qiskit_ibm_runtime.fake_provider; "
            "use a name such as FakeManilaV2 or FakeBrisbane."
        )
    return cls()


def isa_circuit(backend_key: str, backend, structure: CircuitStructure, suffix=None,
                optimization_level: int = 1, seed: int | None = None, build=None):
    """The transpiled (ISA) circuit for ``structure`` on ``backend``, built once per process.

    Args:
        backend_key: Name that identifies the backend in the cache and in TRANSPILE_CALLS.
        backend: Qiskit backend (or None: the logical circuit is used as is).
        structure: Circuit structure to transpile.
        suffix: Extra cache key for variants of the structure (e.g. a measurement basis).
        optimization_level: Preset pass-manager level (0 keeps folded gates for ZNE).
        seed: ``seed_transpiler`` so layouts are reproducible.
        build: Callable returning the logical circuit (default ``structure.to_qiskit``).
    """
    key = (backend_key, structure.key, suffix, optimization_level, seed)
    with _ISA_LOCK:
        if key in _ISA_CACHE:
            return _ISA_CACHE[key]
        circuit = (build or structure.to_qiskit)()
        if backend is not None:
            from qiskit.transpiler import generate_preset_pass_manager

            pass_manager = generate_preset_pass_manager(
                optimization_level=optimization_level, backend=backend, seed_transpiler=seed
            )
            circuit = pass_manager.run(circuit)
        TRANSPILE_CALLS[backend_key] += 1
        _ISA_CACHE[key] = circuit
        return circuit


def map_rows(isa, rows: np.ndarray) -> np.ndarray:
    """Columns of ``rows`` (logical parameter order θ[0..]) in the ISA circuit's order.

    Transpilation may drop a parameter that no longer affects the circuit; its column
    is dropped too.
    """
    order = [p.index for p in isa.parameters]
    return rows[:, order]


def map_observables(isa, observables):
    """Observables moved to the physical qubits chosen by the layout of ``isa``."""
    if isa.layout is None:
        return observables
    return [o.apply_layout(isa.layout) for o in observables]


def _pub_observables(observables):
    # shape (M, 1) against bindings of shape (N,) -> expectation values of shape (M, N)
    return [[o] for o in observables]


class AerTarget:
    """Aer simulator, ideal or with an IBM fake backend's noise model and coupling map.

    Args:
        fake_backend: Name in ``qiskit_ibm_runtime.fake_provider`` for noise and layout, or None.
        method: Aer simulation method (``"automatic"`` picks statevector when ideal and
            density_matrix when noisy for exact expectation values).
        optimization_level: Preset pass-manager level.
    """

    kind = "aer"

    def __init__(self, fake_backend: str | None = None, method: str = "automatic",
                 optimization_level: int = 1):
        from qiskit_aer import AerSimulator

        self.fake_backend_name = fake_backend
        self.optimization_level = optimization_level
        if fake_backend:
            self.fake = fake_backend_by_name(fake_backend)
            self.simulator = AerSimulator.from_backend(self.fake)
            self.backend_name = f"aer+{fake_backend}"
            self.exact_method = "density_matrix" if method == "automatic" else method
        else:
            self.fake = None
            self.simulator = AerSimulator(method="statevector" if method == "automatic" else method)
            self.backend_name = "aer"
            self.exact_method = "statevector" if method == "automatic" else method
        self.shots_method = "automatic" if method == "automatic" else method
        self._expval_circuits: dict = {}

    def _isa(self, structure, suffix=None, build=None):
        return isa_circuit(self.backend_name, self.fake, structure, suffix,
                           self.optimization_level, seed=0, build=build)

    def submit(self, tasks: list[EstimatorTask], shots: int | None, seed: int | None):
        if shots is None:
            return self._submit_exact(tasks, seed)
        return self._submit_sampled(tasks, shots, seed)

    def _simulator(self, method):
        from qiskit_aer import AerSimulator

        # binding parameters inside Aer (no circuit copy per row) and no gate fusion (which
        # would run again for every row) make the many-row PUBs of parameter-shift cheap
        options = {"method": method, "runtime_parameter_bind_enable": True,
                   "fusion_enable": False}
        if self.fake is not None:
            options["noise_model"] = self.simulator.options.noise_model
        return AerSimulator(**options)

    def _submit_exact(self, tasks, seed):
        # AerSimulator with save_expectation_value: exact expectation values (the same thing
        # Aer's EstimatorV2 does at precision 0, without its per-row Python overhead)
        circuits, binds, sizes = [], [], []
        for task in tasks:
            isa = self._isa(task.structure)
            key = (id(isa), observables_key(task.observables))
            circuit = self._expval_circuits.get(key)
            if circuit is None:
                circuit = isa.copy()
                for m, obs in enumerate(map_observables(isa, task.observables)):
                    circuit.save_expectation_value(obs, range(isa.num_qubits), label=f"e{m}")
                self._expval_circuits[key] = circuit
            rows = map_rows(isa, task.rows)
            circuits.append(circuit)
            binds.append({p: rows[:, k] for k, p in enumerate(isa.parameters)})
            sizes.append((len(task.rows), len(task.observables), isa.num_parameters))
        run_options = {"seed_simulator": seed} if seed is not None else {}
        job = self._simulator(self.exact_method).run(circuits, parameter_binds=binds,
                                                     **run_options)
        return ("expval", job, sizes)

    def _submit_sampled(self, tasks, shots, seed):
        # one Aer run of every measurement circuit with its parameter array; counts (not
        # per-shot memory, which SamplerV2 converts slowly) give the same expectation values
        circuits, binds, plan = [], [], []
        for task in tasks:
            task_plan = []
            for basis, labels in measurement_groups(task.observables):
                isa = self._isa(task.structure, suffix=("measure", basis),
                                build=lambda b=basis, s=task.structure: measurement_circuit(s, b))
                rows = map_rows(isa, task.rows)
                task_plan.append((len(circuits), labels, len(task.rows), isa.num_parameters))
                circuits.append(isa)
                binds.append({p: rows[:, k] for k, p in enumerate(isa.parameters)})
            plan.append(task_plan)
        run_options = {"seed_simulator": seed} if seed is not None else {}
        job = self._simulator(self.shots_method).run(circuits, parameter_binds=binds,
                                                     shots=shots, **run_options)
        return ("counts", job, (plan, [t.observables for t in tasks], shots))

    @staticmethod
    def job_id(handle) -> str:
        return handle[1].job_id()

    @staticmethod
    def result(handle) -> list[np.ndarray]:
        kind, job, extra = handle
        result = job.result()
        if kind == "expval":
            if not result.success:
                raise RuntimeError(f"Aer job failed: {result.status}")
            out, start = [], 0
            for n_rows, n_obs, n_params in extra:
                count = n_rows if n_params else 1  # a parameter-free circuit runs once
                block = result.results[start:start + count]
                start += count
                values = np.array([[getattr(r.data, f"e{m}") for m in range(n_obs)]
                                   for r in block]).T
                out.append(np.broadcast_to(values, (n_obs, n_rows)).copy())
            return out
        if not result.success:
            raise RuntimeError(f"Aer job failed: {result.status}")
        plan, observables, shots = extra
        starts = np.cumsum([0] + [n_rows if n_params else 1
                                  for task_plan in plan for _, _, n_rows, n_params in task_plan])
        return [
            expectations_from_counts(result, task_plan, task_obs, starts, shots)
            for task_plan, task_obs in zip(plan, observables)
        ]

    @staticmethod
    def usage(handle) -> float | None:
        return None

    def executions(self, tasks, shots) -> int:
        """Circuit executions (rows x measurement groups) the tasks would run."""
        groups = 1 if shots is None else None
        return sum(len(t.rows) * (groups or len(measurement_groups(t.observables))) for t in tasks)


def measurement_groups(observables):
    """Qubit-wise commuting groups of all Pauli terms in ``observables``.

    Returns:
        list of ``(basis, labels)``: ``basis`` is one letter per qubit (qiskit order,
        ``"I"``/``"X"``/``"Y"``/``"Z"``), ``labels`` the Pauli labels measured by it.
    """
    from qiskit.quantum_info import PauliList

    labels = sorted({label for o in observables for label in o.paulis.to_labels()})
    groups = []
    for group in PauliList(labels).group_qubit_wise_commuting():
        group_labels = group.to_labels()
        width = len(group_labels[0])
        basis = "".join(
            next((lab[i] for lab in group_labels if lab[i] != "I"), "Z") for i in range(width)
        )
        groups.append((basis, group_labels))
    return groups


def measurement_circuit(structure: CircuitStructure, basis: str):
    """``structure`` followed by rotations into ``basis`` and a measurement of every qubit."""
    circuit = structure.to_qiskit()
    n = structure.n_qubits
    for qubit in range(n):
        letter = basis[n - 1 - qubit]  # labels are little-endian: last letter is qubit 0
        if letter == "X":
            circuit.h(qubit)
        elif letter == "Y":
            circuit.sdg(qubit)
            circuit.h(qubit)
    circuit.measure_all()
    return circuit


def expectations_from_counts(result, task_plan, observables, starts, shots) -> np.ndarray:
    """Expectation values ``[observables, rows]`` from the counts of one task's circuits.

    ``starts[c]`` is the index of circuit ``c``'s first experiment in ``result.results``.
    Counts keys are hex integers whose bit ``q`` is the measured logical qubit ``q``.
    """
    term_values = {}
    n_rows = task_plan[0][2]
    for circuit_index, labels, _, n_params in task_plan:
        block = result.results[starts[circuit_index]:starts[circuit_index + 1]]
        counts = [r.data.counts for r in block]
        outcomes = [np.array([int(k, 16) for k in c], dtype=np.int64) for c in counts]
        weights = [np.array(list(c.values()), dtype=float) / shots for c in counts]
        for label in labels:
            mask = sum(1 << q for q, c in enumerate(reversed(label)) if c != "I")
            values = np.array([
                np.dot(w, 1 - 2 * (np.bitwise_count(o & mask).astype(np.int64) & 1)) if hasattr(np, "bitwise_count")
                else np.dot(w, [1 - 2 * (bin(int(v) & mask).count("1") & 1) for v in o])
                for o, w in zip(outcomes, weights)
            ])
            term_values[label] = np.broadcast_to(values, (n_rows,)) if not n_params else values
    out = []
    for o in observables:
        value = np.zeros(n_rows)
        for label, coeff in zip(o.paulis.to_labels(), o.coeffs):
            value += float(np.real(coeff)) * (1.0 if set(label) == {"I"} else term_values[label])
        out.append(value)
    return np.stack(out)


def connect_service(channel: str | None = None):
    """A ``QiskitRuntimeService`` from the environment or a saved account.

    Reads ``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE`` and ``QISKIT_IBM_CHANNEL``; with no
    token, falls back to the saved default account. The token is passed to the service
    only; it is never stored by qrl.

    Raises:
        CredentialsError: No account is configured (the message says how to configure one).
    """
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    token = os.environ.get("QISKIT_IBM_TOKEN")
    channel = channel or os.environ.get("QISKIT_IBM_CHANNEL") or None
    instance = os.environ.get("QISKIT_IBM_INSTANCE") or None
    try:
        if token:
            return QiskitRuntimeService(
                channel=channel or "ibm_quantum_platform", token=token, instance=instance
            )
        return QiskitRuntimeService(channel=channel, instance=instance)
    except AccountNotFoundError:
        raise CredentialsError(IBM_ACCOUNT_HELP) from None
    except Exception as exc:  # noqa: BLE001  (transient ones are retried by the caller; the rest are the account's)
        from qrl.hardware.retry import is_transient

        if is_transient(exc):
            raise
        raise account_error(exc) from None


class RuntimeTarget:
    """Qiskit Runtime ``EstimatorV2`` on an IBM fake backend (local testing mode) or IBM Quantum.

    Args:
        backend: A backend object (fake backend or ``IBMBackend``).
        backend_name: Name recorded in the ledger.
        mode: ``"job"`` (default), ``"batch"`` or ``"session"`` (Open Plan cannot open sessions).
        runtime_options: Mapping applied to ``EstimatorV2.options`` (see
            :func:`qrl.hardware.mitigation.runtime_options`).
        service: The ``QiskitRuntimeService`` (None for fake backends); used to fetch jobs.
        optimization_level: Preset pass-manager level.
    """

    kind = "runtime"

    def __init__(self, backend, backend_name: str, mode: str = "job", runtime_options=None,
                 service=None, optimization_level: int = 1):
        self.backend = backend
        self.backend_name = backend_name
        self.mode = mode
        self.runtime_options = dict(runtime_options or {})
        self.service = service
        self.optimization_level = optimization_level
        self._context = None

    def _mode(self):
        if self.mode == "job":
            return self.backend
        if self._context is None:
            from qiskit_ibm_runtime import Batch, Session

            self._context = (Batch if self.mode == "batch" else Session)(backend=self.backend)
        return self._context

    def close(self):
        if self._context is not None:
            try:
                self._context.close()
            finally:
                self._context = None

    def _estimator(self, seed):
        from qiskit_ibm_runtime import EstimatorV2

        estimator = EstimatorV2(mode=self._mode())
        from qrl.hardware.mitigation import apply_runtime_options

        apply_runtime_options(estimator.options, self.runtime_options)
        if seed is not None and self.service is None:
            estimator.options.simulator.seed_simulator = seed
        return estimator

    def submit(self, tasks: list[EstimatorTask], shots: int | None, seed: int | None):
        assert shots, "Runtime targets need shots (validated by the device)"
        pubs = []
        for task in tasks:
            isa = isa_circuit(self.backend_name, self.backend, task.structure, None,
                              self.optimization_level, seed=0)
            pubs.append((isa, _pub_observables(map_observables(isa, task.observables)),
                         map_rows(isa, task.rows)))
        import warnings

        with warnings.catch_warnings():
            # local testing mode warns that Runtime-only options have no effect; the device
            # reports this once itself
            warnings.filterwarnings("ignore", message=".*no effect in local testing mode.*")
            return self._estimator(seed).run(pubs, precision=1.0 / np.sqrt(shots))

    @staticmethod
    def job_id(job) -> str:
        return job.job_id()

    def result(self, job) -> list[np.ndarray]:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no effect in local testing mode.*")
            result = job.result()
        return [np.asarray(r.data.evs, dtype=float) for r in result]

    @staticmethod
    def usage(job) -> float | None:
        try:
            seconds = job.usage()
        except Exception:  # usage is informational; some job types cannot report it
            return None
        return float(seconds) if seconds is not None else None

    def fetch(self, job_id: str):
        """The job ``job_id`` from the service (None when jobs cannot be fetched, e.g. local)."""
        if self.service is None:
            return None
        return self.service.job(job_id)

    def executions(self, tasks, shots) -> int:
        return sum(len(t.rows) * len(measurement_groups(t.observables)) for t in tasks)

"""``qrl.qiskit``: a PennyLane device that runs a whole QNode call as ONE Qiskit primitive job.

pennylane-qiskit turns every tape into its own primitive call and re-transpiles on
every call; a forward+backward of a batch of 8 states through a 4-qubit, 5-layer
policy takes ~44 s there. This device instead:

- groups all tapes of a call (every state of a broadcast batch and, when gradients
  are needed, every parameter-shift evaluation) by circuit structure and submits
  them as one job with one PUB per structure and the angles as a parameter array;
- computes parameter-shift Jacobians itself (broadcast trainable parameters
  included), so a forward+backward through torch is one job (two if the QNode sets
  ``grad_on_execution=False``);
- transpiles each structure once per backend per process (ISA circuit plus layout,
  observables mapped with ``SparsePauliOp.apply_layout``);
- records every job in a SQLite ledger, reuses finished jobs after a restart,
  retries transient failures, enforces budgets and can dry-run.

Targets: ``aer`` (Aer; exact with ``shots=None``, sampled with shots; noisy with
``fake_backend``), ``fake`` (Qiskit Runtime local testing mode on an IBM fake backend)
and ``ibm`` (IBM Quantum through ``QiskitRuntimeService``, credentials from the
environment or a saved account).

**Example**

.. code-block:: python

    import pennylane as qp, torch

    dev = qp.device("qrl.qiskit", wires=2, target="aer", seed=7)

    @qp.qnode(dev, interface="torch", diff_method="parameter-shift")
    def circuit(x, w):
        qp.RX(x, wires=0)
        qp.RY(w, wires=0)
        qp.CNOT([0, 1])
        return qp.expval(qp.Z(0)), qp.expval(qp.Z(1))

    x = torch.rand(32, requires_grad=True)          # a batch of 32 inputs
    w = torch.tensor(0.3, requires_grad=True)
    torch.stack(circuit(x, w)).sum().backward()    # one Aer job in total
    dev.stats["jobs"]                               # 1
"""

from __future__ import annotations

import hashlib
import logging
import sys
import warnings
from collections import Counter, OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pennylane as qp
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.preprocess import (decompose, validate_device_wires,
                                          validate_measurements, validate_observables)
from pennylane.measurements import ExpectationMP
from pennylane.transforms.core import CompilePipeline

from qrl.hardware.budget import Budget, estimate_qpu_seconds
from qrl.hardware.circuits import (CircuitStructure, is_supported_operation, observables_key,
                                   parameter_rows, pauli_observables, shift_terms)
from qrl.hardware.mitigation import (local_zne_transform, mitigation_cost_factor,
                                     runtime_options, validate_zne)
from qrl.hardware.retry import (JobFailedError, RetryPolicy, call_with_retries,
                                is_job_failure, is_transient)
from qrl.hardware.runtime import CredentialsError, EstimatorTask

log = logging.getLogger(__name__)

TARGETS = ("aer", "fake", "ibm")
MODES = ("job", "batch", "session")
AER_METHODS = ("automatic", "statevector", "density_matrix", "matrix_product_state")
DRY_RUN_STAND_IN = "FakeBrisbane"
OPTIONS = ("target", "fake_backend", "ibm_backend", "channel", "method", "mode",
           "resilience_level", "measure_mitigation", "zne", "dynamical_decoupling", "twirling",
           "budget", "ledger", "run_id", "seed", "optimization_level", "dry_run", "retry", "pec", "entry")


def _is_expval(m) -> bool:
    return isinstance(m, ExpectationMP)


class QiskitPrimitivesDevice(Device):
    """PennyLane device running QNode calls as single Qiskit primitive jobs.

    Args:
        wires: Number or labels of wires.
        target: ``"aer"``, ``"fake"`` (Runtime local testing mode) or ``"ibm"``.
        fake_backend: ``qiskit_ibm_runtime.fake_provider`` name (e.g. ``"FakeManilaV2"``):
            the noise and coupling map for ``aer``, the backend for ``fake``, the stand-in
            used by an ``ibm`` dry run without an account.
        ibm_backend: IBM backend name or ``"least_busy"`` (``ibm`` target).
        channel: Runtime channel (default from ``QISKIT_IBM_CHANNEL`` or the saved account).
        method: Aer simulation method.
        mode: ``"job"`` (default), ``"batch"`` or ``"session"`` (Runtime targets).
        resilience_level, measure_mitigation, zne, dynamical_decoupling, twirling, pec: Runtime
            ``EstimatorV2`` options (measure_mitigation is TREX, pec probabilistic error
            cancellation); on ``aer`` only ``zne`` is allowed and runs through PennyLane's folding
            and extrapolation.
        budget: ``{shots, qpu_seconds, jobs}`` limits for the run (ledger totals count).
        ledger: SQLite file (or run directory, then ``<dir>/jobs.sqlite``) recording jobs.
        run_id: Name of the run in the ledger (part of every job key).
        seed: Seed for simulators and transpilation.
        optimization_level: Preset pass-manager level (0 is used for local ZNE).
        dry_run: Record and print what would be submitted, submit nothing, return
            ideal simulated values so the calling program runs through.
        retry: ``{attempts, base_seconds, cap_seconds}`` for transient failures.
    """

    name = "qrl.qiskit"

    def __init__(self, wires=None, shots=None, **options):
        super().__init__(wires=wires, shots=shots)
        if self.wires is None:
            raise ValueError("wires is required for qrl.qiskit, e.g. wires=4.")
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(
                f"qrl.qiskit has no option {unknown[0]!r}; valid options are {', '.join(OPTIONS)}."
            )
        o = {k: options.get(k) for k in OPTIONS}
        self.target_name = o["target"] or "aer"
        if self.target_name not in TARGETS:
            raise ValueError(f"target {self.target_name!r} is unknown; use aer, fake or ibm.")
        self.fake_backend = o["fake_backend"]
        if self.target_name == "fake" and not self.fake_backend:
            raise ValueError("target fake needs fake_backend, e.g. fake_backend: FakeManilaV2.")
        if self.fake_backend:
            from qrl.hardware.runtime import fake_backend_by_name

            n_physical = fake_backend_by_name(self.fake_backend).num_qubits
            if len(self.wires) > n_physical:
                raise ValueError(
                    f"{len(self.wires)} wires do not fit on {self.fake_backend} "
                    f"({n_physical} qubits); use fewer qubits or a larger fake_backend."
                )
        self.ibm_backend = o["ibm_backend"] or "least_busy"
        self.entry = o["entry"]  # the backends.yaml entry, named in account errors
        self.channel = o["channel"]
        self.method = o["method"] or "automatic"
        if self.method not in AER_METHODS:
            raise ValueError(f"method {self.method!r} is unknown; use one of {', '.join(AER_METHODS)}.")
        self.mode = o["mode"] or "job"
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is unknown; use job, batch or session.")
        if self.mode != "job" and self.target_name == "aer":
            raise ValueError("mode applies to the fake and ibm targets only; remove it for aer.")
        self.zne = validate_zne(o["zne"])
        self.runtime_options = runtime_options(
            o["resilience_level"], o["measure_mitigation"], o["zne"], o["dynamical_decoupling"],
            o["twirling"], o["pec"])
        if self.target_name == "aer" and set(self.runtime_options) - {"resilience"} or (
                self.target_name == "aer"
                and set(self.runtime_options.get("resilience", {})) - {"zne", "zne_mitigation"}):
            raise ValueError(
                "resilience_level, measure_mitigation, pec, dynamical_decoupling and twirling are "
                "Runtime options for the fake and ibm targets; on aer use zne only (PEC for a "
                "known Pauli noise model on Aer is qrl.pec)."
            )
        self.budget = Budget.from_option(o["budget"])
        self.run_id = str(o["run_id"] or "default")
        self.seed = o["seed"]
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer or null, not {self.seed!r}.")
        level = o["optimization_level"]
        self.optimization_level = 1 if level is None else level
        if self.optimization_level not in (0, 1, 2, 3):
            raise ValueError("optimization_level must be 0, 1, 2 or 3.")
        if self.zne and self.target_name == "aer":
            self.optimization_level = 0  # higher levels cancel the folded gate pairs
        self.dry_run = bool(o["dry_run"])
        retry = o["retry"] or {}
        if not isinstance(retry, dict) or set(retry) - {"attempts", "base_seconds", "cap_seconds"}:
            raise ValueError("retry must be a mapping with attempts, base_seconds and cap_seconds.")
        self.retry_policy = RetryPolicy(**retry)
        self.ledger_path = None
        if o["ledger"]:
            path = Path(o["ledger"])
            self.ledger_path = path / "jobs.sqlite" if path.suffix == "" else path
        self._ledger = None
        self._target = None
        self._dry_run_note = None
        self._digest_counts: Counter = Counter()
        self._jacobians: OrderedDict = OrderedDict()
        self._jacobian_floats = 0
        self._jacobian_uses: Counter = Counter()
        self._warned_local_options = False
        self.stats = Counter()
        self.dry_run_plan: list[dict] = []
        self.sleep = None  # tests replace the backoff sleep

    # ------------------------------------------------------------------ PennyLane API

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None):
        program = CompilePipeline()
        if self.zne and self.target_name == "aer":
            transform, kwargs = local_zne_transform(self.zne)
            program.add_transform(transform, **kwargs)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(qp.transforms.split_to_single_terms)
        program.add_transform(decompose, stopping_condition=is_supported_operation,
                              name=self.name)
        program.add_transform(validate_measurements, analytic_measurements=_is_expval,
                              sample_measurements=_is_expval, name=self.name)
        program.add_transform(validate_observables,
                              stopping_condition=lambda obs: obs.pauli_rep is not None,
                              name=self.name)
        program.add_transform(_freeze_without_autograd)
        return program

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        if execution_config is None:
            return True
        return (execution_config.gradient_method in {"device", "best", "parameter-shift"}
                and execution_config.derivative_order == 1)

    def setup_execution_config(self, config: ExecutionConfig | None = None, circuit=None):
        config = config or ExecutionConfig()
        if config.gradient_method in {"best", "parameter-shift", "device"}:
            return replace(config, gradient_method="device", use_device_gradient=True,
                           use_device_jacobian_product=True,
                           grad_on_execution=config.grad_on_execution)
        return config

    def execute(self, circuits, execution_config=None):
        single = isinstance(circuits, qp.tape.QuantumScript)
        tapes = [circuits] if single else list(circuits)
        with_jac = execution_config is None or execution_config.grad_on_execution is not False
        results, jacobians = self._run(tapes, with_jacobian=with_jac)
        for tape, jac in zip(tapes, jacobians):
            if jac is not None:
                self._remember_jacobian(tape, jac)
        return results[0] if single else tuple(results)

    def compute_derivatives(self, circuits, execution_config=None):
        return self.execute_and_compute_derivatives(circuits, execution_config)[1]

    def execute_and_compute_derivatives(self, circuits, execution_config=None):
        single = isinstance(circuits, qp.tape.QuantumScript)
        tapes = [circuits] if single else list(circuits)
        results, jacobians = self._run(tapes, with_jacobian=True)
        jacs = tuple(_pennylane_jacobian(t, j) for t, j in zip(tapes, jacobians))
        if single:
            return results[0], jacs[0]
        return tuple(results), jacs

    def supports_vjp(self, execution_config=None, circuit=None) -> bool:
        return self.supports_derivatives(execution_config, circuit)

    def compute_vjp(self, circuits, cotangents, execution_config=None):
        single = isinstance(circuits, qp.tape.QuantumScript)
        tapes = [circuits] if single else list(circuits)
        cotangents = [cotangents] if single else list(cotangents)
        missing = [t for t in tapes if t.trainable_params and self._cached_jacobian(t) is None]
        if missing:
            _, jacobians = self._run(missing, with_jacobian=True, values=False)
            for tape, jac in zip(missing, jacobians):
                self._remember_jacobian(tape, jac)
        vjps = tuple(_vjp(t, self._cached_jacobian(t), dy) for t, dy in zip(tapes, cotangents))
        for tape in tapes:  # used: free the memory once every forward's backward has asked
            self._cached_jacobian(tape, pop=True)
        return vjps[0] if single else vjps

    def execute_and_compute_vjp(self, circuits, cotangents, execution_config=None):
        results = self.execute(circuits, execution_config)
        return results, self.compute_vjp(circuits, cotangents, execution_config)

    # ------------------------------------------------------------------ jacobian cache

    def _remember_jacobian(self, tape, jac):
        # kept until the backward pass asks for it; bounded (~160 MB), oldest dropped first
        # (a dropped Jacobian is recomputed by one more job if it is asked for after all)
        if tape.hash in self._jacobians:  # an identical tape: one more backward will ask
            self._jacobian_uses[tape.hash] += 1
            return
        self._jacobians[tape.hash] = jac
        self._jacobian_uses[tape.hash] = 1
        self._jacobian_floats += jac.size
        while self._jacobian_floats > 20_000_000 and len(self._jacobians) > 1:
            key, old = self._jacobians.popitem(last=False)
            self._jacobian_uses.pop(key, None)
            self._jacobian_floats -= old.size

    def _cached_jacobian(self, tape, pop=False):
        if not tape.trainable_params:
            return None
        if not pop:
            return self._jacobians.get(tape.hash)
        self._jacobian_uses[tape.hash] -= 1
        if self._jacobian_uses[tape.hash] > 0:
            return self._jacobians.get(tape.hash)
        self._jacobian_uses.pop(tape.hash, None)
        jac = self._jacobians.pop(tape.hash, None)
        if jac is not None:
            self._jacobian_floats -= jac.size
        return jac

    # ------------------------------------------------------------------ execution

    def _run(self, tapes, with_jacobian: bool, values: bool = True):
        """Runs ``tapes`` (and their shifted copies) as one job per shot setting.

        Returns:
            ``(results, jacobians)``: PennyLane-shaped results per tape, and per tape a
            ``[measurements, batch, trainable]`` Jacobian array or None.
        """
        by_shots: dict = {}
        for i, tape in enumerate(tapes):
            if tape.shots.has_partitioned_shots:
                raise ValueError("qrl.qiskit does not support shot vectors; use one shots value.")
            by_shots.setdefault(tape.shots.total_shots, []).append(i)
        results, jacobians = [None] * len(tapes), [None] * len(tapes)
        for shots, indices in by_shots.items():
            if self.target_name != "aer" and shots is None:
                raise ValueError(
                    f"target {self.target_name} samples; set shots on the QNode "
                    "(qml.set_shots or the backends.yaml entry), e.g. shots: 4096."
                )
            tasks, layout = self._plan([tapes[i] for i in indices], with_jacobian)
            evs = self._execute_tasks(tasks, shots)
            for i, (slot, terms) in zip(indices, layout):
                task_index, offset, batch, spans = slot, terms[0], terms[1], terms[2]
                block = evs[task_index]
                base = block[:, offset:offset + batch]
                results[i] = _pennylane_result(tapes[i], base) if values else None
                if spans:
                    jac = np.stack([
                        sum(c * block[:, start:start + batch] for c, start in span)
                        for span in spans
                    ], axis=-1)
                    jacobians[i] = jac
        return results, jacobians

    def _plan(self, tapes, with_jacobian: bool):
        """Groups tapes into one task per (structure, observables); returns tasks and slices."""
        groups: dict = {}
        tasks: list[EstimatorTask] = []
        layout = []
        for tape in tapes:
            structure = CircuitStructure.from_tape(tape, self.wires)
            observables = pauli_observables(tape, self.wires)
            key = (structure.key, observables_key(observables))
            if key not in groups:
                groups[key] = len(tasks)
                tasks.append(EstimatorTask(structure, observables, []))
            task = tasks[groups[key]]
            base = parameter_rows(tape)
            batch = base.shape[0]
            offset = sum(len(r) for r in task.rows)
            blocks = [base]
            spans = []
            if with_jacobian and tape.trainable_params:
                start = offset + batch
                for t, rule in zip(tape.trainable_params, shift_terms(tape)):
                    span = []
                    for coeff, shift in rule:
                        shifted = base.copy()
                        shifted[:, t] += shift
                        blocks.append(shifted)
                        span.append((coeff, start))
                        start += batch
                    spans.append(span)
            task.rows.extend(blocks)
            layout.append((groups[key], (offset, batch, spans)))
        for task in tasks:
            task.rows = np.concatenate(task.rows, axis=0)
        return tasks, layout

    # ------------------------------------------------------------------ targets

    def _get_target(self):
        if self._target is not None:
            return self._target
        from qrl.hardware import runtime

        if self.target_name == "aer":
            self._target = runtime.AerTarget(self.fake_backend, self.method,
                                             self.optimization_level)
        elif self.target_name == "fake":
            if self.runtime_options and not self._warned_local_options:
                warnings.warn(
                    f"Runtime options {sorted(self.runtime_options)} have no effect in local "
                    "testing mode; use the aer target with zne to see mitigation locally.",
                    stacklevel=2)
                self._warned_local_options = True
            self._target = runtime.RuntimeTarget(
                runtime.fake_backend_by_name(self.fake_backend), f"fake:{self.fake_backend}",
                self.mode, self.runtime_options, None, self.optimization_level)
        else:
            try:
                service = call_with_retries(lambda: runtime.connect_service(self.channel),
                                            self.retry_policy, sleep=self.sleep or _sleep)
            except Exception as exc:
                if not self.dry_run:
                    raise runtime.account_error(exc, self.entry) from None
                reason = ("no IBM account configured" if isinstance(exc, CredentialsError)
                          else f"IBM Quantum unreachable ({type(exc).__name__})")
                stand_in = self.fake_backend or DRY_RUN_STAND_IN
                self._dry_run_note = f"{reason}: circuits transpiled for the stand-in {stand_in}"
                self._target = runtime.RuntimeTarget(
                    runtime.fake_backend_by_name(stand_in), f"fake:{stand_in}", self.mode,
                    self.runtime_options, None, self.optimization_level)
                return self._target
            try:
                if self.ibm_backend == "least_busy":
                    backend = service.least_busy(operational=True, simulator=False,
                                                 min_num_qubits=len(self.wires))
                else:
                    backend = service.backend(self.ibm_backend)
            except Exception as exc:
                raise runtime.account_error(exc, self.entry) from None
            self._target = runtime.RuntimeTarget(backend, f"ibm:{backend.name}", self.mode,
                                                 self.runtime_options, service,
                                                 self.optimization_level)
        return self._target

    @property
    def backend_name(self) -> str:
        """Name of the backend jobs go to (connects to IBM Quantum on first use)."""
        return self._get_target().backend_name

    @property
    def ledger(self):
        if self._ledger is None and self.ledger_path is not None:
            from qrl.hardware.ledger import Ledger

            self._ledger = Ledger(self.ledger_path)
        return self._ledger

    def close(self) -> None:
        """Closes an open batch/session and the ledger."""
        if self._target is not None and hasattr(self._target, "close"):
            self._target.close()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def _job_key(self, target, tasks, shots) -> str:
        digest = hashlib.sha256()
        digest.update(repr((target.backend_name, shots, self.runtime_options)).encode())
        for task in tasks:
            digest.update(task.structure.key.encode())
            digest.update(observables_key(task.observables).encode())
            digest.update(np.round(task.rows, 10).tobytes())
        pubs_digest = digest.hexdigest()
        occurrence = self._digest_counts[pubs_digest]
        self._digest_counts[pubs_digest] += 1
        return hashlib.sha256(f"{self.run_id}|{pubs_digest}|{occurrence}".encode()).hexdigest()[:32]

    def _usage(self) -> dict:
        if self.ledger is not None:
            return self.ledger.totals(self.run_id)
        return {"jobs": self.stats["jobs"], "shots": self.stats["shots"],
                "qpu_seconds": float(self.stats["qpu_seconds_estimate"])}

    def _execute_tasks(self, tasks, shots) -> list[np.ndarray]:
        """Runs ``tasks`` as one primitive job (or reads it back from the ledger)."""
        target = self._get_target()
        step = self.stats["calls"]
        self.stats["calls"] += 1
        job_key = self._job_key(target, tasks, shots)
        ledger = None if self.dry_run else self.ledger
        if ledger is not None:
            stored = self._from_ledger(ledger, target, job_key)
            if stored is not None:
                self.stats["ledger_hits"] += 1
                return stored
        executions = target.executions(tasks, shots)
        is_runtime = target.kind == "runtime"
        qpu_estimate = (estimate_qpu_seconds(executions, shots,
                                             mitigation_cost_factor(self.runtime_options))
                        if is_runtime else 0.0)
        planned_shots = executions * (shots or 0)
        pub_shapes = [[len(t.observables), len(t.rows)] for t in tasks]
        if self.dry_run:
            self._record_dry_run(target, tasks, shots, executions, qpu_estimate, pub_shapes)
            return self._simulate_ideal(tasks)
        self.budget.check(self._usage(), jobs=1, shots=planned_shots, qpu_seconds=qpu_estimate)
        seed = None if self.seed is None else self.seed + step
        submitted = {}

        def on_retry(n, exc, delay):
            self.stats["retries"] += 1
            log.warning("job %s on %s failed (%s); retry %d in %.1f s",
                        submitted.get("job_id"), target.backend_name, exc, n, delay)

        def attempt():
            job = target.submit(tasks, shots, seed)
            job_id = target.job_id(job)
            submitted["job_id"] = job_id
            self.stats["jobs"] += 1
            if ledger is not None:
                ledger.record_submitted(job_key, run_id=self.run_id, step=step,
                                        backend=target.backend_name, job_id=job_id,
                                        pub_shapes=pub_shapes, shots=shots,
                                        executions=executions, mode=self.mode,
                                        qpu_seconds_estimate=qpu_estimate)
            def fetch():
                return target.result(job), target.usage(job)

            def refetch_on_network_error(exc):
                # the job itself is fine: ask for its result again, do not pay for it twice
                return is_transient(exc) and not is_job_failure(exc)

            try:
                return call_with_retries(fetch, self.retry_policy, sleep=self.sleep or _sleep,
                                         on_retry=on_retry, retry_if=refetch_on_network_error)
            except Exception as exc:
                if ledger is not None:
                    ledger.record_failed(job_key, f"{type(exc).__name__}: {exc}",
                                         status="retrying" if is_transient(exc) else "failed")
                raise

        try:  # a job that failed for a retryable reason is submitted again
            evs, usage = call_with_retries(attempt, self.retry_policy,
                                           sleep=self.sleep or _sleep, on_retry=on_retry)
        except Exception as exc:
            if isinstance(exc, (ValueError, CredentialsError)) and "job_id" not in submitted:
                raise
            raise JobFailedError(
                f"job {submitted.get('job_id', '(not submitted)')} on {target.backend_name} "
                f"failed: {exc}") from exc
        if ledger is not None:
            ledger.record_done(job_key, evs, usage)
        self.stats["executions"] += executions
        self.stats["shots"] += planned_shots
        self.stats["qpu_seconds_estimate"] += qpu_estimate
        return evs

    def _from_ledger(self, ledger, target, job_key):
        record = ledger.lookup(job_key)
        if record is None:
            return None
        if record["status"] == "done":
            return ledger.result(job_key)
        fetch = getattr(target, "fetch", None)
        if record["status"] in ("submitted", "retrying") and record["job_id"] and fetch:
            job = fetch(record["job_id"])
            if job is not None:  # a job still known to IBM Quantum: wait for it, do not resubmit
                evs = target.result(job)
                ledger.record_done(job_key, evs, target.usage(job))
                self.stats["jobs_fetched"] += 1
                return evs
        return None  # a local job that died with its process: resubmit under the same key

    # ------------------------------------------------------------------ dry runs

    def _record_dry_run(self, target, tasks, shots, executions, qpu_estimate, pub_shapes):
        entry = {
            "job": len(self.dry_run_plan), "backend": target.backend_name, "shots": shots,
            "executions": executions, "qpu_seconds_estimate": qpu_estimate,
            "pub_shapes": pub_shapes, "structures": [t.structure.key for t in tasks],
            "note": self._dry_run_note,
            "circuits": [_describe(t.structure) for t in tasks],
        }
        self.dry_run_plan.append(entry)
        log.info("dry run: would submit %s", entry)

    def _simulate_ideal(self, tasks):
        from qrl.hardware.runtime import AerTarget

        if not hasattr(self, "_ideal"):
            self._ideal = AerTarget(None)
        return self._ideal.result(self._ideal.submit(tasks, None, self.seed))

    def dry_run_summary(self) -> dict:
        """Totals of a dry run: jobs, circuit executions, shots and estimated QPU seconds."""
        plan = self.dry_run_plan
        return {
            "jobs": len(plan),
            "executions": sum(p["executions"] for p in plan),
            "shots": sum(p["executions"] * (p["shots"] or 0) for p in plan),
            "qpu_seconds_estimate": sum(p["qpu_seconds_estimate"] for p in plan),
            "backend": plan[0]["backend"] if plan else None,
            "note": plan[0]["note"] if plan else None,
        }


@qp.transform
def _freeze_without_autograd(tape):
    """Marks no parameter trainable when torch autograd is off (``torch.no_grad()``).

    Indexing a leaf tensor inside ``no_grad`` still reports ``requires_grad`` and the torch
    boundary reads trainability from it, so without detaching here an evaluation would
    pay for every parameter-shift row it never uses.
    """
    torch = sys.modules.get("torch")
    if torch is not None and not torch.is_grad_enabled():
        params = tape.get_parameters(trainable_only=False)
        if any(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
            detached = [p.detach() if isinstance(p, torch.Tensor) else p for p in params]
            tape = tape.bind_new_parameters(detached, list(range(len(params))))
    return [tape], lambda results: results[0]


def _sleep(seconds):
    import time

    time.sleep(seconds)


def _describe(structure: CircuitStructure) -> dict:
    counts = Counter(name for name, _, _ in structure.gates)
    return {"qubits": structure.n_qubits, "gates": dict(counts),
            "parameters": structure.n_parameters}


def _pennylane_result(tape, values: np.ndarray):
    """``values`` is ``[measurements, batch]``; returns PennyLane's result shape for ``tape``."""
    per_measurement = [v if tape.batch_size else v[0] for v in values]
    if len(tape.measurements) == 1:
        return per_measurement[0]
    return tuple(per_measurement)


def _pennylane_jacobian(tape, jac):
    """``[measurements, batch, trainable]`` -> PennyLane's nested Jacobian tuple."""
    if jac is None:
        return ()
    nested = []
    for m in range(jac.shape[0]):
        cols = tuple(jac[m, :, t] if tape.batch_size else jac[m, 0, t] for t in range(jac.shape[2]))
        nested.append(cols[0] if len(cols) == 1 else cols)
    return nested[0] if len(nested) == 1 else tuple(nested)


def _vjp(tape, jac, dy):
    """Vector-Jacobian product; broadcast trainable parameters get one entry per batch item."""
    if not tape.trainable_params:
        return ()
    n_meas = len(tape.measurements)
    if n_meas == 1:
        dy = [dy]
    dy = np.stack([np.reshape(np.asarray(d, dtype=float), (-1,)) for d in dy])  # [M, B]
    weighted = np.einsum("mb,mbt->bt", dy, jac)  # [B, T]
    params = tape.get_parameters(trainable_only=True)
    out = []
    for t, p in enumerate(params):
        out.append(weighted[:, t] if np.ndim(p) > 0 else weighted[:, t].sum())
    return _PerParameter(out)


class _PerParameter(tuple):
    """Per-parameter VJP entries of different shapes (scalars and ``[batch]`` vectors).

    PennyLane's torch boundary calls ``np.squeeze`` on each tape's VJP only to detect an
    empty one; a ragged tuple makes NumPy raise, so this tuple presents itself to NumPy
    as a flat vector of its length and otherwise behaves as a plain tuple.
    """

    def __array__(self, dtype=None, copy=None):
        return np.zeros(len(self), dtype=dtype)

"""Named execution targets: ``backends.yaml`` entries resolved to PennyLane devices.

A QNode in qrl never hard-codes a device. It asks for a backend by name::

    dev = qrl.backends.device("default.qubit", wires=4)

and the name is looked up in ``backends.yaml`` (``./backends.yaml`` first, then
the copy shipped with the package). Each entry names a PennyLane device and how
to differentiate through it, and optionally shots, a seed, and an IBM fake
backend whose noise model, basis gates and coupling map to simulate.

Errors a user can make in the file (malformed YAML, unknown keys, wrong types,
unknown fake backend, too many wires) raise :class:`BackendError` with the file,
the entry and the fix; the CLI turns them into exit code 2.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from classical.common.config import ConfigError, load_yaml, validate

PACKAGED = Path(__file__).with_name("backends.yaml")

DiffMethod = Literal["backprop", "adjoint", "parameter-shift", "finite-diff", "device", "best"]


class BackendError(ConfigError):
    """A backend name or ``backends.yaml`` entry cannot be used; the message says why and how to fix it."""


class BackendEntry(BaseModel):
    """One named execution target."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field(description="PennyLane device name, e.g. default.qubit, qrl.torch, qiskit.aer, qrl.qiskit")
    description: str = Field("", description="one line shown by `qrl backends list`")
    diff_method: DiffMethod = Field("best", description="how QNodes on this backend differentiate")
    shots: int | None = Field(None, gt=0, description="shots per circuit; null for exact expectation values")
    seed: int | None = Field(None, description="simulator seed, for reproducible shot noise")
    fake_backend: str | None = Field(None, description="IBM fake backend (qiskit_ibm_runtime.fake_provider) "
                                                       "whose noise, basis and coupling map to use")
    qubits: int | None = Field(None, gt=0, description="largest number of wires this target accepts")
    options: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments for the device")

    @property
    def kind(self) -> str:
        if self.device == "qrl.qiskit":
            target = self.options.get("target", "aer")
            if target == "aer":
                return "aer noisy (qrl)" if self.fake_backend else "aer (qrl)"
            return {"fake": "ibm fake (local)", "ibm": "ibm hardware"}.get(target, target)
        if self.device.startswith("qiskit."):
            return "aer noisy" if self.fake_backend else "aer"
        return "statevector"


class BackendsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str = Field(description="backend used when a config names none")
    backends: dict[str, BackendEntry]


@dataclass(frozen=True)
class Backend:
    """Where one run's circuits execute: a backends.yaml entry, the file it is read from, and the
    job ledger its hardware jobs go to.

    ``qrl train`` (:func:`qrl.training.train_from_config`), ``qrl evaluate`` and the experiment
    runners resolve one per run and hand it down explicitly: trainer -> ``build_model(...,
    backend=...)`` -> model -> :func:`device`. Code in ``classical`` only forwards it. Every
    function here that takes a backend name also takes a ``Backend``.

    Attributes:
        name: the entry's name (``None``: the file's default).
        file: the backends file (``None``: ``./backends.yaml``, then the packaged copy).
        ledger: the SQLite job ledger of ``qrl.qiskit`` devices (``None``: no ledger).
        run_id: the run id recorded with every job in the ledger.

    **Example**

    >>> b = Backend("default.qubit")
    >>> device(b, wires=2).name
    'default.qubit'
    >>> Backend.for_run("qrl.torch", "runs/demo").ledger
    'runs/demo/jobs.sqlite'
    """

    name: str | None = None
    file: str | None = None
    ledger: str | None = None
    run_id: str | None = None

    @classmethod
    def for_run(cls, name: str | None, run_dir: str | Path, file: str | Path | None = None,
                run_id: str | None = None) -> "Backend":
        """The backend of a run whose hardware jobs go to ``<run_dir>/jobs.sqlite`` under ``run_id``
        (default: the folder's name)."""
        return cls(name, str(file) if file is not None else None, str(Path(run_dir) / "jobs.sqlite"),
                   run_id or Path(run_dir).name)


def _split(backend: "str | Backend | None", config: str | Path | None) -> tuple[str | None, str | Path | None]:
    """(entry name, backends file) of a name or a :class:`Backend` (an explicit ``config`` wins)."""
    if isinstance(backend, Backend):
        return backend.name, config if config is not None else backend.file
    return backend, config


def backends_path(config: str | Path | None = None) -> Path:
    """The backends file in use: ``config`` if given (``--backends``), else ``./backends.yaml``,
    else the packaged copy."""
    if config is not None:
        return Path(config)
    local = Path.cwd() / "backends.yaml"
    return local if local.exists() else PACKAGED


def load(config: str | Path | None = None) -> BackendsFile:
    """Read and validate a backends file (cached until the file changes: circuits built in a loop
    would otherwise parse the YAML once per QNode)."""
    path = backends_path(config)
    try:
        stat = path.stat()
    except OSError:
        return _load(path)  # reports the missing file
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size).model_copy(deep=True)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int) -> "BackendsFile":
    return _load(Path(path))


def _load(path: Path) -> BackendsFile:
    try:
        data = load_yaml(path)
    except ConfigError as err:
        raise BackendError(str(err)) from None
    top = {k: v for k, v in data.items() if k != "backends"}
    entries = data.get("backends")
    if not isinstance(entries, dict) or not entries:
        raise BackendError(f"{path}: expected a 'backends:' mapping of names to entries.")
    parsed = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise BackendError(f"{path}: entry '{name}' must be a mapping of keys to values.")
        try:
            parsed[name] = validate(BackendEntry, entry, f"{path}: entry '{name}'")
        except ConfigError as err:
            raise BackendError(str(err)) from None
        if parsed[name].fake_backend is not None:
            _check_fake_backend(parsed[name].fake_backend, f"{path}: entry '{name}'")
    try:
        spec = validate(BackendsFile, {**top, "backends": parsed}, str(path))
    except ConfigError as err:
        raise BackendError(str(err)) from None
    if spec.default not in spec.backends:
        raise BackendError(f"{path}: default '{spec.default}' is not one of the entries "
                           f"({', '.join(spec.backends)}).")
    return spec


def entry(name: "str | Backend", config: str | Path | None = None) -> BackendEntry:
    """The validated entry called ``name`` (a name or a :class:`Backend`; ``None``: the default)."""
    name, config = _split(name, config)
    spec = load(config)
    if name is None:
        return spec.backends[spec.default]
    if name not in spec.backends:
        raise BackendError(f"unknown backend '{name}' in {backends_path(config)}; "
                           f"valid names: {', '.join(spec.backends)}.")
    return spec.backends[name]


def default_name(config: str | Path | None = None) -> str:
    """The name of the file's ``default`` entry."""
    return load(config).default


@functools.lru_cache(maxsize=None)
def fake_backend_names() -> tuple[str, ...]:
    """Every BackendV2 fake backend (``FakeManilaV2``, ``FakeBrisbane``, ``FakeTorino``, ...)."""
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import fake_provider

    return tuple(sorted(n for n in dir(fake_provider) if n.startswith("Fake")
                        and isinstance(getattr(fake_provider, n), type)
                        and issubclass(getattr(fake_provider, n), BackendV2)))


@functools.lru_cache(maxsize=None)
def fake_backend(name: str):
    """An instance of the IBM fake backend ``name`` (e.g. ``FakeManilaV2``)."""
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, name)()


def _check_fake_backend(name: str, where: str) -> None:
    names = fake_backend_names()
    if name not in names:
        close = [n for n in names if name.lower().replace("v2", "") in n.lower()]
        hint = f" Did you mean {close[0]}?" if close else ""
        raise BackendError(f"{where}: unknown fake backend '{name}'.{hint} "
                           f"Valid names are the V2 backends of qiskit_ibm_runtime.fake_provider, "
                           f"e.g. FakeManilaV2, FakeBrisbane.")


def max_wires(e: BackendEntry) -> int | None:
    """How many wires the entry can hold (``None``: limited only by memory)."""
    limits = [q for q in (e.qubits,) if q is not None]
    if e.fake_backend is not None:
        limits.append(fake_backend(e.fake_backend).num_qubits)
    return min(limits) if limits else None


def device(name: "str | Backend | None", wires: int, config: str | Path | None = None, **overrides):
    """The PennyLane device for the ``backends.yaml`` entry ``name`` with ``wires`` wires.

    Args:
        name: entry name in the backends file, or a :class:`Backend` (its file, and for
            ``qrl.qiskit`` entries its job ledger and run id); ``None``: the file's default.
        wires: number of wires.
        config: path of a backends file (default: the ``Backend``'s file, else ``./backends.yaml``,
            then the packaged one).
        **overrides: extra device keyword arguments (e.g. a job ledger path for hardware targets).

    **Example**

    >>> dev = device("default.qubit", wires=2)
    >>> dev.name
    'default.qubit'
    """
    run = name if isinstance(name, Backend) else None
    name, config = _split(name, config)
    name = name if name is not None else default_name(config)
    e = entry(name, config)
    limit = max_wires(e)
    if limit is not None and wires > limit:
        src = f"fake backend {e.fake_backend}" if e.fake_backend else "its 'qubits' setting"
        raise BackendError(f"backend '{name}' has {limit} qubits ({src}) but the circuit needs {wires} wires; "
                           f"use fewer qubits or a larger backend.")
    kwargs = dict(e.options)
    if e.device.startswith("qiskit."):
        if e.fake_backend is not None:
            from qiskit_aer import AerSimulator

            kwargs.setdefault("backend", AerSimulator.from_backend(fake_backend(e.fake_backend)))
        if e.seed is not None:
            kwargs.setdefault("seed_simulator", e.seed)
    elif e.device.startswith("qrl."):
        if e.device == "qrl.qiskit":
            if run is not None and run.ledger is not None:  # every job of the run goes to its ledger
                kwargs.setdefault("ledger", run.ledger)
                kwargs.setdefault("run_id", run.run_id)
            kwargs.setdefault("entry", name)
        if e.fake_backend is not None:
            kwargs.setdefault("fake_backend", e.fake_backend)
        if e.seed is not None:
            kwargs.setdefault("seed", e.seed)
    elif e.seed is not None and e.shots is not None:
        kwargs.setdefault("seed", e.seed)
    kwargs.update(overrides)
    import pennylane as qml

    try:
        return qml.device(e.device, wires=wires, **kwargs)
    except (ValueError, TypeError) as err:
        raise BackendError(f"{backends_path(config)}: entry '{name}': {err}") from None
    except Exception as err:  # unknown device names surface as DeviceError
        if type(err).__name__ == "DeviceError":
            raise BackendError(f"{backends_path(config)}: entry '{name}': device '{e.device}' is not "
                               f"installed ({err}). Install its plugin or pick another device.") from None
        raise


def qnode(func: Callable, name: "str | Backend | None", wires: int, config: str | Path | None = None,
          interface: str = "torch", **overrides):
    """A torch QNode of ``func`` on backend ``name`` (a name or a :class:`Backend`), with the entry's
    diff method and shots."""
    import pennylane as qml

    e = entry(name, config)
    dev = device(name, wires, config, **overrides)
    node = qml.QNode(func, dev, interface=interface, diff_method=e.diff_method)
    if e.diff_method in ("parameter-shift", "finite-diff") and not e.device.startswith("qrl."):
        # PennyLane's shift rules cannot differentiate broadcast tapes with respect to
        # broadcast parameters (#4462); third-party devices get one tape per sample.
        node = qml.transforms.broadcast_expand(node)
    if e.shots is not None:
        node = qml.set_shots(node, shots=e.shots)
    return node


def bell_check(name: str, config: str | Path | None = None) -> tuple[float, float]:
    """Run a Bell circuit on ``name``; return ⟨Z0 Z1⟩ (1 when exact) and the seconds it took."""
    import pennylane as qml

    def bell():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

    circuit = qnode(bell, name, 2, config, interface="numpy")
    start = time.perf_counter()
    value = float(circuit())
    return value, time.perf_counter() - start

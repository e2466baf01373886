"""Budgets refuse, dry runs submit nothing, transient failures are retried, tokens stay secret."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pennylane as qml
import pytest
import torch

from qrl.hardware import runtime
from qrl.hardware.budget import Budget
from qrl.hardware.ledger import Ledger
from qrl.hardware.retry import (BudgetExceededError, JobFailedError, RetryPolicy,
                                TransientJobError, call_with_retries, is_transient)

torch.set_num_threads(1)


def qnode(dev, shots=100):
    @qml.set_shots(shots=shots)
    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def circuit(x, w):
        qml.RX(x, wires=0)
        qml.RY(w, wires=1)
        qml.CZ([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.expval(qml.X(1))

    return circuit


X, W = torch.linspace(0.0, 1.0, 4), torch.tensor(0.3, requires_grad=True)


# ---------------------------------------------------------------- budgets

def test_job_budget_refuses_the_next_job_with_the_numbers(tmp_path):
    dev = qml.device("qrl.qiskit", wires=2, target="aer", seed=1, ledger=tmp_path,
                     run_id="b", budget={"jobs": 1})
    node = qnode(dev)
    node(X, W)
    with pytest.raises(BudgetExceededError, match=r"jobs used 1 \+ next job 1 > limit 1"):
        node(X, W)
    assert dev.stats["jobs"] == 1


def test_shot_budget_refuses_before_anything_is_submitted(tmp_path):
    dev = qml.device("qrl.qiskit", wires=2, target="aer", budget={"shots": 1000},
                     ledger=tmp_path)
    with pytest.raises(BudgetExceededError, match="shots used 0"):
        qnode(dev, shots=100)(X, W)  # 4 states x (1 + 2 shifts) x 2 bases x 100 shots
    assert dev.stats["jobs"] == 0
    assert Ledger(tmp_path / "jobs.sqlite").jobs() == []


def test_budget_counts_jobs_of_earlier_processes_of_the_same_run(tmp_path):
    kwargs = dict(wires=2, target="aer", ledger=tmp_path, run_id="same", budget={"jobs": 2})
    qnode(qml.device("qrl.qiskit", **kwargs))(X, W)
    qnode(qml.device("qrl.qiskit", **kwargs))(X + 1, W)
    with pytest.raises(BudgetExceededError):
        qnode(qml.device("qrl.qiskit", **kwargs))(X + 2, W)


def test_budget_option_errors():
    with pytest.raises(ValueError, match="budget.qpu_seconds must be a non-negative number"):
        Budget.from_option({"qpu_seconds": -1})


# ---------------------------------------------------------------- dry runs

@pytest.fixture
def no_ibm_account(monkeypatch, tmp_path):
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_dry_run_on_real_ibm_submits_nothing_and_reports_the_cost(tmp_path, monkeypatch,
                                                                 no_ibm_account):
    def never(*args, **kwargs):
        raise AssertionError("a dry run submitted a job")

    monkeypatch.setattr(runtime.RuntimeTarget, "submit", never)
    dev = qml.device("qrl.qiskit", wires=2, target="ibm", dry_run=True, ledger=tmp_path,
                     resilience_level=1)
    out = torch.stack(qnode(dev, shots=1000)(X, W))
    out.sum().backward()
    assert torch.isfinite(out).all() and W.grad is not None
    W.grad = None
    assert dev.stats["jobs"] == 0
    assert not (tmp_path / "jobs.sqlite").exists()
    (entry,) = dev.dry_run_plan
    assert entry["backend"] == "fake:FakeBrisbane" and "no IBM account" in entry["note"]
    assert entry["pub_shapes"] == [[2, 4 * 3]] and entry["shots"] == 1000
    summary = dev.dry_run_summary()
    # 12 rows x 2 measurement bases x 1000 shots, plus TREX's 10 %
    assert summary["shots"] == 24_000
    assert summary["qpu_seconds_estimate"] == pytest.approx(2.0 + 24_000 * 2.6e-4 * 1.1)


# ---------------------------------------------------------------- retries

def test_transient_failures_are_retried_with_backoff_and_the_run_completes(tmp_path,
                                                                          monkeypatch):
    failures = iter([TransientJobError("job failed: 503 Service Unavailable"),
                     TransientJobError("job failed: internal error, try again"),
                     ConnectionError("connection reset while fetching the result")])
    original = runtime.RuntimeTarget.result

    def flaky_result(self, job):
        error = next(failures, None)
        if error is not None:
            raise error
        return original(self, job)

    monkeypatch.setattr(runtime.RuntimeTarget, "result", flaky_result)
    dev = qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                     ledger=tmp_path, retry={"base_seconds": 1.0, "cap_seconds": 1.5})
    waits = []
    dev.sleep = waits.append
    out = torch.stack(qnode(dev)(X, W))
    assert torch.isfinite(out).all()
    # two failed jobs are resubmitted (waits 1, then 2 capped at 1.5); the network error
    # while fetching the third job's result re-fetches that job (wait 1) instead of paying again
    assert waits == [1.0, 1.5, 1.0]
    assert dev.stats["retries"] == 3 and dev.stats["jobs"] == 3
    (record,) = Ledger(tmp_path / "jobs.sqlite").jobs()
    assert record["status"] == "done" and record["attempts"] == 3


def test_permanent_failure_stops_with_job_id_and_service_message(tmp_path, monkeypatch):
    from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

    def rejected(self, job):
        raise RuntimeJobFailureError("Unable to retrieve job result. Error code 1517; "
                                     "circuit is not ISA for the target")

    monkeypatch.setattr(runtime.RuntimeTarget, "result", rejected)
    dev = qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                     ledger=tmp_path)
    dev.sleep = lambda s: pytest.fail("a permanent failure was retried")
    with pytest.raises(JobFailedError, match=r"job \S+ on fake:FakeManilaV2 failed: .*1517"):
        qnode(dev)(X, W)
    (record,) = Ledger(tmp_path / "jobs.sqlite").jobs()
    assert record["status"] == "failed" and "1517" in record["error"]


def test_retries_give_up_after_the_attempts():
    calls = []

    def always_down():
        calls.append(1)
        raise TimeoutError("read timed out")

    with pytest.raises(TimeoutError):
        call_with_retries(always_down, RetryPolicy(attempts=3, base_seconds=0),
                          sleep=lambda s: None)
    assert len(calls) == 3


def test_error_classification():
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError
    from qiskit_ibm_runtime.exceptions import IBMNotAuthorizedError, RuntimeJobFailureError

    assert is_transient(RequestsApiError("bad gateway", status_code=502))
    assert is_transient(RequestsApiError("slow down", status_code=429))
    assert not is_transient(RequestsApiError("bad request", status_code=400))
    assert not is_transient(IBMNotAuthorizedError("token rejected"))
    assert is_transient(RuntimeJobFailureError("Internal error, please try again"))
    assert not is_transient(RuntimeJobFailureError("Error code 1517; circuit too deep"))
    assert not is_transient(ValueError("bad shots"))


# ---------------------------------------------------------------- credentials

def test_token_never_reaches_any_file_the_run_writes(tmp_path, monkeypatch, caplog):
    token = "tok-SECRET-4242-never-write-me"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:example-instance")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    seen = {}

    class OfflineService:  # stands in for QiskitRuntimeService: offline, it cannot connect
        def __init__(self, channel=None, token=None, instance=None):
            seen["token"] = token
            raise ConnectionError("network is unreachable")

    import qiskit_ibm_runtime

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", OfflineService)
    run_dir = tmp_path / "run"
    caplog.set_level("INFO", logger="qrl")
    dry = qml.device("qrl.qiskit", wires=2, target="ibm", dry_run=True, ledger=run_dir,
                     retry={"attempts": 2, "base_seconds": 0})
    qnode(dry)(X, W)
    assert seen["token"] == token  # the token went to the service, and only there
    assert "unreachable" in dry.dry_run_plan[0]["note"]
    real = qml.device("qrl.qiskit", wires=2, target="ibm", ledger=run_dir,
                      retry={"attempts": 2, "base_seconds": 0})
    from qrl.hardware.runtime import CredentialsError

    with pytest.raises(CredentialsError, match=r"IBM Quantum could not be reached \(ConnectionError: network "
                                               r"is unreachable\); check QISKIT_IBM_TOKEN") as failure:
        qnode(real)(X, W)  # retried, then reported in one line
    fake = qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                      ledger=run_dir, run_id="with-token")
    qnode(fake)(X, W)
    fake.close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "jobs.sqlite" for p in files)
    for path in files:
        assert token.encode() not in path.read_bytes(), path
    assert token not in caplog.text and token not in str(failure.value)

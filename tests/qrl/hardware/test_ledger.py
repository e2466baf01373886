"""The job ledger: every job recorded; a restarted run reuses finished jobs."""

import os
import signal
import subprocess
import sys
import textwrap
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pennylane as qml
import torch

from qrl.hardware import runtime
from qrl.hardware.ledger import Ledger

torch.set_num_threads(1)


def small_qnode(dev, shots=200):
    @qml.set_shots(shots=shots)
    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def circuit(x, w):
        qml.RX(x, wires=0)
        qml.RY(w, wires=0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0)), qml.expval(qml.Z(0) @ qml.Z(1))

    return circuit


def fake_device(tmp_path, **kw):
    return qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                      ledger=tmp_path, run_id="run-a", seed=3, **kw)


def test_ledger_records_and_round_trips_results(tmp_path):
    ledger = Ledger(tmp_path / "jobs.sqlite")
    assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger.record_submitted("k1", run_id="r", step=0, backend="aer", job_id="j-1",
                            pub_shapes=[[2, 8]], shots=100, executions=16)
    ledger.record_done("k1", [np.arange(6.0).reshape(2, 3)], qpu_seconds=1.5)
    record = ledger.get("j-1")
    assert record["status"] == "done" and record["pub_shapes"] == [[2, 8]]
    np.testing.assert_array_equal(ledger.result("k1")[0], np.arange(6.0).reshape(2, 3))
    assert ledger.totals("r") == {"jobs": 1, "shots": 1600, "qpu_seconds": 1.5}


def test_restart_reads_finished_jobs_instead_of_resubmitting(tmp_path):
    x = torch.linspace(0.1, 0.9, 5)
    w = torch.tensor(0.4, requires_grad=True)
    first = fake_device(tmp_path)
    node = small_qnode(first)
    outputs = []
    for step in range(3):
        out = torch.stack(node(x + step, w))
        out.sum().backward()
        outputs.append(out.detach())
    assert first.stats["jobs"] == 3
    first.close()
    records = Ledger(tmp_path / "jobs.sqlite").jobs("run-a")
    assert [r["status"] for r in records] == ["done"] * 3
    assert all(r["job_id"] and r["backend"] == "fake:FakeManilaV2" for r in records)
    assert records[0]["pub_shapes"] == [[2, 5 * 3]]  # 2 observables, 5 states x (1 + 2 shifts)

    again = fake_device(tmp_path)  # the same command started again
    node = small_qnode(again)
    for step in range(3):
        out = torch.stack(node(x + step, w))
        assert torch.equal(out.detach(), outputs[step])
    assert again.stats["jobs"] == 0 and again.stats["ledger_hits"] == 3


def test_a_job_still_running_on_the_service_is_fetched_not_resubmitted(tmp_path, monkeypatch):
    x, w = torch.linspace(0.1, 0.9, 3), torch.tensor(0.4)
    first = fake_device(tmp_path)
    submitted = {}
    original_submit = runtime.RuntimeTarget.submit

    def submit_then_die(self, *args):
        job = original_submit(self, *args)
        submitted[job.job_id()] = job
        return job

    def killed(self, job):
        raise KeyboardInterrupt  # the process dies after submission, before the result

    monkeypatch.setattr(runtime.RuntimeTarget, "submit", submit_then_die)
    monkeypatch.setattr(runtime.RuntimeTarget, "result", killed)
    try:
        small_qnode(first)(x, w)
    except KeyboardInterrupt:
        pass
    (record,) = Ledger(tmp_path / "jobs.sqlite").jobs()
    assert record["status"] == "submitted"
    monkeypatch.undo()
    monkeypatch.setattr(runtime.RuntimeTarget, "fetch", lambda self, job_id: submitted[job_id])
    again = fake_device(tmp_path)
    values = small_qnode(again)(x, w)
    assert again.stats["jobs"] == 0 and again.stats["jobs_fetched"] == 1
    assert np.isfinite(torch.stack(values).numpy()).all()
    assert Ledger(tmp_path / "jobs.sqlite").jobs()[0]["status"] == "done"


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np, pennylane as qml
    dev = qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                     ledger=sys.argv[1], run_id="killed", seed=5)

    @qml.set_shots(shots=100)
    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(x):
        qml.RX(x, wires=0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1))

    for step in range(6):
        value = circuit(np.linspace(0, 1, 3) + step)
        print("step", step, value.tolist(), flush=True)
        time.sleep(0.2)
    print("jobs", dev.stats["jobs"], "hits", dev.stats["ledger_hits"], flush=True)
""")


def test_kill_and_restart_resubmits_nothing_that_finished(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    ledger_path = tmp_path / "jobs.sqlite"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if ledger_path.exists() and sum(
                r["status"] == "done" for r in Ledger(ledger_path).jobs()) >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    killed_output = proc.communicate()[0]
    done_before = sum(r["status"] == "done" for r in Ledger(ledger_path).jobs())
    assert 2 <= done_before < 6, killed_output

    rerun = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    last = rerun.stdout.strip().splitlines()[-1].split()
    assert last == ["jobs", str(6 - done_before), "hits", str(done_before)]
    # the finished steps print the same values before and after the kill
    before = [line for line in killed_output.splitlines() if line.startswith("step")]
    assert before == rerun.stdout.splitlines()[:len(before)]
    assert [r["status"] for r in Ledger(ledger_path).jobs()] == ["done"] * 6

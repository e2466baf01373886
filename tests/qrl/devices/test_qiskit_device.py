"""qrl.qiskit: one job per QNode call, transpile once, parity with default.qubit."""

import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pennylane as qml
import pytest
import torch

from qrl import backends as B
from qrl.circuits import reuploading_circuit
from qrl.hardware import runtime
from qrl.hardware.runtime import CredentialsError

torch.set_num_threads(1)

N_QUBITS, N_LAYERS = 4, 5
OBSERVABLES = ["Z0Z1Z2Z3", "Z0", "X1"]


def policy_circuit(x, input_scaling, weights, n_qubits=N_QUBITS):
    """The 4-qubit, 5-layer re-uploading policy circuit of Jerbi et al. (92 circuit parameters)."""
    return reuploading_circuit(x, input_scaling, weights, n_qubits=n_qubits, rotations="xyz",
                               entangler="cz_ring", encoding="rx", observables=OBSERVABLES)


def policy_params(batch, n_layers=N_LAYERS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, N_QUBITS, generator=gen, dtype=torch.float64) * 2 - 1
    scaling = (torch.rand(n_layers, N_QUBITS, generator=gen, dtype=torch.float64) + 0.5)
    weights = torch.rand(n_layers + 1, N_QUBITS, 3, generator=gen, dtype=torch.float64) * math.pi
    return x, scaling.requires_grad_(), weights.requires_grad_()


def qnode(dev, shots=None, **kwargs):
    node = qml.QNode(policy_circuit, dev, interface="torch", diff_method="parameter-shift",
                     **kwargs)
    return qml.set_shots(node, shots) if shots else node


def forward_backward(node, x, scaling, weights):
    out = torch.stack(node(x, scaling, weights), dim=-1)
    # a loss that weights outputs differently, so every output's gradient matters
    loss = (out * torch.tensor([1.0, -0.5, 0.25], dtype=out.dtype)).sum()
    loss.backward()
    grads = (scaling.grad.clone(), weights.grad.clone())
    scaling.grad = weights.grad = None
    return out.detach(), grads


@pytest.fixture(scope="module")
def reference():
    dev = qml.device("default.qubit", wires=N_QUBITS)
    node = qml.QNode(policy_circuit, dev, interface="torch", diff_method="backprop")

    def run(x, scaling, weights):
        return forward_backward(node, x, scaling, weights)

    return run


@pytest.mark.parametrize("batch", [1, 16, 64])
def test_forward_and_backward_are_one_job_whatever_the_batch(batch, reference):
    dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer", seed=3)
    x, scaling, weights = policy_params(batch)
    out, (g_scaling, g_weights) = forward_backward(qnode(dev), x, scaling, weights)
    assert dev.stats["jobs"] == 1
    ref_out, (ref_scaling, ref_weights) = reference(x, scaling, weights)
    assert torch.allclose(out, ref_out, atol=1e-9)
    assert torch.allclose(g_scaling, ref_scaling, atol=1e-8)
    assert torch.allclose(g_weights, ref_weights, atol=1e-8)


def test_forward_only_is_one_job_without_shift_rows():
    dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer")
    x, scaling, weights = policy_params(32)
    with torch.no_grad():
        qnode(dev)(x, scaling, weights)
    assert dev.stats["jobs"] == 1
    assert dev.stats["executions"] == 32  # no parameter-shift rows under no_grad


def test_grad_on_execution_false_gives_two_jobs(reference):
    dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer")
    x, scaling, weights = policy_params(8)
    out, grads = forward_backward(qnode(dev, grad_on_execution=False), x, scaling, weights)
    assert dev.stats["jobs"] == 2
    ref_out, ref_grads = reference(x, scaling, weights)
    assert torch.allclose(grads[1], ref_grads[1], atol=1e-8)


def test_each_structure_is_transpiled_once_per_process():
    dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer", fake_backend="FakeManilaV2")
    before = runtime.TRANSPILE_CALLS["aer+FakeManilaV2"]
    node = qnode(dev)
    for step, batch in enumerate([2, 3, 2]):  # new angles and batch sizes, same structure
        x, scaling, weights = policy_params(batch, n_layers=1, seed=step)
        forward_backward(node, x, scaling, weights)
    # a second device on the same backend reuses the ISA circuit too
    forward_backward(qnode(qml.device("qrl.qiskit", wires=N_QUBITS, target="aer",
                                      fake_backend="FakeManilaV2")), *policy_params(1, 1))
    assert runtime.TRANSPILE_CALLS["aer+FakeManilaV2"] - before == 1
    assert dev.stats["jobs"] == 3


def test_shot_results_match_default_qubit_within_shot_noise(reference):
    """Tolerance: an estimate of ⟨P⟩ from S shots has std ≤ 1/√S. A weight (or input
    scaling, |x| ≤ 1) enters one gate, so its two-term shift derivative of one output on one
    state has std ≤ √(2 · (1/2)² / S). The loss sums B independent states and 3 outputs with
    weights 1, 1/2, 1/4 (outputs share shots, so their errors add at worst linearly):
    std(grad) ≤ √B · 1.75 · √(0.5/S). We allow 5 standard deviations (< 1e-6 false alarms
    per value; the seed is fixed anyway)."""
    shots, batch = 2000, 3
    dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer", seed=11)
    x, scaling, weights = policy_params(batch, n_layers=2)
    out, grads = forward_backward(qnode(dev, shots), x, scaling, weights)
    ref_out, ref_grads = reference(x, scaling, weights)
    assert dev.stats["jobs"] == 1
    assert torch.all((out - ref_out).abs() < 5 / math.sqrt(shots))
    grad_std = math.sqrt(batch) * 1.75 * math.sqrt(0.5 / shots)
    for ours, theirs in zip(grads, ref_grads):
        assert torch.all((ours - theirs).abs() < 5 * grad_std)
    assert (out - ref_out).abs().max() > 0  # really sampled


def test_runtime_local_testing_mode_is_one_job_and_matches_noisy_aer():
    shots = 4000
    x, scaling, weights = policy_params(2, n_layers=1)
    fake = qml.device("qrl.qiskit", wires=N_QUBITS, target="fake", fake_backend="FakeManilaV2",
                      seed=5)
    out, _ = forward_backward(qnode(fake, shots), x, scaling, weights)
    assert fake.stats["jobs"] == 1
    exact = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer", fake_backend="FakeManilaV2")
    with torch.no_grad():
        noisy = torch.stack(qnode(exact)(x, scaling, weights), dim=-1)
    # the same noise model; layouts may pick different physical qubits, so allow shot noise
    # plus a calibration-spread margin
    assert torch.all((out - noisy).abs() < 5 / math.sqrt(shots) + 0.1)


@pytest.mark.parametrize("mode", ["batch", "session"])
def test_batch_and_session_modes_run_in_local_testing_mode(mode):
    dev = qml.device("qrl.qiskit", wires=2, target="fake", fake_backend="FakeManilaV2",
                     mode=mode, seed=1)

    @qml.set_shots(shots=500)
    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def bell(theta):
        qml.RY(theta, wires=0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

    theta = torch.tensor(0.1, requires_grad=True)
    bell(theta).backward()
    assert dev.stats["jobs"] == 1 and theta.grad is not None
    dev.close()


def test_backends_yaml_entries_reach_the_device():
    for name, target in [("aer.fast", "aer"), ("aer.noisy.manila", "aer"),
                         ("ibm.fake.manila", "fake"), ("ibm.least_busy", "ibm")]:
        dev = B.device(name, 4, B.PACKAGED)
        assert dev.name == "qrl.qiskit" and dev.target_name == target
    assert B.device("ibm.least_busy", 4, B.PACKAGED).budget.qpu_seconds == 600


@pytest.mark.parametrize("options, fragment", [
    ({"target": "cloud"}, "target 'cloud' is unknown"),
    ({"target": "fake"}, "needs fake_backend"),
    ({"target": "aer", "mode": "session"}, "mode applies to the fake and ibm targets"),
    ({"fake_backend": "FakeNowhere"}, "not in qiskit_ibm_runtime.fake_provider"),
    ({"shots_per_step": 3}, "no option 'shots_per_step'"),
    ({"budget": {"dollars": 3}}, "budget has unknown keys"),
    ({"zne": {"noise_factors": [1]}}, "at least two factors"),
    ({"target": "aer", "twirling": True}, "on aer use zne only"),
    ({"resilience_level": 5, "target": "fake", "fake_backend": "FakeManilaV2"},
     "resilience_level must be 0, 1 or 2"),
])
def test_bad_options_are_refused_in_one_sentence(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        qml.device("qrl.qiskit", wires=2, **options)


def test_too_many_wires_for_the_fake_backend():
    with pytest.raises(ValueError, match="do not fit on FakeManilaV2"):
        qml.device("qrl.qiskit", wires=6, target="aer", fake_backend="FakeManilaV2")


def test_sampling_targets_need_shots():
    dev = qml.device("qrl.qiskit", wires=1, target="fake", fake_backend="FakeManilaV2")
    node = qml.QNode(lambda: (qml.Hadamard(0), qml.expval(qml.X(0)))[1], dev)
    with pytest.raises(ValueError, match="set shots on the QNode"):
        node()


def test_ibm_without_account_says_how_to_configure_one(monkeypatch, tmp_path):
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved account either
    dev = qml.device("qrl.qiskit", wires=1, target="ibm")
    node = qml.set_shots(qml.QNode(lambda: (qml.Hadamard(0), qml.expval(qml.X(0)))[1], dev), 100)
    with pytest.raises(CredentialsError, match="QISKIT_IBM_TOKEN"):
        node()


def test_hamiltonians_and_unbroadcast_tapes():
    dev = qml.device("qrl.qiskit", wires=2, target="aer")
    ref = qml.device("default.qubit", wires=2)

    def circuit(a):
        qml.Rot(a, 0.3, -0.2, wires=0)
        qml.CRX(a / 2, wires=[0, 1])
        return qml.expval(0.7 * qml.Z(0) @ qml.Z(1) - 0.2 * qml.Y(1)), qml.expval(qml.X(0))

    a = torch.tensor(0.8, requires_grad=True, dtype=torch.float64)
    ours = torch.stack(qml.QNode(circuit, dev, diff_method="parameter-shift")(a))
    theirs = torch.stack(qml.QNode(circuit, ref, diff_method="backprop")(a))
    assert torch.allclose(ours, theirs, atol=1e-10)
    g1, = torch.autograd.grad(ours.sum(), a)
    g2, = torch.autograd.grad(theirs.sum(), a)
    assert torch.allclose(g1, g2, atol=1e-8)
    assert np.isfinite(g1.item())


def test_identical_forwards_share_one_cached_jacobian_until_both_backwards_ran():
    dev = qml.device("qrl.qiskit", wires=1, target="aer")

    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def f(w):
        qml.RY(w, 0)
        return qml.expval(qml.Z(0))

    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (f(w) + 2 * f(w)).backward()
    assert torch.allclose(w.grad, -3 * torch.sin(w.detach()))
    assert dev.stats["jobs"] == 2  # two forwards; no extra job for the backward
    assert not dev._jacobians  # freed after use

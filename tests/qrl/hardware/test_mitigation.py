"""Runtime mitigation options and local zero-noise extrapolation on noisy Aer."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pennylane as qml
import pytest
import torch

from qrl.hardware.mitigation import apply_runtime_options, runtime_options

torch.set_num_threads(1)


def test_runtime_options_reach_a_runtime_estimator():
    from qiskit_ibm_runtime import EstimatorV2
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    mapping = runtime_options(resilience_level=2, measure_mitigation=True,
                              zne={"noise_factors": [1, 2, 3], "extrapolator": "linear"},
                              dynamical_decoupling={"sequence_type": "XY4"},
                              twirling={"num_randomizations": 16})
    estimator = EstimatorV2(mode=FakeManilaV2())
    apply_runtime_options(estimator.options, mapping)
    o = estimator.options
    assert o.resilience_level == 2 and o.resilience.measure_mitigation is True
    assert o.resilience.zne_mitigation is True
    assert list(o.resilience.zne.noise_factors) == [1, 2, 3]
    assert o.resilience.zne.extrapolator == "linear"
    assert o.dynamical_decoupling.enable is True and o.dynamical_decoupling.sequence_type == "XY4"
    assert o.twirling.enable_gates is True and o.twirling.num_randomizations == 16


def test_unknown_extrapolator_is_refused():
    with pytest.raises(ValueError, match="zne.extrapolator 'cubic' is unknown"):
        runtime_options(zne={"extrapolator": "cubic"})


def deep_circuit(theta):
    for _ in range(3):  # enough two-qubit gates for FakeManilaV2's noise to show
        qml.RY(theta, wires=0)
        qml.CNOT([0, 1])
        qml.RX(theta / 2, wires=1)
        qml.CNOT([1, 2])
    return qml.expval(qml.Z(0) @ qml.Z(2))


def test_local_zne_moves_noisy_aer_towards_the_ideal_value_and_keeps_gradients():
    theta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    ideal = qml.QNode(deep_circuit, qml.device("default.qubit", wires=3))(theta)
    noisy_dev = qml.device("qrl.qiskit", wires=3, target="aer", fake_backend="FakeManilaV2")
    zne_dev = qml.device("qrl.qiskit", wires=3, target="aer", fake_backend="FakeManilaV2",
                         zne={"noise_factors": [1, 3, 5], "extrapolator": "richardson"})
    noisy = qml.QNode(deep_circuit, noisy_dev, diff_method="parameter-shift")(theta)
    mitigated = qml.QNode(deep_circuit, zne_dev, diff_method="parameter-shift")(theta)
    # exact noisy expectation values (density matrix): deterministic comparison
    assert abs(mitigated - ideal) < 0.5 * abs(noisy - ideal)
    assert zne_dev.stats["jobs"] == 1  # three folded structures, one job
    mitigated.backward()
    assert torch.isfinite(theta.grad)


def test_zne_returns_a_broadcast_batch_as_one_tensor_like_every_backend():
    import torch

    from qrl import backends as B

    def circuit(x):
        qml.RX(x, 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0))

    xs = torch.linspace(0, 1, 32, requires_grad=True)
    zne = B.qnode(circuit, "aer.noisy.manila.zne", 2)(xs)
    exact = B.qnode(circuit, "default.qubit", 2)(xs)
    assert isinstance(zne, torch.Tensor) and zne.shape == exact.shape == (32,)
    assert torch.allclose(zne.detach().float(), torch.cos(xs.detach()), atol=0.05)
    zne.sum().backward()
    assert xs.grad.shape == (32,) and torch.allclose(xs.grad.float(), -torch.sin(xs.detach()), atol=0.1)

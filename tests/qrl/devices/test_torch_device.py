"""Tests for the ``qrl.torch`` device: parity with default.qubit, device behaviour, errors."""

import doctest
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from pennylane.devices import ExecutionConfig  # noqa: E402
from pennylane.exceptions import DeviceError  # noqa: E402

from qrl.devices import torch_device  # noqa: E402
from qrl.devices.torch_device import SHOTS_ERROR, TorchStatevectorDevice  # noqa: E402

torch.set_num_threads(1)

BATCH = 3
TOLERANCES = {torch.complex64: 1e-5, torch.complex128: 1e-10}


# --------------------------------------------------------------------------- circuits
# Each circuit takes inputs x ([n] or [batch, n]) and unbatched weights w, and
# returns measurements; CIRCUITS maps a name to (n_wires, weight shape, qfunc).


def reuploading(x, w, n=4, encoding=qml.RX):
    """The policy circuit of our agents: encoding, RX/RY/RZ, CZ ring; final layer."""
    layers = w.shape[0] - 1
    for layer in range(layers):
        for i in range(n):
            encoding(w[layer, i, 3] * x[..., i], wires=i)
        for i in range(n):
            qml.RX(w[layer, i, 0], wires=i)
            qml.RY(w[layer, i, 1], wires=i)
            qml.RZ(w[layer, i, 2], wires=i)
        for i in range(n):
            qml.CZ(wires=[i, (i + 1) % n])
    for i in range(n):
        qml.RZ(w[layers, i, 0], wires=i)
        qml.RY(w[layers, i, 1], wires=i)
        qml.RZ(w[layers, i, 2], wires=i)
    return (
        qml.expval(qml.Z(0) @ qml.Z(1) @ qml.Z(2) @ qml.Z(3)),
        qml.expval(qml.Z(1)),
        qml.expval(0.7 * qml.Z(0) + 0.2 * qml.X(1) @ qml.Y(2) - 0.4 * qml.Y(3)),
    )


def reuploading_ry(x, w):
    return reuploading(x, w, encoding=qml.RY)


def reuploading_rz(x, w):
    return reuploading(x, w, encoding=qml.RZ)


def strongly_entangling(x, w):
    qml.AngleEmbedding(x, wires=range(4), rotation="Y")
    qml.StronglyEntanglingLayers(w, wires=range(4))
    return qml.expval(qml.Z(0)), qml.probs(wires=[2, 0]), qml.var(qml.X(1) + qml.Z(3))


def zoo(x, w):
    """Many gate types, some decomposed by PennyLane, in one circuit."""
    qml.Hadamard(0)
    qml.PauliX(1)
    qml.RY(x[..., 0], wires=2)
    qml.CNOT(wires=[0, 2])
    qml.IsingZZ(w[0], wires=[1, 2])
    qml.CRX(w[1], wires=[2, 0])
    qml.RX(x[..., 1], wires=1)
    qml.Rot(w[2], w[3], w[4], wires=1)
    qml.S(0)
    qml.T(1)
    qml.SX(2)
    qml.PauliY(0)
    qml.PhaseShift(w[5], wires=2)
    qml.ControlledPhaseShift(w[6], wires=[0, 1])
    qml.CRZ(x[..., 2] * w[7], wires=[1, 0])
    qml.MultiRZ(w[8], wires=[0, 1, 2])
    qml.SWAP(wires=[0, 2])
    qml.CY(wires=[1, 2])
    qml.Toffoli(wires=[0, 1, 2])
    qml.IsingXX(w[9], wires=[0, 1])
    qml.U3(w[0], w[1], w[2], wires=0)
    qml.adjoint(qml.S)(2)
    qml.GlobalPhase(w[3])
    qml.PauliRot(w[4], "XY", wires=[0, 2])
    return qml.state(), qml.expval(qml.Hermitian(np.array([[1.0, 2j], [-2j, 0.5]]), wires=1))


MAXCUT_COST, MAXCUT_MIXER = qml.qaoa.maxcut(nx.cycle_graph(4))  # built outside any QNode


def qaoa(x, w):
    cost, mixer = MAXCUT_COST, MAXCUT_MIXER
    for i in range(4):
        qml.Hadamard(i)
        qml.RZ(x[..., i], wires=i)
    for layer in range(2):
        qml.qaoa.cost_layer(w[layer, 0], cost)
        qml.qaoa.mixer_layer(w[layer, 1], mixer)
    return qml.expval(cost), qml.probs(wires=range(4))


def controlled(x, w):
    """Amplitude-estimation style pieces: controlled rotations, QFT, multi-controls."""
    qml.Hadamard(0)
    qml.Hadamard(1)
    qml.RY(x[..., 0], wires=3)
    qml.ctrl(qml.RY(w[0], wires=3), control=0)
    qml.ctrl(qml.RY(w[1], wires=3), control=[0, 1])
    qml.ctrl(qml.RX(w[2], wires=4), control=[0, 1, 2], control_values=[1, 0, 1])
    qml.MultiControlledX(wires=[0, 1, 3, 4])
    qml.adjoint(qml.QFT(wires=[0, 1, 2]))
    qml.QFT(wires=[0, 1, 2, 4])
    return qml.probs(wires=[0, 1, 2]), qml.expval(qml.Z(3) @ qml.X(4))


def state_prep(x, w):
    qml.AmplitudeEmbedding(torch.cat([x, x**2], dim=-1), wires=range(3), normalize=True,
                           pad_with=0.3)
    qml.RY(w[0], wires=0)
    qml.CNOT(wires=[0, 1])
    return qml.expval(qml.Z(0) @ qml.X(2)), qml.state()


def alternating(x, w):
    """Broadcast and fixed gates alternate on a wire: fused in several runs."""
    qml.RX(x[..., 0], wires=0)
    qml.RY(w[0], wires=0)
    qml.RZ(x[..., 1] * w[1], wires=0)
    qml.Hadamard(0)
    qml.RX(w[2], wires=0)
    qml.RY(x[..., 1], wires=1)
    qml.PhaseShift(x[..., 0], wires=1)
    qml.CNOT(wires=[0, 1])
    qml.RY(w[0], wires=1)
    qml.T(1)
    qml.RX(x[..., 0], wires=1)
    return qml.expval(qml.X(0) @ qml.Y(1)), qml.probs(wires=[1])


CIRCUITS = {
    "alternating": (2, (3,), alternating),
    "reuploading": (4, (3, 4, 4), reuploading),
    "reuploading_ry": (4, (2, 4, 4), reuploading_ry),
    "reuploading_rz": (4, (2, 4, 4), reuploading_rz),
    "strongly_entangling": (4, (2, 4, 3), strongly_entangling),
    "zoo": (3, (10,), zoo),
    "qaoa": (4, (2, 2), qaoa),
    "controlled": (5, (3,), controlled),
    "state_prep": (3, (1,), state_prep),
}


def _scalar(results):
    """A real scalar mixing every output, so gradients see all of them."""
    results = results if isinstance(results, (tuple, list)) else (results,)
    total = 0
    for k, r in enumerate(results):
        if r.is_complex():
            weights = torch.arange(r.shape[-1], dtype=torch.float64) + 1.0
            total = total + (r.real.double() * weights).sum() - 0.5 * (r.imag.double()).sum()
        else:
            total = total + (k + 1.5) * r.double().sum()
    return total


def _run(device, qfunc, x, w):
    qnode = qml.QNode(qfunc, device, interface="torch", diff_method="backprop")
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    results = qnode(x, w)
    grads = torch.autograd.grad(_scalar(results), [x, w], allow_unused=True)
    results = results if isinstance(results, tuple) else (results,)
    return results, grads


@pytest.mark.parametrize("name", sorted(CIRCUITS))
@pytest.mark.parametrize("c_dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("batched", [True, False])
def test_outputs_and_gradients_match_default_qubit(name, c_dtype, batched):
    n, w_shape, qfunc = CIRCUITS[name]
    gen = torch.Generator().manual_seed(7)
    x = torch.rand((BATCH, n) if batched else (n,), generator=gen, dtype=torch.float64) * 2 - 1
    w = torch.rand(w_shape, generator=gen, dtype=torch.float64) * 2 * np.pi
    ours, our_grads = _run(qml.device("qrl.torch", wires=n, c_dtype=c_dtype), qfunc, x, w)
    ref, ref_grads = _run(qml.device("default.qubit", wires=n), qfunc, x, w)
    tol = TOLERANCES[c_dtype]
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        assert a.dtype in (c_dtype, torch.float32 if c_dtype == torch.complex64 else torch.float64)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=tol, rtol=0)
    for a, b in zip(our_grads, ref_grads):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=tol * 10, rtol=tol)


def test_fusion_switch_does_not_change_results():
    n, w_shape, qfunc = CIRCUITS["reuploading"]
    x = torch.rand(BATCH, n, dtype=torch.float64)
    w = torch.rand(w_shape, dtype=torch.float64)
    fused, fused_grads = _run(qml.device("qrl.torch", wires=n, c_dtype="complex128"), qfunc, x, w)
    plain, plain_grads = _run(
        qml.device("qrl.torch", wires=n, c_dtype="complex128", fuse=False), qfunc, x, w
    )
    for a, b in zip(fused + fused_grads, plain + plain_grads):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)


# --------------------------------------------------------------------------- device API


def test_device_is_registered_under_its_name():
    dev = qml.device("qrl.torch", wires=3)
    assert isinstance(dev, TorchStatevectorDevice)
    assert dev.name == "qrl.torch"
    assert dev.c_dtype == torch.complex64
    assert qml.device("qrl.torch", wires=2, c_dtype=np.complex128).c_dtype == torch.complex128


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="c_dtype must be torch.complex64 or torch.complex128"):
        qml.device("qrl.torch", wires=2, c_dtype="float32")


def test_best_resolves_to_backprop_and_keeps_broadcast_tapes_whole():
    dev = qml.device("qrl.torch", wires=2)
    config = dev.setup_execution_config(ExecutionConfig(gradient_method="best"))
    assert config.gradient_method == "backprop"
    assert dev.supports_derivatives(ExecutionConfig(gradient_method="backprop"))
    assert not dev.supports_derivatives(ExecutionConfig(gradient_method="adjoint"))

    @qml.qnode(dev, interface="torch", diff_method="best")
    def circuit(x):
        qml.RX(x, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.Z(1))

    x = torch.linspace(0, np.pi, 5, requires_grad=True)
    with qml.Tracker(dev) as tracker:
        out = circuit(x)
    assert tracker.totals["simulations"] == 1  # one broadcast tape, not five
    assert tracker.totals["executions"] == 5  # PennyLane counts each broadcast element
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), np.cos(x.detach().numpy()), atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.detach().numpy()), atol=1e-6)


def test_custom_wire_labels_and_state_order():
    dev = qml.device("qrl.torch", wires=["anc", 7, "q"], c_dtype=torch.complex128)
    ref = qml.device("default.qubit", wires=["anc", 7, "q"])

    def circuit():
        qml.PauliX("q")
        qml.Hadamard(7)
        qml.CNOT(wires=[7, "anc"])
        return qml.state(), qml.probs(wires=["q", "anc"])

    for a, b in zip(qml.QNode(circuit, dev)(), qml.QNode(circuit, ref)()):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_device_without_wires_uses_the_circuit_wires():
    def circuit(x):
        qml.RY(x, wires="b")
        qml.CNOT(wires=["b", "a"])
        return qml.state()

    ours = qml.QNode(circuit, qml.device("qrl.torch", c_dtype="complex128"))(0.4)
    ref = qml.QNode(circuit, qml.device("default.qubit"))(0.4)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_wire_not_on_device_is_refused():
    @qml.qnode(qml.device("qrl.torch", wires=2))
    def circuit():
        qml.Hadamard(5)
        return qml.expval(qml.Z(0))

    with pytest.raises((qml.wires.WireError, DeviceError), match="wires"):
        circuit()


def test_multiple_measurements_have_default_qubit_shapes():
    def circuit(x):
        qml.RX(x, wires=0)
        qml.RY(0.3, wires=1)
        return (qml.expval(qml.Z(0)), qml.probs(wires=[1, 0]), qml.state(),
                qml.var(qml.Y(1)), qml.probs(op=qml.X(0)))

    x = torch.tensor([0.1, 0.2, 0.3, 0.4])
    ours = qml.QNode(circuit, qml.device("qrl.torch", wires=2))(x)
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2))(x)
    assert [tuple(r.shape) for r in ours] == [(4,), (4, 4), (4, 4), (4,), (4, 2)]
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_sum_of_small_hermitians_spanning_many_wires_has_exact_expval():
    obs = qml.Hermitian(np.diag([1.0, -2.0]), wires=0) + 0.5 * qml.Hermitian(
        np.diag(np.arange(8.0)), wires=[1, 2, 3])

    def circuit():
        qml.PauliX(0)
        qml.PauliX(3)
        return qml.expval(obs)

    out = qml.QNode(circuit, qml.device("qrl.torch", wires=4))()
    np.testing.assert_allclose(out, -2.0 + 0.5 * 1.0, atol=1e-6)


def test_hamiltonian_with_trainable_coefficients():
    coeffs = torch.tensor([0.5, -1.2, 0.3], dtype=torch.float64, requires_grad=True)
    obs = [qml.Z(0) @ qml.Z(1), qml.X(0), qml.Y(0) @ qml.X(1)]

    def circuit(c):
        qml.RX(0.3, wires=0)
        qml.RY(0.8, wires=1)
        qml.CNOT(wires=[1, 0])
        return qml.expval(qml.Hamiltonian(c, obs))

    grads = []
    for name in ("qrl.torch", "default.qubit"):
        kwargs = {"c_dtype": "complex128"} if name == "qrl.torch" else {}
        out = qml.QNode(circuit, qml.device(name, wires=2, **kwargs), diff_method="backprop")(
            coeffs)
        grads.append(torch.autograd.grad(out, coeffs)[0])
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), atol=1e-12)


def test_numpy_inputs_give_numpy_outputs_and_parameter_shift_works():
    def circuit(x):
        qml.RX(x, wires=0)
        qml.CZ(wires=[0, 1])
        return qml.expval(qml.Z(0))

    out = qml.QNode(circuit, qml.device("qrl.torch", wires=2))(0.5)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, np.cos(0.5), atol=1e-6)

    x = torch.tensor(0.5, requires_grad=True)
    qnode = qml.QNode(circuit, qml.device("qrl.torch", wires=2), interface="torch",
                      diff_method="parameter-shift")
    qnode(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(0.5), atol=1e-6)


def test_sixteen_qubits_batch_four_runs_without_dense_matrices():
    n = 16
    dev = qml.device("qrl.torch", wires=n)

    @qml.qnode(dev, interface="torch")
    def circuit(x, w):
        for i in range(n):
            qml.RX(x[:, i], wires=i)
            qml.RY(w[i], wires=i)
        for i in range(n):
            qml.CZ(wires=[i, (i + 1) % n])
        qml.CNOT(wires=[0, n - 1])
        return qml.expval(qml.Z(0)), qml.expval(qml.Z(n - 1) @ qml.X(3))

    x = torch.rand(4, n, generator=torch.Generator().manual_seed(3)) * 2 * np.pi
    w = torch.zeros(n, requires_grad=True)
    z0, zx = circuit(x, w)
    (z0.sum() + zx.sum()).backward()
    # with w = 0 the CZs act on a product state of RX rotations; <Z0> = cos(x0)
    np.testing.assert_allclose(z0.detach().numpy(), np.cos(x[:, 0].numpy()), atol=1e-5)
    assert w.grad.shape == (n,)
    assert torch.isfinite(w.grad).all()


# --------------------------------------------------------------------------- errors


def test_finite_shots_are_refused_with_the_fix_in_the_message():
    @qml.set_shots(100)
    @qml.qnode(qml.device("qrl.torch", wires=1))
    def circuit():
        qml.Hadamard(0)
        return qml.expval(qml.Z(0))

    with pytest.raises(DeviceError) as info:
        circuit()
    assert str(info.value) == (
        "qrl.torch computes exact (analytic) results only and does not sample shots; "
        "remove shots from the QNode (qml.set_shots / shots=) or use default.qubit for sampling."
    )
    assert str(info.value) == SHOTS_ERROR


@pytest.mark.parametrize(
    "measurement",
    [
        lambda: qml.expval(qml.Hermitian(np.eye(16), wires=[0, 1, 2, 3])),
        lambda: qml.var(qml.Hermitian(np.eye(2), wires=0) + qml.Hermitian(np.eye(8), [1, 2, 3])),
    ],
)
def test_unsupported_measurements_are_refused(measurement):
    @qml.qnode(qml.device("qrl.torch", wires=4))
    def circuit():
        qml.Hadamard(0)
        return measurement()

    with pytest.raises(DeviceError, match="not accepted for analytic simulation on qrl.torch"):
        circuit()


@pytest.mark.parametrize("measurement", [
    lambda: qml.density_matrix(wires=[0]),
    lambda: qml.vn_entropy(wires=[0]),
    lambda: qml.purity(wires=[1]),
    lambda: qml.mutual_info(wires0=[0], wires1=[2]),
])
@pytest.mark.parametrize("x", [[0.3, 1.2, 2.0], 0.7])
def test_other_state_measurements_match_default_qubit(measurement, x):
    results = []
    for dev in (qml.device("qrl.torch", wires=3, c_dtype=torch.complex128), qml.device("default.qubit", wires=3)):
        @qml.qnode(dev, interface="torch", diff_method="backprop")
        def circuit(angle):
            qml.RY(angle, 0)
            qml.CNOT([0, 1])
            qml.RX(0.4, 2)
            qml.CNOT([1, 2])
            return measurement()

        angle = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        out = circuit(angle)
        grad = torch.autograd.grad((out.real if out.is_complex() else out).sum(), angle)[0]
        results.append((out.detach(), grad))
    (ours, our_grad), (ref, ref_grad) = results
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-10)
    np.testing.assert_allclose(our_grad.numpy(), ref_grad.numpy(), atol=1e-9)


class _FourWireBlackBox(qml.operation.Operation):
    """A gate with no matrix and no decomposition."""

    num_wires = 4


def test_gate_without_matrix_or_decomposition_is_refused():
    @qml.qnode(qml.device("qrl.torch", wires=4))
    def circuit():
        _FourWireBlackBox(wires=range(4))
        return qml.expval(qml.Z(0))

    with pytest.raises(DeviceError) as info:
        circuit()
    assert str(info.value) == (
        "Operator _FourWireBlackBox(wires=[0, 1, 2, 3]) not supported with qrl.torch "
        "and does not provide a decomposition."
    )


def test_docstring_examples_run():
    failures, tried = doctest.testmod(torch_device, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


# --------------------------------------------------------------------------- compiled circuits


def _gate_parameters(qnode, x, w):
    """The gate parameters of the device-level tape, in order (connected to x and w)."""
    tape = qml.workflow.construct_tape(qnode, level="device")(x, w)
    return [d for op in tape.operations for d in op.data]


@pytest.mark.parametrize("name", sorted(set(CIRCUITS) - {"state_prep"}))
@pytest.mark.parametrize("c_dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("batched", [True, False])
def test_compiled_circuit_matches_the_qnode_on_new_parameters(name, c_dtype, batched):
    n, w_shape, qfunc = CIRCUITS[name]
    dev = qml.device("qrl.torch", wires=n, c_dtype=c_dtype)
    qnode = qml.QNode(qfunc, dev, interface="torch", diff_method="backprop")
    gen = torch.Generator().manual_seed(11)
    shape = (BATCH, n) if batched else (n,)
    x0, w0 = torch.rand(shape, generator=gen, dtype=torch.float64), torch.rand(w_shape, generator=gen, dtype=torch.float64)
    compiled = dev.compile(qml.workflow.construct_tape(qnode)(x0, w0))
    assert compiled.packable

    x = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    w = (torch.rand(w_shape, generator=gen, dtype=torch.float64) * 2 * np.pi).requires_grad_()
    ref = qnode(x, w)
    ref = ref if isinstance(ref, tuple) else (ref,)
    ref_grads = torch.autograd.grad(_scalar(ref), [x, w])
    tol = TOLERANCES[c_dtype]
    for call in ("list", "packed"):
        params = _gate_parameters(qnode, x, w)
        ours = compiled(params) if call == "list" else compiled.packed(*compiled.pack(params))
        grads = torch.autograd.grad(_scalar(ours), [x, w])
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=tol, rtol=0)
        for a, b in zip(grads, ref_grads):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=tol * 10, rtol=tol)


def test_compiled_rot_with_one_broadcast_angle_packs():
    """A broadcast gate whose other parameters are fixed: the mixed branch of ``packed``."""
    def circuit(x, w):
        qml.Rot(x, w[0], w[1], wires=0)
        qml.RY(w[2], wires=1)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1)), qml.expval(qml.X(0))

    dev = qml.device("qrl.torch", wires=2, c_dtype=torch.complex128)
    qnode = qml.QNode(circuit, dev, interface="torch", diff_method="backprop")
    compiled = dev.compile(qml.workflow.construct_tape(qnode)(torch.rand(3, dtype=torch.float64),
                                                              torch.rand(3, dtype=torch.float64)))
    x = torch.tensor([0.2, -1.1, 2.5], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.4, 1.3, -0.6], dtype=torch.float64, requires_grad=True)
    ours = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w)))
    ref = qnode(x, w)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-10)
    ours_grad = torch.autograd.grad(_scalar(ours), [x, w])
    ref_grad = torch.autograd.grad(_scalar(ref), [x, w])
    for a, b in zip(ours_grad, ref_grad):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-9)


def test_compiled_circuit_takes_a_new_batch_size():
    n, w_shape, qfunc = CIRCUITS["reuploading"]
    dev = qml.device("qrl.torch", wires=n, c_dtype=torch.complex128)
    qnode = qml.QNode(qfunc, dev, interface="torch", diff_method="backprop")
    w = torch.rand(w_shape, dtype=torch.float64)
    compiled = dev.compile(qml.workflow.construct_tape(qnode)(torch.rand(3, n, dtype=torch.float64), w))
    x = torch.rand(7, n, dtype=torch.float64)
    ours = compiled(_gate_parameters(qnode, x, w))
    for a, b in zip(ours, qnode(x, w)):
        assert a.shape == (7,)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-10)


def test_compiled_circuit_refuses_what_it_cannot_run():
    n, w_shape, qfunc = CIRCUITS["state_prep"]
    dev = qml.device("qrl.torch", wires=n)
    qnode = qml.QNode(qfunc, dev, interface="torch")
    tape = qml.workflow.construct_tape(qnode)(torch.rand(3, n), torch.rand(w_shape))
    with pytest.raises(DeviceError, match="circuits that start with a state preparation are not compiled; "
                                          "call them through their QNode."):
        dev.compile(tape)

    coeff = torch.tensor(0.5, requires_grad=True)
    tape = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.expval(coeff * qml.Z(0))])
    with pytest.raises(DeviceError, match="parametrised observables are not compiled"):
        qml.device("qrl.torch", wires=1).compile(tape)

    compiled = qml.device("qrl.torch", wires=1).compile(
        qml.tape.QuantumScript([qml.RX(0.1, 0), qml.RY(0.2, 0)], [qml.expval(qml.Z(0))]))
    with pytest.raises(ValueError, match=r"the compiled circuit takes 2 parameters; got 1\."):
        compiled([torch.tensor(0.3)])
    with pytest.raises(ValueError, match=r"takes fixed \[2\] and broadcast \[batch, 0\] parameters; got \(3,\)"):
        compiled.packed(torch.zeros(3))


# --------------------------------------------------------------------------- layered compiled circuits


def _layered_circuit(n, entangler, observables):
    """Re-uploading layers of RX/RY/RZ and a constant entangler: compiled as dense layers."""
    def circuit(x, w):
        for layer in range(w.shape[0] - 1):
            for q in range(n):
                qml.RZ(w[layer, q, 0], wires=q)
                qml.RY(w[layer, q, 1], wires=q)
            for q in range(n):
                entangler(wires=[q, (q + 1) % n])
            for q in range(n):
                qml.RX(x[..., q % x.shape[-1]] * w[layer, q, 2], wires=q)
        for q in range(n):
            qml.RY(w[-1, q, 0], wires=q)
        return [qml.expval(o) for o in observables]
    return circuit


@pytest.mark.parametrize("n, entangler", [(4, qml.CZ), (3, qml.CNOT), (5, qml.CZ), (6, qml.CNOT), (8, qml.CZ)])
@pytest.mark.parametrize("c_dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("batched", [True, False])
def test_layered_compiled_circuit_matches_default_qubit(n, entangler, c_dtype, batched, monkeypatch):
    """Dense layers (one chunk up to 4 qubits, chunks of 4, 3, 2 or 1 above) and the one-pass Z table."""
    monkeypatch.setattr("qrl.devices.torch_sim.compiled.LAYERED_MAX_AMPLITUDES", 2**20)  # layered at any size
    observables = [qml.Z(0) @ qml.Z(n - 1), 0.5 * qml.Z(1) - 1.5 * qml.Z(0) @ qml.Z(2), qml.Z(n - 1)]
    qfunc = _layered_circuit(n, entangler, observables)
    dev = qml.device("qrl.torch", wires=n, c_dtype=c_dtype)
    qnode = qml.QNode(qfunc, dev, interface="torch", diff_method="backprop")
    gen = torch.Generator().manual_seed(21)
    shape = (BATCH, 2) if batched else (2,)
    w = (torch.rand((3, n, 3), generator=gen, dtype=torch.float64) * 2 * np.pi).requires_grad_()
    x = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    compiled = dev.compile(qml.workflow.construct_tape(qnode)(x.detach(), w.detach()))
    assert compiled._layered is not None and compiled._z_table is not None
    ours = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w)))
    stacked = compiled.expvals(*compiled.pack(_gate_parameters(qnode, x, w)))
    assert stacked.shape == ((BATCH, 3) if batched else (3,))
    np.testing.assert_allclose(stacked.detach().numpy(), torch.stack(ours, -1).detach().numpy(), atol=0)
    ref_qnode = qml.QNode(qfunc, qml.device("default.qubit", wires=n), interface="torch", diff_method="backprop")
    ref = ref_qnode(x, w)
    tol = TOLERANCES[c_dtype]
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=tol, rtol=0)
    ours_grad = torch.autograd.grad(_scalar(ours), [x, w])
    ref_grad = torch.autograd.grad(_scalar(ref), [x, w])
    for a, b in zip(ours_grad, ref_grad):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=tol * 10, rtol=tol)


def test_acting_reuses_fixed_layers_only_while_the_angles_are_equal():
    """Under inference_mode the fixed layers are cached by value; a changed weight is seen at once,
    and a circuit first called (and compiled) under inference_mode still trains afterwards."""
    n = 4
    qfunc = _layered_circuit(n, qml.CZ, [qml.Z(0) @ qml.Z(1)])
    dev = qml.device("qrl.torch", wires=n, c_dtype=torch.complex128)
    qnode = qml.QNode(qfunc, dev, interface="torch", diff_method="backprop")
    w = torch.rand(3, n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 6
    x = torch.rand(1, 2, dtype=torch.float64)
    with torch.inference_mode():
        compiled = dev.compile(qml.workflow.construct_tape(qnode)(x, w))
        first = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w)))[0]
        again = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w)))[0]
    np.testing.assert_allclose(first.numpy(), again.numpy(), atol=0)
    w_new = w.clone()
    w_new[1, 2, 0] += 0.3
    with torch.no_grad():
        changed = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w_new)))[0]
    np.testing.assert_allclose(changed.numpy(), qnode(x, w_new)[0].numpy(), atol=1e-10)
    assert abs(float(changed[0] - first[0])) > 1e-3
    w_new.requires_grad_()
    out = compiled.packed(*compiled.pack(_gate_parameters(qnode, x, w_new)))[0]
    grad = torch.autograd.grad(out.sum(), w_new)[0]
    ref_grad = torch.autograd.grad(qnode(x, w_new)[0].sum(), w_new)[0]
    np.testing.assert_allclose(grad.numpy(), ref_grad.numpy(), atol=1e-10)

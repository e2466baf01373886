import numpy as np
import pytest
import torch

from qrl.models import VQC, ReuploadingPolicy, ReuploadingQNetwork, ReuploadingValue


def test_jerbi_policy_has_94_parameters():
    pi = ReuploadingPolicy(obs_dim=4, n_actions=2, n_layers=5, backend="default.qubit")
    assert pi.n_params == 94
    groups = pi.parameter_groups()
    assert [p.numel() for p in groups["input_scaling"]] == [20]
    assert [p.numel() for p in groups["weights"]] == [72]
    assert [p.numel() for p in groups["output_scaling"]] == [2]


def test_policy_probabilities_sum_to_one_for_a_batch():
    torch.manual_seed(0)
    pi = ReuploadingPolicy(obs_dim=4, n_actions=3, backend="default.qubit")
    probs = pi.distribution(torch.randn(16, 4)).probs
    assert probs.shape == (16, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(16))
    assert (probs > 0).all()


def test_batch_output_equals_per_sample_outputs():
    torch.manual_seed(1)
    model = VQC(4, 2, n_qubits=4, n_layers=2, backend="default.qubit")
    x = torch.randn(5, 4)
    batched = model(x)
    single = torch.stack([model(row) for row in x])
    torch.testing.assert_close(batched, single)


def test_q_network_uses_pair_observables_and_value_is_scalar():
    q = ReuploadingQNetwork(obs_dim=4, n_actions=2, n_layers=1, backend="default.qubit")
    assert q.vqc.observables == ["Z0Z1", "Z2Z3"]
    assert q(torch.zeros(3, 4)).shape == (3, 2)
    v = ReuploadingValue(obs_dim=4, n_layers=1, backend="default.qubit")
    assert v(torch.zeros(3, 4)).shape == (3,)


def test_one_qubit_circuit_has_a_known_value():
    # RX(λx) then RX(θ) on |0>: <Z> = cos(λx + θ) when the other rotations are zero.
    model = VQC(1, 1, n_qubits=1, n_layers=1, rotations="x", backend="default.qubit", output_scaling=False)
    with torch.no_grad():
        model.weights.zero_()
        model.weights[1, 0, 0] = 0.3
        model.input_scaling.fill_(2.0)
    out = model(torch.tensor([[0.4]]))
    assert out.item() == pytest.approx(np.cos(2.0 * 0.4 + 0.3), abs=1e-6)


def test_unit_expectations_map_to_one_plus_expval_over_two():
    model = VQC(1, 1, n_qubits=1, n_layers=1, rotations="x", backend="default.qubit", unit_expectations=True)
    with torch.no_grad():
        model.weights.zero_()
        model.weights[1, 0, 0] = 0.3
        model.output_scaling.fill_(4.0)
    out = model(torch.tensor([[0.4]]))
    assert out.item() == pytest.approx(4.0 * (1 + np.cos(0.4 + 0.3)) / 2, abs=1e-6)


def test_output_bias_is_one_shared_offset_with_its_own_parameter_group():
    model = VQC(1, 2, n_qubits=2, n_layers=1, rotations="x", backend="qrl.torch", output_bias=True,
                observables=["Z0", "Z1"])
    with torch.no_grad():
        model.weights.zero_()
        model.weights[1, 0, 0] = 0.3
        model.output_scaling.copy_(torch.tensor([4.0, -2.0]))
        model.output_bias.fill_(50.0)
    out = model(torch.tensor([[0.4]]))[0]
    assert out.tolist() == pytest.approx([50.0 + 4.0 * np.cos(0.4 + 0.3), 50.0 - 2.0], abs=1e-5)
    assert list(model.parameter_groups()) == ["input_scaling", "weights", "output_scaling", "output_bias"]
    assert model.n_params == 1 * 1 + 2 * 2 * 1 + 2 + 1


def test_output_bias_starts_at_its_init_value_from_a_model_spec():
    from classical.rl.models import build_model

    q = build_model({"type": "vqc", "n_qubits": 2, "n_layers": 1, "output_bias": True, "output_bias_init": 1.0},
                    "q", 2, 2, backend="qrl.torch")
    assert q.vqc.output_bias.tolist() == [1.0]
    with torch.no_grad():
        q.vqc.output_scaling.zero_()
    assert q(torch.zeros(3, 2)).tolist() == [[1.0, 1.0]] * 3
    assert VQC(1, 2, n_qubits=2, n_layers=1, backend="qrl.torch", output_bias=True).output_bias.tolist() == [0.0]


def test_shared_output_scaling_is_one_weight_that_keeps_the_argmax():
    model = VQC(1, 2, n_qubits=2, n_layers=1, rotations="x", backend="qrl.torch", output_scaling="shared",
                unit_expectations=True, observables=["Z0", "Z1"])
    with torch.no_grad():
        model.weights.zero_()
        model.weights[1, 0, 0] = 0.3
    x = torch.tensor([[0.4]])
    before = model(x)[0]
    with torch.no_grad():
        model.output_scaling.fill_(120.0)
    after = model(x)[0]
    assert model.output_scaling.shape == (1,)
    assert after.tolist() == pytest.approx([120.0 * (1 + np.cos(0.7)) / 2, 120.0], abs=1e-4)
    assert after.argmax() == before.argmax()
    assert model.n_params == 1 * 1 + 2 * 2 * 1 + 1
    with pytest.raises(ValueError, match="output_scaling must be true, false or 'shared', not 'per'"):
        VQC(1, 2, n_qubits=2, n_layers=1, backend="qrl.torch", output_scaling="per")


def test_output_scale_init_sets_the_starting_weights():
    shared = VQC(1, 2, n_qubits=2, n_layers=1, backend="qrl.torch", output_scaling="shared",
                 unit_expectations=True, observables=["Z0", "Z1"], output_scale_init=100.0)
    per_action = VQC(1, 2, n_qubits=2, n_layers=1, backend="qrl.torch", output_scale_init=2.5)
    assert shared.output_scaling.tolist() == [100.0]
    assert per_action.output_scaling.tolist() == [2.5, 2.5]
    with torch.no_grad():
        shared.weights.zero_()
    assert shared(torch.zeros(1, 1))[0].tolist() == pytest.approx([100.0, 100.0])  # (1 + <Z>)/2 = 1 at |0>


def grads_on(backend, x):
    torch.manual_seed(3)
    model = VQC(2, 2, n_qubits=2, n_layers=1, backend=backend).double()
    out = model(x)
    (out * torch.tensor([1.0, -0.5], dtype=torch.float64)).sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("backend", ["lightning.qubit", "aer.statevector"])
def test_outputs_and_gradients_agree_with_default_qubit(backend):
    x = torch.tensor([[0.1, -0.7], [1.2, 0.4]], dtype=torch.float64)
    ref_out, ref_grads = grads_on("default.qubit", x)
    out, grads = grads_on(backend, x)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=0)


def test_bad_model_options_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown entangler 'ring'; choose one of cz_ring, cnot_ring, none."):
        VQC(2, 2, n_qubits=2, n_layers=1, entangler="ring", backend="default.qubit")
    with pytest.raises(ValueError, match="rotations 'xq' must be letters from 'xyz'"):
        VQC(2, 2, n_qubits=2, n_layers=1, rotations="xq", backend="default.qubit")


@pytest.mark.parametrize("kwargs", [
    dict(n_inputs=4, n_outputs=2, n_qubits=4, n_layers=5),
    dict(n_inputs=6, n_outputs=3, n_qubits=3, n_layers=2, rotations="zyz", entangler="cnot_ring", encoding="ry"),
    dict(n_inputs=2, n_outputs=1, n_qubits=1, n_layers=3, rotations="y", encoding="rz"),
    dict(n_inputs=3, n_outputs=2, n_qubits=3, n_layers=1, entangler="none", observables=["X0Y1", "Z2"]),
])
@pytest.mark.parametrize("c_dtype, tol", [("complex128", 1e-10), ("complex64", 1e-5)])
def test_compiled_vqc_matches_the_qnode_for_values_and_gradients(kwargs, c_dtype, tol):
    from qrl.devices.torch_device import CompiledCircuit

    torch.manual_seed(5)
    compiled = VQC(backend="qrl.torch", c_dtype=c_dtype, **kwargs).double()
    plain = VQC(backend="qrl.torch", compile=False, c_dtype=c_dtype, **kwargs).double()
    plain.load_state_dict(compiled.state_dict())
    for batch in (6, 1, 9):  # the batch size may change between calls
        x = torch.randn(batch, kwargs["n_inputs"], dtype=torch.float64)
        outs = []
        for model in (compiled, plain):
            model.zero_grad()
            out = model(x)
            (out * torch.linspace(-1, 1, out.shape[-1], dtype=torch.float64)).sum().backward()
            outs.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
        torch.testing.assert_close(outs[0][0], outs[1][0], atol=tol, rtol=0)
        for a, b in zip(outs[0][1], outs[1][1]):
            torch.testing.assert_close(a, b, atol=10 * tol, rtol=tol)
    assert isinstance(compiled._compiled, CompiledCircuit)
    assert plain._compiled is False


def test_other_backends_never_compile():
    model = VQC(2, 2, n_qubits=2, n_layers=1, backend="default.qubit")
    model(torch.zeros(3, 2))
    assert model._compiled is False

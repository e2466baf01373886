import itertools

import numpy as np
import pennylane as qml
import pytest

from qrl import backends as B
from qrl.hardware.mitigation import apply_runtime_options, runtime_options
from qrl.pec import (LABELS, _commute_sign, depolarizing_probs, example_circuit, gamma, ideal_expectation,
                     inverse_quasi_probabilities, noisy_expectation, pec_estimate, plain_estimate,
                     transfer_eigenvalues, zne_estimate)

BIASED = {"II": 0.9, "XI": 0.03, "IZ": 0.03, "ZZ": 0.02, "YY": 0.02}


def test_quasi_probabilities_invert_the_channel_and_match_the_depolarizing_closed_form():
    for probs in (depolarizing_probs(0.05), BIASED):
        q, f = inverse_quasi_probabilities(probs), transfer_eigenvalues(probs)
        assert sum(q.values()) == pytest.approx(1.0)
        for label in LABELS:   # (Λ⁻¹ ∘ Λ)(Q) = Q for every Pauli Q
            assert sum(q[p] * _commute_sign(p, label) for p in LABELS) * f[label] == pytest.approx(1.0)
    p = 0.05   # f = 1 − p for every non-identity Pauli, so γ = (30/(1 − p) − 14)/16
    assert gamma(inverse_quasi_probabilities(depolarizing_probs(p))) == pytest.approx((30 / (1 - p) - 14) / 16)


def test_the_quasi_probability_mixture_is_exactly_the_noiseless_value():
    # every Pauli insertion after the single noisy CX, weighted by q_P, on exact noisy density matrices
    from qiskit import QuantumCircuit

    qc = example_circuit(1, seed=2)
    q = inverse_quasi_probabilities(BIASED)
    cx = next(i for i, inst in enumerate(qc.data) if inst.operation.name == "cx")
    total = 0.0
    for label in LABELS:
        c = QuantumCircuit(2)
        for i, inst in enumerate(qc.data):
            c.append(inst.operation, inst.qubits)
            if i == cx:
                for pauli, qubit in zip(label, inst.qubits):
                    if pauli != "I":
                        getattr(c, pauli.lower())(qubit)
        total += q[label] * noisy_expectation(c, "ZZ", BIASED)
    assert total == pytest.approx(ideal_expectation(qc, "ZZ"), abs=1e-9)
    assert abs(noisy_expectation(qc, "ZZ", BIASED) - ideal_expectation(qc, "ZZ")) > 0.005


def test_sampled_pec_is_unbiased_within_its_error_and_pays_gamma_squared():
    probs, qc = depolarizing_probs(0.08), example_circuit(4, seed=0)
    ideal, noisy = ideal_expectation(qc, "ZZ"), noisy_expectation(qc, "ZZ", probs)
    pec = pec_estimate(qc, "ZZ", probs, samples=20000, seed=11)
    plain = plain_estimate(qc, "ZZ", probs, shots=20000, seed=11)
    assert abs(pec["mean"] - ideal) < 4 * pec["stderr"]
    assert abs(noisy - ideal) > 4 * pec["stderr"] and abs(plain["mean"] - ideal) > 6 * plain["stderr"]
    assert pec["overhead"] == pytest.approx(gamma(inverse_quasi_probabilities(probs)) ** 8)
    ratio = pec["per_shot_variance"] / plain["per_shot_variance"]
    assert ratio == pytest.approx(pec["overhead"], rel=0.15)


def test_zne_moves_towards_the_noiseless_value():
    probs, qc = depolarizing_probs(0.08), example_circuit(4, seed=0)
    ideal, noisy = ideal_expectation(qc, "ZZ"), noisy_expectation(qc, "ZZ", probs)
    zne = zne_estimate(qc, "ZZ", probs, shots=30000, seed=3)
    assert abs(zne["mean"] - ideal) < abs(noisy - ideal)
    coeffs = [qml.noise.richardson_extrapolate(np.array([1.0, 3, 5]), e) for e in np.eye(3)]
    assert zne["overhead"] == pytest.approx(sum(abs(c) for c in coeffs) ** 2)


@pytest.mark.parametrize("probs, message", [
    ({"II": 0.5, "QI": 0.5}, "two-qubit strings over IXYZ"),
    ({"II": 0.5, "XI": 0.4}, "sum to 1"),
])
def test_bad_noise_models_are_refused(probs, message):
    with pytest.raises(ValueError, match=message):
        inverse_quasi_probabilities(probs)


def test_runtime_pec_and_trex_options_reach_a_runtime_estimator():
    from qiskit_ibm_runtime import EstimatorV2
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    mapping = runtime_options(measure_mitigation=True, pec={"max_overhead": 20, "noise_gain": "auto"})
    estimator = EstimatorV2(mode=FakeManilaV2())
    apply_runtime_options(estimator.options, mapping)
    o = estimator.options.resilience
    assert o.measure_mitigation is True and o.pec_mitigation is True
    assert o.pec.max_overhead == 20.0 and o.pec.noise_gain == "auto"


@pytest.mark.parametrize("kwargs, message", [
    ({"pec": True, "zne": True}, "pec and zne cannot both be on"),
    ({"pec": {"max_overhead": 0.5}}, "pec.max_overhead must be a number >= 1"),
    ({"pec": {"budget": 3}}, r"pec has unknown keys \['budget'\]"),
])
def test_bad_pec_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        runtime_options(**kwargs)


def test_backends_file_exposes_pec_and_trex_for_hardware_and_refuses_them_on_aer():
    for name in ("ibm.fake.manila.mitigated", "ibm.least_busy.pec"):
        e = B.entry(name)
        assert e.options["pec"]["max_overhead"] >= 1 and e.options["measure_mitigation"] is True
    dev = B.device("ibm.fake.manila.mitigated", wires=2)
    assert dev.runtime_options["resilience"]["pec_mitigation"] is True
    with pytest.raises(ValueError, match="on aer use zne only"):
        qml.device("qrl.qiskit", wires=2, target="aer", pec=True)


def test_the_pec_preset_runs_through_qrl_train_and_logs_each_estimator(tmp_path):
    import csv
    import json

    from qrl.training import train_from_config

    summary = train_from_config("configs/pec_zne_biased.yaml", {"shots": 4000, "circuit_layers": 2},
                                out=tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"plain", "pec", "zne"}
    qc = example_circuit(2, 1000)
    assert summary["ideal"] == pytest.approx(ideal_expectation(qc, "ZZ"), abs=1e-5)
    assert abs(summary["pec_error_in_se"]) < 4      # unbiased within its standard error
    assert json.loads((tmp_path / "run" / "results.json").read_text())["pec_gamma2"] == summary["pec_gamma2"] > 1


@pytest.mark.parametrize("override, message", [
    ({"pauli_errors": {"XI": 0.1}}, "set exactly one of depolarizing and pauli_errors"),
    ({"depolarizing": None, "pauli_errors": {"XQ": 0.1}}, r"unknown Pauli labels \['XQ'\]"),
    ({"zne_factors": [1, 2]}, "folding factors must be distinct odd integers"),
])
def test_bad_pec_presets_are_one_config_error(override, message, tmp_path):
    from classical.common.config import ConfigError
    from qrl.training import train_from_config

    with pytest.raises(ConfigError, match=message):
        train_from_config("configs/pec_zne_depolarizing.yaml", override, out=tmp_path / "r", check_only=True)

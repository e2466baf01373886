"""Probabilistic error cancellation (PEC) for a Pauli noise model on Qiskit Aer, beside ZNE.

The noise: after every CX the two qubits suffer a Pauli channel
Λ(ρ) = Σ_P p_P P ρ P (P over the 16 two-qubit Paulis; a given model, e.g.
:func:`depolarizing_probs`). Its Pauli-transfer eigenvalues are f_Q = Σ_P p_P s(P, Q),
s = +1 where P and Q commute and −1 where they anticommute, so the inverse is again
Pauli-diagonal and, written as a quasi-probability mixture of Pauli insertions,

    Λ⁻¹(ρ) = Σ_P q_P P ρ P,   q_P = 4⁻ⁿ Σ_Q s(P, Q) / f_Q,   Σ_P q_P = 1,

with some q_P < 0 (:func:`inverse_quasi_probabilities`). γ = Σ_P |q_P| ≥ 1.

PEC (:func:`pec_estimate`) samples, for every CX of the circuit, a Pauli P with
probability |q_P|/γ and inserts it after the gate (after the noise), runs the circuit on
the noisy Aer simulator and weights each shot's Z-word outcome by γ_total·Π sign(q_P).
The estimator is unbiased for the noiseless expectation value; its variance per shot is
about γ_total² times that of the plain estimator — the sampling overhead γ².

ZNE (:func:`zne_estimate`) runs the same total shots at CX-folding factors 1, 3, 5
(CX → CX (CX CX)ᵏ, each copy noisy) and extrapolates to zero noise with PennyLane's
Richardson extrapolation; it is cheaper but biased.

``qrl train --config configs/pec_zne_depolarizing.yaml`` (and ``pec_zne_biased.yaml``) runs the
comparison from a preset (:class:`Config`, :func:`run`): one ``metrics.csv`` row per estimator and
``results.json``.

**Example**

>>> probs = depolarizing_probs(0.05)
>>> q = inverse_quasi_probabilities(probs)
>>> round(sum(q.values()), 10), round(gamma(q), 4)
(1.0, 1.0987)
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Annotated

import numpy as np
from pydantic import Field, field_validator, model_validator

from classical.common.config import ExperimentConfig

PAULIS = "IXYZ"
LABELS = tuple("".join(p) for p in itertools.product(PAULIS, repeat=2))


def _commute_sign(p: str, q: str) -> int:
    """+1 if the Pauli strings commute, −1 if they anticommute."""
    anti = sum(a != "I" and b != "I" and a != b for a, b in zip(p, q))
    return -1 if anti % 2 else 1


def depolarizing_probs(p: float) -> dict[str, float]:
    """Two-qubit depolarizing channel of strength ``p`` as Pauli probabilities (each non-identity p/16)."""
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}.")
    return {label: (1 - 15 * p / 16) if label == "II" else p / 16 for label in LABELS}


def _check_probs(probs: dict[str, float]) -> dict[str, float]:
    unknown = set(probs) - set(LABELS)
    if unknown:
        raise ValueError(f"Pauli labels must be two-qubit strings over IXYZ (e.g. 'XI', 'ZZ'); got {sorted(unknown)}.")
    full = {label: float(probs.get(label, 0.0)) for label in LABELS}
    if any(v < 0 for v in full.values()) or abs(sum(full.values()) - 1) > 1e-9:
        raise ValueError(f"Pauli probabilities must be >= 0 and sum to 1; they sum to {sum(full.values())}.")
    return full


def transfer_eigenvalues(probs: dict[str, float]) -> dict[str, float]:
    """f_Q = Σ_P p_P s(P, Q): how much the channel shrinks each Pauli Q."""
    probs = _check_probs(probs)
    return {q: sum(p * _commute_sign(label, q) for label, p in probs.items()) for q in LABELS}


def inverse_quasi_probabilities(probs: dict[str, float]) -> dict[str, float]:
    """q_P of the inverse channel Λ⁻¹ = Σ_P q_P P·P (see the module docstring)."""
    f = transfer_eigenvalues(probs)
    if min(abs(v) for v in f.values()) < 1e-12:
        raise ValueError("the channel is not invertible (a Pauli-transfer eigenvalue is 0).")
    return {p: sum(_commute_sign(p, q) / f[q] for q in LABELS) / len(LABELS) for p in LABELS}


def gamma(quasi: dict[str, float]) -> float:
    """γ = Σ |q_P|, the per-gate cost; a circuit with k noisy gates costs γᵏ, its shots γ²ᵏ."""
    return float(sum(abs(v) for v in quasi.values()))


def noise_model(probs: dict[str, float]):
    """An Aer ``NoiseModel`` applying the Pauli channel after every CX."""
    from qiskit_aer.noise import NoiseModel, pauli_error

    probs = _check_probs(probs)
    model = NoiseModel(basis_gates=["cx", "rx", "ry", "rz", "h", "x", "y", "z"])
    # qiskit labels are little-endian (rightmost = qubit 0 of the gate); ours read left to right
    model.add_all_qubit_quantum_error(pauli_error([(label[::-1], p) for label, p in probs.items() if p > 0]),
                                      ["cx"])
    return model


def example_circuit(n_layers: int = 3, seed: int = 0):
    """A 2-qubit circuit of ``n_layers`` (RY, RZ on both qubits, CX) layers with fixed random angles."""
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(2)
    for _ in range(n_layers):
        for q in range(2):
            qc.ry(float(rng.uniform(0, np.pi)), q)
            qc.rz(float(rng.uniform(0, np.pi)), q)
        qc.cx(0, 1)
    qc.ry(0.4, 0)
    return qc


def ideal_expectation(circuit, z_word: str) -> float:
    """⟨Z-word⟩ of the noiseless circuit (statevector); ``z_word`` like ``"ZZ"`` or ``"ZI"`` (qubit 0 first)."""
    from qiskit.quantum_info import SparsePauliOp, Statevector

    return float(np.real(Statevector(circuit).expectation_value(SparsePauliOp(z_word[::-1]))))


def noisy_expectation(circuit, z_word: str, probs: dict[str, float]) -> float:
    """⟨Z-word⟩ of the circuit under the noise model, exactly (Aer density matrix)."""
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer import AerSimulator

    qc = circuit.copy()
    qc.save_expectation_value(SparsePauliOp(z_word[::-1]), list(range(qc.num_qubits)))
    sim = AerSimulator(method="density_matrix", noise_model=noise_model(probs))
    return float(np.real(sim.run(qc).result().data()["expectation_value"]))


def _parities(counts: dict[str, int], z_word: str) -> tuple[np.ndarray, np.ndarray]:
    """(±1 value of the Z word, number of shots) per measured bitstring."""
    qubits = [i for i, c in enumerate(z_word) if c == "Z"]
    values, weights = [], []
    for bits, n in counts.items():
        bits = bits.replace(" ", "")[::-1]   # index = qubit
        values.append((-1) ** sum(int(bits[q]) for q in qubits))
        weights.append(n)
    return np.array(values, float), np.array(weights, float)


def _sample_counts(circuits, shots: list[int], probs, seed: int) -> list[dict]:
    from qiskit_aer import AerSimulator

    model = noise_model(probs)
    group_seeds = np.random.default_rng(seed)   # one simulator seed per run: runs must not share streams
    measured = []
    for qc in circuits:
        qc = qc.copy()
        qc.measure_all()
        measured.append(qc)
    # Aer takes one shot count per run: group the circuits by shots
    out: list[dict | None] = [None] * len(measured)
    for n in sorted(set(shots)):
        idx = [i for i, s in enumerate(shots) if s == n]
        sim = AerSimulator(noise_model=model, seed_simulator=int(group_seeds.integers(2**31)))
        result = sim.run([measured[i] for i in idx], shots=n).result()
        for j, i in enumerate(idx):
            out[i] = result.get_counts(j)
    return out


def plain_estimate(circuit, z_word: str, probs: dict[str, float], shots: int, seed: int = 0) -> dict:
    """The unmitigated shot estimate of ⟨Z-word⟩ on the noisy simulator, with its standard error."""
    values, weights = _parities(_sample_counts([circuit], [shots], probs, seed)[0], z_word)
    mean = float(np.average(values, weights=weights))
    var = float(np.average((values - mean) ** 2, weights=weights))
    return {"mean": mean, "stderr": float(np.sqrt(var / shots)), "shots": shots, "per_shot_variance": var}


def pec_estimate(circuit, z_word: str, probs: dict[str, float], samples: int = 4000,
                 shots_per_sample: int = 1, seed: int = 0) -> dict:
    """PEC estimate of the noiseless ⟨Z-word⟩ from ``samples`` sampled circuits.

    Args:
        circuit: a Qiskit circuit (no measurements) whose CX gates carry the Pauli noise.
        z_word: the observable, a string over I/Z with qubit 0 first.
        probs: the Pauli channel after each CX (label → probability).
        samples: circuits drawn from the quasi-probability distribution.
        shots_per_sample: shots of each drawn circuit.
        seed: seed for the draws and for Aer.

    Returns:
        ``mean``, ``stderr``, ``gamma`` (γ of the whole circuit), ``overhead`` (γ²), the
        ``per_shot_variance`` of the weighted estimator, and the number of distinct circuits run.
    """
    from qiskit import QuantumCircuit

    quasi = inverse_quasi_probabilities(probs)
    labels = list(quasi)
    q = np.array([quasi[lb] for lb in labels])
    g_gate = gamma(quasi)
    cx_positions = [i for i, inst in enumerate(circuit.data) if inst.operation.name == "cx"]
    g_total = g_gate ** len(cx_positions)
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(labels), size=(samples, len(cx_positions)), p=np.abs(q) / g_gate)
    configs = Counter(map(tuple, draws))
    circuits, shots, signs = [], [], []
    for config, count in configs.items():
        qc = QuantumCircuit(circuit.num_qubits)
        k = 0
        for i, inst in enumerate(circuit.data):
            qc.append(inst.operation, inst.qubits, inst.clbits)
            if i in cx_positions:
                label = labels[config[k]]
                for pauli, qubit in zip(label, inst.qubits):   # label[0] acts on the control
                    if pauli != "I":
                        getattr(qc, pauli.lower())(qubit)
                k += 1
        circuits.append(qc)
        shots.append(count * shots_per_sample)
        signs.append(float(np.prod(np.sign(q[list(config)]))))
    all_values, all_weights = [], []
    for counts, sign in zip(_sample_counts(circuits, shots, probs, seed), signs):
        values, weights = _parities(counts, z_word)
        all_values.append(g_total * sign * values)
        all_weights.append(weights)
    values, weights = np.concatenate(all_values), np.concatenate(all_weights)
    n = weights.sum()
    mean = float(np.average(values, weights=weights))
    var = float(np.average((values - mean) ** 2, weights=weights))
    return {"mean": mean, "stderr": float(np.sqrt(var / n)), "gamma": g_total, "overhead": g_total**2,
            "per_shot_variance": var, "shots": int(n), "distinct_circuits": len(circuits)}


def fold_cx(circuit, factor: int):
    """The circuit with every CX replaced by ``factor`` (odd) CX gates: the CX noise scaled by ``factor``."""
    from qiskit import QuantumCircuit

    if factor < 1 or factor % 2 == 0:
        raise ValueError(f"folding factors must be odd integers >= 1, got {factor!r}.")
    qc = QuantumCircuit(circuit.num_qubits)
    for inst in circuit.data:
        repeats = factor if inst.operation.name == "cx" else 1
        for _ in range(repeats):
            qc.append(inst.operation, inst.qubits, inst.clbits)
    return qc


def zne_estimate(circuit, z_word: str, probs: dict[str, float], shots: int, factors=(1, 3, 5),
                 seed: int = 0) -> dict:
    """Richardson zero-noise extrapolation from CX folding, ``shots`` split evenly over the factors."""
    import pennylane as qml

    per = shots // len(factors)
    means, variances = [], []
    for i, factor in enumerate(factors):
        est = plain_estimate(fold_cx(circuit, factor), z_word, probs, per, seed + i)
        means.append(est["mean"])
        variances.append(est["stderr"] ** 2)
    x = np.array(factors, float)
    value = float(qml.noise.richardson_extrapolate(x, np.array(means)))
    # the extrapolation is linear in the measured values: its coefficients give the standard error
    coeffs = [float(qml.noise.richardson_extrapolate(x, np.eye(len(factors))[i])) for i in range(len(factors))]
    stderr = float(np.sqrt(sum(c**2 * v for c, v in zip(coeffs, variances))))
    return {"mean": value, "stderr": stderr, "shots": per * len(factors), "factors": list(factors),
            "values": means, "overhead": float(sum(abs(c) for c in coeffs) ** 2)}


def compare(probs: dict[str, float] | None = None, n_layers: int = 4, shots: int = 20000,
            z_word: str = "ZZ", seed: int = 0) -> dict:
    """Ideal, noisy (exact), plain, PEC and ZNE values of the example circuit at equal shots."""
    probs = probs or depolarizing_probs(0.05)
    qc = example_circuit(n_layers, seed)
    return {"ideal": ideal_expectation(qc, z_word), "noisy_exact": noisy_expectation(qc, z_word, probs),
            "plain": plain_estimate(qc, z_word, probs, shots, seed),
            "pec": pec_estimate(qc, z_word, probs, samples=shots, seed=seed),
            "zne": zne_estimate(qc, z_word, probs, shots, seed=seed)}


# -- the comparison as a preset (``qrl train --config configs/pec_zne_*.yaml``) -------------------
class Config(ExperimentConfig):
    """Plain vs PEC vs ZNE on ``example_circuit``; ``configs/pec_zne_depolarizing.yaml`` and
    ``configs/pec_zne_biased.yaml`` are presets."""

    depolarizing: float | None = Field(0.08, ge=0, lt=1, description="strength p of a two-qubit depolarizing "
                                       "channel after every CX (each non-identity Pauli p/16); null when "
                                       "pauli_errors is given")
    pauli_errors: dict[str, Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, description="the channel after every CX as non-identity two-qubit Paulis (qubit 0 first, e.g. "
                          "XI, ZZ) to probabilities; II gets the rest. Set this or depolarizing")
    circuit_layers: int = Field(4, ge=1, le=20, description="layers of example_circuit (RY, RZ on both qubits, "
                                                             "one CX)")
    z_word: str = Field("ZZ", pattern="^(ZZ|ZI|IZ)$", description="the observable: ZZ, ZI or IZ (qubit 0 first)")
    shots: int = Field(20000, ge=10, le=10**7, description="shots of each estimator (PEC: one per sampled "
                                                           "circuit; ZNE: split over the folding factors)")
    zne_factors: list[Annotated[int, Field(ge=1, le=15)]] = Field(
        default_factory=lambda: [1, 3, 5], min_length=2, max_length=6,
        description="odd CX-folding factors for ZNE (Richardson extrapolation)")
    seed: int = Field(0, ge=0, description="the circuit's angles, the PEC draws and Aer's seeds")

    @field_validator("pauli_errors")
    @classmethod
    def _labels(cls, errors: dict[str, float] | None) -> dict[str, float] | None:
        if errors is None:
            return errors
        bad = sorted(k for k in errors if k not in LABELS or k == "II")
        if bad:
            raise ValueError(f"unknown Pauli labels {bad}: use non-identity two-qubit strings over IXYZ (XI, ZZ, ...)")
        if sum(errors.values()) > 1:
            raise ValueError(f"the error probabilities sum to {sum(errors.values()):g} > 1")
        return errors

    @field_validator("zne_factors")
    @classmethod
    def _odd(cls, factors: list[int]) -> list[int]:
        if any(f % 2 == 0 for f in factors) or len(set(factors)) != len(factors):
            raise ValueError(f"folding factors must be distinct odd integers, got {factors}")
        return factors

    @model_validator(mode="after")
    def _one_channel(self):
        if (self.depolarizing is None) == (self.pauli_errors is None):
            raise ValueError("set exactly one of depolarizing and pauli_errors (the Pauli channel after each CX)")
        return self

    def channel(self) -> dict[str, float]:
        """The Pauli probabilities of the configured channel."""
        if self.pauli_errors is None:
            return depolarizing_probs(self.depolarizing)
        return {"II": 1 - sum(self.pauli_errors.values()), **self.pauli_errors}


def run(cfg: Config, run_dir) -> dict:
    """Plain, PEC and ZNE estimates at equal shots beside the ideal and exact noisy values."""
    start = time.perf_counter()
    probs = cfg.channel()
    qc = example_circuit(cfg.circuit_layers, cfg.seed)
    ideal, noisy = ideal_expectation(qc, cfg.z_word), noisy_expectation(qc, cfg.z_word, probs)
    estimates = {"plain": plain_estimate(qc, cfg.z_word, probs, cfg.shots, cfg.seed),
                 "pec": pec_estimate(qc, cfg.z_word, probs, samples=cfg.shots, seed=cfg.seed),
                 "zne": zne_estimate(qc, cfg.z_word, probs, cfg.shots, factors=tuple(cfg.zne_factors),
                                     seed=cfg.seed)}
    summary = {"ideal": round(ideal, 5), "noisy_exact": round(noisy, 5)}
    for method, est in estimates.items():
        row = {"method": method, "mean": est["mean"], "stderr": est["stderr"], "shots": est["shots"],
               "ideal": ideal, "error_in_se": (est["mean"] - ideal) / est["stderr"],
               "overhead": est.get("overhead", 1.0)}
        run_dir.log(row)
        summary |= {f"{method}_mean": round(est["mean"], 5), f"{method}_stderr": round(est["stderr"], 5),
                    f"{method}_error_in_se": round(row["error_in_se"], 2)}
    summary |= {"pec_gamma2": round(estimates["pec"]["overhead"], 3),
                "pec_variance_ratio": round(estimates["pec"]["per_shot_variance"]
                                            / estimates["plain"]["per_shot_variance"], 3),
                "wall_seconds": round(time.perf_counter() - start, 2)}
    run_dir.write_results(summary)
    return summary

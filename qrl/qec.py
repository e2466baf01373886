"""Repetition codes on Qiskit Aer: a memory experiment and a policy readout protected by the code.

:func:`logical_error_rate` runs the distance-d memory experiment of the bit-flip or
phase-flip repetition code:

1. **encode** logical |0⟩ on d data qubits (CNOTs from data qubit 0; the phase-flip code
   then applies H to every data qubit, giving |+…+⟩);
2. **error channel**: every data qubit independently suffers the error the code is built
   for with probability p — an X (bit flip) for ``bit_flip``, a Z (phase flip) for
   ``phase_flip`` — as an Aer ``pauli_error`` in the circuit;
3. **syndrome extraction** (perfect): the phase-flip code first rotates back with H; d−1
   ancillas measure the parities Z_j Z_{j+1} through two CNOTs each;
4. **decode** by lookup: each syndrome maps to the lowest-weight error consistent with it
   (for a repetition code, the majority vote); the correction is applied to the measured
   data bits and the shot is a logical failure if the corrected word is not 0…0.

With perfect syndromes the decoder fails exactly when more than (d−1)/2 qubits flipped,
so the logical error rate is Σ_{k>(d−1)/2} C(d,k) pᵏ(1−p)^{d−k} (3p² − 2p³ at d = 3):
:func:`exact_logical_error_rate`. Below p = 1/2 a larger distance helps, above it hurts;
at p = 1/2 every distance fails half the time (the repetition code's threshold).

:func:`protected_policy_returns` reads a policy's action bits through the code under
bit-flip noise and measures the return with and without it.

``qrl train --config configs/qec_repetition_memory.yaml`` (and ``qec_protected_policy.yaml``)
runs either experiment from a preset (:class:`Config`, :func:`run`) and writes one
``metrics.csv`` row per measured point and ``results.json``.

**Example**

>>> rate = logical_error_rate("bit_flip", 3, 0.1, shots=4000, seed=1)
>>> abs(rate - exact_logical_error_rate(3, 0.1)) < 0.015
True
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from typing import Annotated, Callable, Literal

import numpy as np
from pydantic import Field, field_validator

from classical.common.config import ExperimentConfig

CODES = ("bit_flip", "phase_flip")
MAX_DISTANCE = 15


def _check(code: str, distance: int, p: float, shots: int) -> None:
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}; valid codes: {', '.join(CODES)}.")
    if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)) or distance < 1 \
            or distance % 2 == 0 or distance > MAX_DISTANCE:
        raise ValueError(f"distance must be an odd integer between 1 and {MAX_DISTANCE}, got {distance!r}.")
    if not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1 or math.isnan(p):
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}.")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}.")


def exact_logical_error_rate(distance: int, p: float) -> float:
    """Σ_{k>(d−1)/2} C(d,k) pᵏ(1−p)^{d−k}: the failure probability of majority decoding."""
    return float(sum(math.comb(distance, k) * p**k * (1 - p) ** (distance - k)
                     for k in range(distance // 2 + 1, distance + 1)))


@functools.lru_cache(maxsize=None)
def lookup_table(distance: int) -> dict[tuple[int, ...], tuple[int, ...]]:
    """Syndrome (parities of neighbouring data qubits) → lowest-weight error pattern producing it."""
    table: dict[tuple[int, ...], tuple[int, ...]] = {}
    for error in itertools.product((0, 1), repeat=distance):
        syndrome = tuple(error[j] ^ error[j + 1] for j in range(distance - 1))
        if syndrome not in table or sum(error) < sum(table[syndrome]):
            table[syndrome] = error
    return table


def memory_circuit(code: str, distance: int, p: float, n_logical: int = 1,
                   prepare: Callable | None = None):
    """The Qiskit circuit of the memory experiment for ``n_logical`` code blocks.

    Block i uses data qubits i·d … i·d+d−1 and ancillas after all data qubits. ``prepare(qc, data0)``
    may flip the block's first data qubit before encoding (to store logical |1⟩). Classical bits:
    for each block its d data bits, then its d−1 syndrome bits.
    """
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit_aer.noise import pauli_error

    d = distance
    data = QuantumRegister(d * n_logical, "data")
    anc = QuantumRegister((d - 1) * n_logical, "anc") if d > 1 else None
    regs = [data] + ([anc] if anc is not None else [])
    qc = QuantumCircuit(*regs)
    pauli = "X" if code == "bit_flip" else "Z"
    for i in range(n_logical):
        block = [data[i * d + j] for j in range(d)]
        if prepare is not None:
            prepare(qc, block[0], i)
        for q in block[1:]:
            qc.cx(block[0], q)
        if code == "phase_flip":
            qc.h(block)
        if p > 0:
            error = pauli_error([(pauli, p), ("I", 1 - p)])
            for q in block:
                qc.append(error, [q])
        if code == "phase_flip":
            qc.h(block)
        creg_data = ClassicalRegister(d, f"d{i}")
        qc.add_register(creg_data)
        if d > 1:
            ancs = [anc[i * (d - 1) + j] for j in range(d - 1)]
            for j, a in enumerate(ancs):
                qc.cx(block[j], a)
                qc.cx(block[j + 1], a)
            creg_syn = ClassicalRegister(d - 1, f"s{i}")
            qc.add_register(creg_syn)
            qc.measure(ancs, creg_syn)
        qc.measure(block, creg_data)
    return qc


def decode_word(word: str, distance: int, n_logical: int = 1) -> tuple[int, ...]:
    """Logical bits of one Aer outcome string, each block corrected by the syndrome lookup."""
    d = distance
    table = lookup_table(d)
    regs = word.split(" ")[::-1]   # Qiskit prints the last-added register first
    logical = []
    for i in range(n_logical):
        bits = [int(b) for b in regs[(2 if d > 1 else 1) * i][::-1]]
        if d > 1:
            syndrome = tuple(int(b) for b in regs[2 * i + 1][::-1])
            bits = [b ^ c for b, c in zip(bits, table[syndrome])]
        if len(set(bits)) != 1:
            raise RuntimeError(f"corrected data word {bits} is not a codeword: the syndrome "
                               f"extraction and the data readout disagree")
        logical.append(bits[0])
    return tuple(logical)


def _run(qc, shots: int, seed: int, memory: bool = False):
    """Aer (stabilizer method: Clifford gates and Pauli errors) counts, or per-shot outcomes."""
    from qiskit_aer import AerSimulator

    result = AerSimulator(method="stabilizer", seed_simulator=seed).run(qc, shots=shots, memory=memory).result()
    return result.get_memory() if memory else result.get_counts()


def logical_error_rate(code: str, distance: int, p: float, shots: int = 20000, seed: int = 0) -> float:
    """Fraction of shots whose decoded logical qubit is wrong in the repetition-code memory experiment.

    Args:
        code: ``"bit_flip"`` (X errors) or ``"phase_flip"`` (Z errors).
        distance: odd code distance d ≥ 1 (d data qubits, d − 1 syndrome ancillas).
        p: probability of the code's error on each data qubit.
        shots: Aer shots.
        seed: Aer's simulator seed.

    Returns:
        The logical failure rate; its expectation is :func:`exact_logical_error_rate`.

    Raises:
        ValueError: unknown code, even or non-positive distance, p outside [0, 1], bad shots.

    **Example**

    >>> logical_error_rate("phase_flip", 1, 0.0, shots=10)
    0.0
    """
    _check(code, distance, p, shots)
    counts = _run(memory_circuit(code, distance, float(p)), shots, seed)
    failures = sum(n for word, n in counts.items() if decode_word(word, distance)[0] != 0)
    return failures / shots


def threshold_table(distances=(1, 3, 5, 7), ps=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
                    code: str = "bit_flip", shots: int = 20000, seed: int = 0) -> list[dict]:
    """Measured and exact logical error rates for each (distance, p)."""
    return [{"code": code, "distance": d, "p": p, "measured": logical_error_rate(code, d, p, shots, seed),
             "exact": exact_logical_error_rate(d, p)} for d in distances for p in ps]


def protected_policy_returns(p: float, distance: int = 3, episodes: int = 500, seed: int = 0) -> dict:
    """FrozenLake 4×4 (deterministic) played by an optimal policy whose 2 action bits are read out
    through a noisy channel: each readout qubit flips with probability ``p``.

    The policy circuit prepares the basis state of the greedy action of value iteration's policy
    (2 qubits). Unprotected, each action qubit is measured after the noise; protected, each is a
    distance-``distance`` bit-flip code block whose syndrome is decoded before the action is read.
    Every environment step consumes one Aer shot of its state's circuit. Returns the mean return
    (success rate) with and without the code and the measured action error rates.
    """
    import gymnasium as gym

    env = gym.make("FrozenLake-v1", is_slippery=False)
    policy = _optimal_frozen_lake_policy(env.unwrapped)
    n_states = len(policy)
    # one circuit per state, enough shots for every visit of every episode (at most 100 steps each)
    samples = {}
    for protected, d in ((False, 1), (True, distance)):
        draws = []
        for s in range(n_states):
            bits = [(policy[s] >> i) & 1 for i in range(2)]
            qc = memory_circuit("bit_flip", d, p, n_logical=2,
                                prepare=lambda qc, q, i, bits=bits: qc.x(q) if bits[i] else None)
            memory = _run(qc, episodes * 20, seed + s, memory=True)
            decoded = {w: decode_word(w, d, 2) for w in set(memory)}
            # visit t of state s takes the outcome of a random shot: Aer's per-shot memory is not
            # guaranteed to be free of serial correlation, and the episode length depends on the draws
            order = np.random.default_rng(seed + s).permutation(len(memory))
            draws.append([decoded[memory[k]][0] + 2 * decoded[memory[k]][1] for k in order])
        samples[protected] = draws
    out = {"p": p, "distance": distance, "episodes": episodes}
    for protected, draws in samples.items():
        pos = [0] * n_states
        returns, errors, steps = [], 0, 0
        for e in range(episodes):
            s, _ = env.reset(seed=seed + e)
            total, done = 0.0, False
            while not done:
                a = int(draws[s][pos[s] % len(draws[s])])
                pos[s] += 1
                errors += a != policy[s]
                steps += 1
                s, r, term, trunc, _ = env.step(a)
                total += r
                done = term or trunc
            returns.append(total)
        key = "with_code" if protected else "without_code"
        out[f"return_{key}"] = float(np.mean(returns))
        out[f"action_error_{key}"] = errors / steps
    env.close()
    return out


def _optimal_frozen_lake_policy(env, gamma: float = 0.95) -> list[int]:
    """Greedy policy of value iteration on the environment's transition table ``env.P``."""
    n_s, n_a = env.observation_space.n, env.action_space.n
    v = np.zeros(n_s)
    for _ in range(500):
        q = np.array([[sum(pr * (r + gamma * v[s2] * (not t)) for pr, s2, r, t in env.P[s][a])
                       for a in range(n_a)] for s in range(n_s)])
        v = q.max(1)
    return [int(a) for a in q.argmax(1)]


# -- the experiment as a preset (``qrl train --config configs/qec_*.yaml``) ----------------------
Probability = Annotated[float, Field(ge=0, le=1)]
Distance = Annotated[int, Field(ge=1, le=MAX_DISTANCE)]


class Config(ExperimentConfig):
    """A repetition-code experiment; ``configs/qec_repetition_memory.yaml`` and
    ``configs/qec_protected_policy.yaml`` are presets."""

    experiment: Literal["memory", "protected_policy"] = Field(
        "memory", description="memory: the logical error rate for every (distance, p); protected_policy: "
                              "FrozenLake returns of an optimal policy read out with and without the code")
    code: Literal["bit_flip", "phase_flip"] = Field(
        "bit_flip", description="memory: the code (bit_flip: X errors; phase_flip: Z errors); "
                                "protected_policy always uses bit_flip")
    distances: list[Distance] = Field(default_factory=lambda: [1, 3, 5, 7], min_length=1, max_length=8,
                                      description="odd code distances d (memory); protected_policy uses the "
                                                  "largest")
    ps: list[Probability] = Field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                                  min_length=1, max_length=32,
                                  description="error probabilities per data qubit")
    shots: int = Field(20000, gt=0, le=10**7, description="memory: Aer shots per (distance, p)")
    eval_episodes: int = Field(200, gt=0, le=100_000,
                               description="protected_policy: FrozenLake episodes per p and readout")
    seed: int = Field(0, ge=0, description="Aer's simulator seed (and the episodes' seeds)")

    @field_validator("distances")
    @classmethod
    def _odd(cls, distances: list[int]) -> list[int]:
        even = [d for d in distances if d % 2 == 0]
        if even:
            raise ValueError(f"distances must be odd (an even-distance repetition code has ties); got {even}")
        return distances


def run(cfg: Config, run_dir) -> dict:
    """Measure the configured experiment, one ``metrics.csv`` row per point; write ``results.json``."""
    start = time.perf_counter()
    rows: list[dict] = []
    if cfg.experiment == "memory":
        for d in cfg.distances:
            for p in cfg.ps:
                rate = logical_error_rate(cfg.code, d, p, cfg.shots, cfg.seed)
                exact = exact_logical_error_rate(d, p)
                se = math.sqrt(max(exact * (1 - exact), 1e-12) / cfg.shots)
                row = {"code": cfg.code, "distance": d, "p": p, "logical_error_rate": rate, "exact": exact,
                       "deviation_in_se": (rate - exact) / se}
                run_dir.log(row)
                rows.append(row)
        worst = max(rows, key=lambda r: abs(r["deviation_in_se"]))
        summary = {"experiment": "memory", "code": cfg.code, "points": len(rows), "shots": cfg.shots,
                   "max_abs_deviation": round(max(abs(r["logical_error_rate"] - r["exact"]) for r in rows), 5),
                   "max_abs_deviation_in_se": round(abs(worst["deviation_in_se"]), 2)}
    else:
        d = max(cfg.distances)
        for p in cfg.ps:
            out = protected_policy_returns(p, distance=d, episodes=cfg.eval_episodes, seed=cfg.seed)
            exact_bit = exact_logical_error_rate(d, p)
            row = {"p": p, "distance": d, "return_without_code": out["return_without_code"],
                   "return_with_code": out["return_with_code"],
                   "action_error_without_code": out["action_error_without_code"],
                   "action_error_with_code": out["action_error_with_code"],
                   "exact_action_error_without_code": 1 - (1 - p) ** 2,
                   "exact_action_error_with_code": 1 - (1 - exact_bit) ** 2}
            run_dir.log(row)
            rows.append(row)
        summary = {"experiment": "protected_policy", "distance": d, "eval_episodes": cfg.eval_episodes,
                   "mean_return_without_code": round(float(np.mean([r["return_without_code"] for r in rows])), 4),
                   "mean_return_with_code": round(float(np.mean([r["return_with_code"] for r in rows])), 4)}
    summary["wall_seconds"] = round(time.perf_counter() - start, 2)
    run_dir.write_results({**summary, "rows": rows})
    return summary

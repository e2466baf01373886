"""Amplitude estimation of a policy's expected return, against plain Monte Carlo.

A bandit with K = 2**n arms and rewards r_a ∈ [0, 1] (the success probability
of arm a, or a return rescaled to [0, 1]) and a policy π give the expected
return V = Σ_a π(a)·r_a. The state-preparation oracle A on n + 1 qubits

    A|0⟩ = Σ_a √π(a) |a⟩ (√(1 − r_a)|0⟩ + √r_a |1⟩)

puts V into the amplitude of the "good" states (objective qubit = 1):
P(objective = 1) = V = sin²θ. Estimators, each charged in applications of A
(one A per Monte Carlo sample; the Grover operator Q = A S₀ A† S_χ costs two):

- :func:`monte_carlo`: N shots of A, V̂ = ones / N; error ~ N^(-1/2).
- :func:`mlae`: maximum-likelihood AE (Suzuki et al. 2020), no phase estimation:
  shots of Q^k A for k = 0, 1, 2, 4, …; θ̂ maximises the product of binomial
  likelihoods of sin²((2k+1)θ); error ~ calls^(-1) in the ideal case.
- :func:`qpe_ae`: canonical AE (Brassard et al. 2002): ``qml.QuantumPhaseEstimation``
  of Q with m evaluation qubits; V̂ = sin²(π y / 2^m).

Any task with ``prepare()`` (the quantum function A), ``n_qubits`` (the objective
is the last wire) and ``value`` works with these estimators; :class:`BanditTask`
is the one-step case and :mod:`qrl.algorithms.policy_iteration` encodes the return
of a policy in a finite-horizon MDP the same way.

Circuits are PennyLane QNodes on a ``backends.yaml`` backend; exact outcome
probabilities are computed once per circuit and shots are drawn from them with a
seeded generator (statistically the same as sampling the device).

**Example**

>>> task = BanditTask(policy=[0.1, 0.2, 0.3, 0.4], rewards=[0.9, 0.5, 0.2, 0.6])
>>> round(task.value, 4), round(float(good_probability(task, 0)), 4)
(0.49, 0.49)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pennylane as qml

from qrl import backends


@dataclass(frozen=True)
class BanditTask:
    """A policy over 2**n arms and each arm's reward probability (or return rescaled to [0, 1])."""

    policy: tuple[float, ...]
    rewards: tuple[float, ...]

    def __init__(self, policy: Sequence[float], rewards: Sequence[float]):
        policy, rewards = np.asarray(policy, float), np.asarray(rewards, float)
        n = len(policy)
        if n < 2 or n & (n - 1) or len(rewards) != n:
            raise ValueError("policy and rewards need the same length, a power of two (2, 4, 8, ...).")
        if not np.isclose(policy.sum(), 1.0) or (policy < 0).any():
            raise ValueError("policy must be a probability vector (non-negative, summing to 1).")
        if ((rewards < 0) | (rewards > 1)).any():
            raise ValueError("rewards must lie in [0, 1]; rescale returns as (G - G_min) / (G_max - G_min).")
        object.__setattr__(self, "policy", tuple(policy))
        object.__setattr__(self, "rewards", tuple(rewards))

    @property
    def n_action_qubits(self) -> int:
        return int(math.log2(len(self.policy)))

    @property
    def n_qubits(self) -> int:
        """Action register plus the objective qubit."""
        return self.n_action_qubits + 1

    @property
    def value(self) -> float:
        """The exact expected return Σ π(a) r_a."""
        return float(np.dot(self.policy, self.rewards))

    def prepare(self) -> None:
        """A (quantum function): action register on wires 0..n-1, objective on wire n."""
        n = self.n_action_qubits
        qml.MottonenStatePreparation(np.sqrt(np.asarray(self.policy)), wires=range(n))
        for a, r in enumerate(self.rewards):
            bits = [int(b) for b in format(a, f"0{n}b")]
            qml.ctrl(qml.RY, control=range(n), control_values=bits)(2 * math.asin(math.sqrt(r)), wires=n)


def oracle(task) -> None:
    """The state preparation A of ``task``; the objective qubit is wire ``task.n_qubits - 1``."""
    task.prepare()


def grover(task) -> None:
    """Q = −A S₀ A† S_χ: rotates by 2θ in the good/bad plane, eigenphases ±2θ.

    The global sign matters once Q is controlled (phase estimation): without it
    the eigenphases would be π ± 2θ and QPE would return 1 − V.
    """
    n = task.n_qubits - 1
    qml.Z(n)                                    # S_χ: −1 on good states
    qml.adjoint(oracle)(task)
    qml.FlipSign([0] * (n + 1), wires=range(n + 1))  # S₀: −1 on |0…0⟩
    oracle(task)
    qml.GlobalPhase(math.pi, wires=range(n + 1))     # the leading minus sign


@lru_cache(maxsize=256)
def _good_probability(task, k: int, backend: str) -> float:
    n = task.n_qubits - 1

    def circuit():
        oracle(task)
        for _ in range(k):
            grover(task)
        return qml.probs(wires=n)

    return float(backends.qnode(circuit, backend, n + 1)()[1])


def good_probability(task, k: int, backend: str = "default.qubit") -> float:
    """P(objective = 1) after Q^k A|0⟩; equals sin²((2k+1)θ)."""
    return _good_probability(task, k, backend)


def monte_carlo(task, calls: int, rng: np.random.Generator) -> float:
    """Plain sampling: ``calls`` shots of A, each one pull of the policy and one reward.

    A task with ``sample_returns(n, rng)`` (an MDP's rescaled returns of ``n`` sampled
    episodes) is estimated by their mean; otherwise the objective bit is sampled.
    """
    if hasattr(task, "sample_returns"):
        return float(np.mean(task.sample_returns(calls, rng)))
    return rng.binomial(calls, task.value) / calls


def mlae_schedule(n_powers: int) -> list[int]:
    """Grover powers k = 0, 1, 2, 4, … (``n_powers`` of them), the exponential schedule."""
    return [0] + [2 ** j for j in range(n_powers - 1)]


def mlae_calls(n_powers: int, shots: int) -> int:
    """Applications of A that :func:`mlae` spends: shots × (2k + 1) summed over the schedule."""
    return shots * sum(2 * k + 1 for k in mlae_schedule(n_powers))


def mlae_cramer_rao(value: float, n_powers: int, shots: int) -> float:
    """The Cramér–Rao bound on the RMSE of :func:`mlae`: sin 2θ / (2 √(shots Σ_k (2k+1)²)).

    A shot of Q^k A is a Bernoulli trial with p = sin²((2k+1)θ), whose Fisher information
    about θ is 4(2k+1)² whatever θ is; the delta method turns the bound on θ into one on
    V = sin²θ. With the exponential schedule Σ(2k+1)² grows as the square of the calls
    spent, so the bound falls as calls⁻¹ only once the largest power dominates both sums:
    over k ≤ 16 (calls = 68 × shots) its log-log slope is −0.86, and −0.99 over 4 ≤ k ≤ 128.
    """
    theta = math.asin(math.sqrt(value))
    info = sum((2 * k + 1) ** 2 for k in mlae_schedule(n_powers))
    return math.sin(2 * theta) / (2 * math.sqrt(shots * info))


def mlae(task, n_powers: int, shots: int, rng: np.random.Generator,
         backend: str = "default.qubit", grid: int = 20_001) -> float:
    """Maximum-likelihood amplitude estimate from ``shots`` per Grover power.

    The likelihood is maximised on a grid over θ ∈ [0, π/2] (its peaks narrow as 1/k, so a
    grid finds the global one), then refined between the grid points next to the best one.
    """
    from scipy.optimize import minimize_scalar

    ks = np.array(mlae_schedule(n_powers))
    ones = np.array([rng.binomial(shots, good_probability(task, int(k), backend)) for k in ks])

    def loglik(theta):
        p = np.clip(np.sin((2 * ks[:, None] + 1) * np.atleast_1d(theta)[None]) ** 2, 1e-12, 1 - 1e-12)
        return (ones[:, None] * np.log(p) + (shots - ones)[:, None] * np.log(1 - p)).sum(0)

    theta = np.linspace(0, math.pi / 2, grid)
    i = int(np.argmax(loglik(theta)))
    lo, hi = theta[max(i - 1, 0)], theta[min(i + 1, grid - 1)]
    best = minimize_scalar(lambda t: -loglik(t)[0], bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})
    return float(np.sin(best.x if -best.fun >= loglik(theta[i])[0] else theta[i]) ** 2)


@lru_cache(maxsize=64)
def _qpe_distribution(task, m: int, backend: str) -> np.ndarray:
    n = task.n_qubits - 1
    target = list(range(n + 1))
    estimation = list(range(n + 1, n + 1 + m))
    q_matrix = qml.matrix(grover, wire_order=target)(task)

    def circuit():
        oracle(task)
        qml.QuantumPhaseEstimation(qml.QubitUnitary(q_matrix, wires=target), estimation_wires=estimation)
        return qml.probs(wires=estimation)

    probs = np.asarray(backends.qnode(circuit, backend, n + 1 + m)(), dtype=float)
    return probs / probs.sum()


def qpe_calls(m: int, shots: int) -> int:
    """Applications of A that :func:`qpe_ae` spends: shots × (1 + 2 (2^m − 1))."""
    return shots * (1 + 2 * (2 ** m - 1))


def qpe_ae(task, m: int, shots: int, rng: np.random.Generator,
           backend: str = "default.qubit") -> float:
    """Canonical AE: the most frequent phase y of ``shots`` QPE runs, V̂ = sin²(π y / 2^m)."""
    counts = rng.multinomial(shots, _qpe_distribution(task, m, backend))
    y = int(np.argmax(counts))
    return float(np.sin(math.pi * y / 2 ** m) ** 2)


def error_vs_calls(task, repeats: int = 50, shots: int = 100, max_powers: int = 7,
                   max_qpe_bits: int = 6, seed: int = 0, backend: str = "default.qubit") -> list[dict]:
    """RMSE of each estimator against the exact value at growing budgets of oracle calls.

    Rows: ``{"method", "calls", "rmse", "setting"}``; Monte Carlo is run at the
    same budgets as MLAE so the two curves share an x axis.
    """
    rng = np.random.default_rng(seed)
    v = task.value
    rows = []
    for n_powers in range(1, max_powers + 1):
        calls = mlae_calls(n_powers, shots)
        ml = [mlae(task, n_powers, shots, rng, backend) for _ in range(repeats)]
        mc = [monte_carlo(task, calls, rng) for _ in range(repeats)]
        rows.append({"method": "mlae", "calls": calls, "setting": f"powers={n_powers}",
                     "rmse": float(np.sqrt(np.mean((np.array(ml) - v) ** 2)))})
        rows.append({"method": "monte_carlo", "calls": calls, "setting": f"shots={calls}",
                     "rmse": float(np.sqrt(np.mean((np.array(mc) - v) ** 2)))})
    for m in range(2, max_qpe_bits + 1):
        est = [qpe_ae(task, m, shots, rng, backend) for _ in range(repeats)]
        rows.append({"method": "qpe", "calls": qpe_calls(m, shots), "setting": f"bits={m}",
                     "rmse": float(np.sqrt(np.mean((np.array(est) - v) ** 2)))})
    return rows


def loglog_slope(rows: list[dict], method: str, min_calls: int = 0) -> float:
    """Least-squares slope of log(rmse) against log(calls) for one method (−0.5 for Monte Carlo),
    over the rows with at least ``min_calls`` calls."""
    pts = [(r["calls"], r["rmse"]) for r in rows if r["method"] == method and r["rmse"] > 0
           and r["calls"] >= min_calls]
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])

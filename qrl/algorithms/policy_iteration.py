"""Quantum policy evaluation and improvement (Wiedemann et al. 2022, "Quantum Policy Iteration
via Amplitude Estimation and Grover Search").

**Evaluation.** In a finite-horizon MDP whose randomness is exogenous noise,
s_{t+1} = f(s_t, a_t, ω_t) with ω_t drawn i.i.d. from q (FrozenLake's slippery ice:
ω ∈ {slip left, straight, slip right}, each 1/3), a deterministic policy π turns
the noise sequence ω_1…ω_H into one trajectory and one return G(ω). The circuit A

    A|0⟩ = Σ_ω √q(ω_1)…q(ω_H) |ω_1…ω_H⟩ (√(1 − g(ω))|0⟩ + √g(ω)|1⟩),   g = G / G_max,

prepares the noise of every step in superposition (one register of
⌈log₂|Ω|⌉ qubits per step) and rotates the objective qubit by the rescaled return
of the trajectory that noise produces. P(objective = 1) = E_π[G] / G_max, so the
value is an amplitude and :mod:`qrl.algorithms.amplitude_estimation` (MLAE, QPE)
estimates it with error ~ calls⁻¹ where Monte Carlo over episodes gets
calls^(−1/2). Only noise prefixes that end an episode with a non-zero return get
a rotation, controlled on that prefix (later noise cannot change the return).

**Improvement.** Deterministic stationary policies are basis states of a policy
register (2 bits per state for 4 actions). :func:`grover_policy_search` is the
Dürr–Høyer maximum search: starting from a random policy y, Grover iterations
(a phase oracle marking policies with V(π) > V(y), then the diffusion) amplify the
better policies, a measurement proposes one, and y moves to it when it is better;
the number of iterations per round is drawn as in Boyer et al. (1998), since the
number of better policies is unknown. The oracle is an idealised comparator: it
reads each policy's exact value (the coherent amplitude-estimation subroutine of
Wiedemann et al. would need far more qubits than a statevector simulator holds);
the estimation error of that subroutine is what :func:`evaluation_error_vs_calls`
measures. Costs are counted in oracle queries, against the N policy evaluations
of an exhaustive classical search.

Exact references: :func:`policy_value` (backward induction) and
:func:`value_iteration` (the finite-horizon optimum).

**Example**

>>> mdp = frozen_lake(["SF", "HG"], horizon=3)
>>> task = ReturnTask(mdp, policy=(2, 1, 0, 0))        # right, then down
>>> round(task.value, 4), round(policy_value(mdp, task.policy), 4)
(0.1852, 0.1852)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pennylane as qml

from qrl.algorithms.amplitude_estimation import loglog_slope, mlae, mlae_calls, mlae_cramer_rao, monte_carlo


@dataclass(frozen=True)
class NoiseMDP:
    """A finite-horizon MDP s' = succ[s, a, ω], reward rew[s, a, ω], noise ω ~ noise (i.i.d. per step).

    Terminal states absorb with zero reward. Arrays are stored as nested tuples so the
    MDP can key the circuit caches.
    """

    succ: tuple
    rew: tuple
    noise: tuple[float, ...]
    terminal: tuple[bool, ...]
    start: int
    horizon: int
    gamma: float = 1.0

    @property
    def n_states(self) -> int:
        return len(self.terminal)

    @property
    def n_actions(self) -> int:
        return len(self.succ[0])

    @property
    def free_states(self) -> list[int]:
        """The non-terminal states, the ones a policy acts in."""
        return [s for s in range(self.n_states) if not self.terminal[s]]

    @property
    def return_bound(self) -> float:
        """G_max: the largest return any action and noise sequence reach (rescales returns into [0, 1])."""
        succ, rew = np.asarray(self.succ), np.asarray(self.rew, float)
        v = np.zeros(self.n_states)
        for _ in range(self.horizon):
            v = np.where(self.terminal, 0.0, (rew + self.gamma * v[succ]).max(axis=(1, 2)))
        return float(v[self.start]) or 1.0

    def transition_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """P[s, a, s'] and expected immediate reward r[s, a] (terminal rows absorb with zero reward)."""
        succ, rew, q = np.asarray(self.succ), np.asarray(self.rew, float), np.asarray(self.noise)
        p = np.zeros((self.n_states, self.n_actions, self.n_states))
        for w, qw in enumerate(q):
            np.add.at(p, (np.arange(self.n_states)[:, None], np.arange(self.n_actions)[None], succ[:, :, w]), qw)
        r = (rew * q).sum(-1)
        return p, r


def frozen_lake(desc: Sequence[str], horizon: int, is_slippery: bool = True, gamma: float = 1.0) -> NoiseMDP:
    """The gymnasium FrozenLake on map ``desc`` as a :class:`NoiseMDP` (read from the env's own table ``P``).

    Slippery ice moves the agent straight or to either side with probability 1/3 each,
    whatever the state: the noise ω is the index into ``env.P[s][a]``.
    """
    import gymnasium as gym

    env = gym.make("FrozenLake-v1", desc=list(desc), is_slippery=is_slippery).unwrapped
    n_s, n_a = env.observation_space.n, env.action_space.n
    letters = "".join(desc)
    terminal = tuple(c in "HG" for c in letters)
    noise = None
    succ = np.zeros((n_s, n_a, 3 if is_slippery else 1), dtype=int)
    rew = np.zeros(succ.shape)
    for s in range(n_s):
        for a in range(n_a):
            if terminal[s]:
                succ[s, a] = s
                continue
            entries = env.P[s][a]
            probs = tuple(float(p) for p, *_ in entries)
            if noise is None:
                noise = probs
            if probs != noise:
                raise ValueError(f"state {s}, action {a}: transition probabilities {probs} differ from {noise}; "
                                 "the noise must not depend on the state.")
            for w, (_, s2, r, _) in enumerate(entries):
                succ[s, a, w], rew[s, a, w] = s2, r
    env.close()
    return NoiseMDP(succ=_nested(succ), rew=_nested(rew), noise=noise, terminal=terminal,
                    start=letters.index("S"), horizon=int(horizon), gamma=float(gamma))


def _nested(a: np.ndarray):
    return tuple(_nested(x) for x in a) if a.ndim > 1 else tuple(a.tolist())


# -- exact references ---------------------------------------------------------
def policy_value(mdp: NoiseMDP, policy: Sequence[int]) -> float:
    """E_π[G] from the start state by backward induction over the horizon (the exact value)."""
    p, r = mdp.transition_matrix()
    pi = np.asarray(policy)
    s = np.arange(mdp.n_states)
    v = np.zeros(mdp.n_states)
    for _ in range(mdp.horizon):
        v = r[s, pi] + mdp.gamma * p[s, pi] @ v
    return float(v[mdp.start])


def value_iteration(mdp: NoiseMDP) -> tuple[float, np.ndarray]:
    """The finite-horizon optimum V*(start) and the optimal (time-dependent) policy, shape [H, n_states]."""
    p, r = mdp.transition_matrix()
    v = np.zeros(mdp.n_states)
    policies = []
    for _ in range(mdp.horizon):
        q = r + mdp.gamma * p @ v
        policies.append(q.argmax(1))
        v = q.max(1)
    return float(v[mdp.start]), np.asarray(policies[::-1])


def policy_from_index(mdp: NoiseMDP, index: int) -> tuple[int, ...]:
    """The stationary policy whose base-``n_actions`` digits (first free state first) are ``index``."""
    pi = [0] * mdp.n_states
    for j, s in enumerate(mdp.free_states):
        pi[s] = (index // mdp.n_actions ** j) % mdp.n_actions
    return tuple(pi)


def all_policy_values(mdp: NoiseMDP) -> np.ndarray:
    """Exact values of all n_actions^(free states) stationary deterministic policies, by index."""
    p, r = mdp.transition_matrix()
    free = mdp.free_states
    n = mdp.n_actions ** len(free)
    idx = np.arange(n)
    actions = np.zeros((n, mdp.n_states), dtype=int)
    for j, s in enumerate(free):
        actions[:, s] = (idx // mdp.n_actions ** j) % mdp.n_actions
    s = np.arange(mdp.n_states)
    p_pi, r_pi = p[s[None], actions], r[s[None], actions]          # [N, S, S'], [N, S]
    v = np.zeros((n, mdp.n_states))
    for _ in range(mdp.horizon):
        v = r_pi + mdp.gamma * np.einsum("nij,nj->ni", p_pi, v)
    return v[:, mdp.start]


# -- the amplitude-encoded return -----------------------------------------------
@dataclass(frozen=True)
class ReturnTask:
    """A deterministic policy's rescaled return in ``mdp`` as an amplitude-estimation task.

    Wires: step t's noise on ``bits_per_step`` qubits starting at t·bits_per_step, the
    objective qubit last. Works with :func:`~qrl.algorithms.amplitude_estimation.mlae`,
    ``qpe_ae``, ``good_probability`` and ``monte_carlo`` (episodes sampled from the MDP).
    """

    mdp: NoiseMDP
    policy: tuple[int, ...]

    def __init__(self, mdp: NoiseMDP, policy: Sequence[int]):
        policy = tuple(int(a) for a in policy)
        if len(policy) != mdp.n_states or not all(0 <= a < mdp.n_actions for a in policy):
            raise ValueError(f"policy must give one action in 0..{mdp.n_actions - 1} for each of the "
                             f"{mdp.n_states} states; got {policy}.")
        object.__setattr__(self, "mdp", mdp)
        object.__setattr__(self, "policy", policy)

    @property
    def bits_per_step(self) -> int:
        return max(1, math.ceil(math.log2(len(self.mdp.noise))))

    @property
    def n_qubits(self) -> int:
        return self.mdp.horizon * self.bits_per_step + 1

    @property
    def value(self) -> float:
        """P(objective = 1) = E_π[G] / G_max, exact."""
        return policy_value(self.mdp, self.policy) / self.mdp.return_bound

    def rewarded_prefixes(self) -> list[tuple[tuple[int, ...], float]]:
        """(noise prefix, rescaled return) for every episode that ends (absorbed or at the horizon)
        with a non-zero return; the prefix stops where the episode is absorbed."""
        mdp, out = self.mdp, []

        def walk(s: int, t: int, prefix: tuple[int, ...], g: float) -> None:
            if mdp.terminal[s] or t == mdp.horizon:
                if g > 0:
                    out.append((prefix, g / mdp.return_bound))
                return
            a = self.policy[s]
            for w, qw in enumerate(mdp.noise):
                if qw > 0:
                    walk(mdp.succ[s][a][w], t + 1, prefix + (w,), g + mdp.gamma ** t * mdp.rew[s][a][w])

        walk(mdp.start, 0, (), 0.0)
        return out

    def prepare(self) -> None:
        """A: the noise of every step in superposition, then the return rotation per rewarded prefix."""
        b, h = self.bits_per_step, self.mdp.horizon
        amplitudes = np.zeros(2 ** b)
        amplitudes[: len(self.mdp.noise)] = np.sqrt(self.mdp.noise)
        for t in range(h):
            qml.MottonenStatePreparation(amplitudes, wires=range(t * b, (t + 1) * b))
        objective = h * b
        # The uniformly controlled RY(θ_ω) on the objective is RX(π/2) · RZ(θ_ω) · RX(−π/2), and
        # a uniformly controlled RZ is one diagonal unitary: one cheap gate whatever the number of prefixes.
        qml.RX(-math.pi / 2, wires=objective)
        qml.DiagonalQubitUnitary(self._reward_phases(), wires=range(objective + 1))
        qml.RX(math.pi / 2, wires=objective)

    def _reward_phases(self) -> np.ndarray:
        """Diagonal of Σ_ω |ω⟩⟨ω| ⊗ RZ(θ_ω), θ_ω = 2 asin √g(ω), over (noise register, objective)."""
        b, h = self.bits_per_step, self.mdp.horizon
        theta = np.zeros(2 ** (h * b))
        for prefix, g in self.rewarded_prefixes():
            code = 0
            for w in prefix:
                code = (code << b) | w
            free = h * b - len(prefix) * b                 # later noise: every value gets the rotation
            theta[code << free:(code + 1) << free] = 2 * math.asin(math.sqrt(min(g, 1.0)))
        half = np.stack([np.exp(-0.5j * theta), np.exp(0.5j * theta)], axis=1)   # RZ(θ) = diag(e^{-iθ/2}, e^{iθ/2})
        return half.reshape(-1)

    def sample_returns(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Rescaled returns of ``n`` episodes simulated with fresh noise (the classical Monte Carlo)."""
        mdp = self.mdp
        succ, rew = np.asarray(mdp.succ), np.asarray(mdp.rew, float)
        pi, term = np.asarray(self.policy), np.asarray(mdp.terminal)
        s = np.full(n, mdp.start)
        g = np.zeros(n)
        for t in range(mdp.horizon):
            w = rng.choice(len(mdp.noise), size=n, p=mdp.noise)
            live = ~term[s]
            a = pi[s]
            g += np.where(live, mdp.gamma ** t * rew[s, a, w], 0.0)
            s = np.where(live, succ[s, a, w], s)
        return g / mdp.return_bound


def evaluation_error_vs_calls(task: ReturnTask, repeats: int = 100, shots: int = 100, max_powers: int = 6,
                              seed: int = 0, backend: str = "default.qubit") -> list[dict]:
    """RMSE of MLAE and of Monte Carlo over episodes against the exact value, at equal oracle calls.

    One call is one application of A (one episode for Monte Carlo). Rows:
    ``{"method", "calls", "rmse", "setting"}``; :func:`~qrl.algorithms.amplitude_estimation.loglog_slope`
    fits the decay. Each budget also has a ``cramer_rao`` row: the MLAE bound
    (:func:`~qrl.algorithms.amplitude_estimation.mlae_cramer_rao`) at the exact value, the curve MLAE
    should follow — bending from Monte Carlo's −1/2 at the first budgets towards −1.
    """
    rng = np.random.default_rng(seed)
    v = task.value
    rows = []
    for n_powers in range(1, max_powers + 1):
        calls = mlae_calls(n_powers, shots)
        ml = np.array([mlae(task, n_powers, shots, rng, backend) for _ in range(repeats)])
        mc = np.array([monte_carlo(task, calls, rng) for _ in range(repeats)])
        rows.append({"method": "mlae", "calls": calls, "setting": f"powers={n_powers}",
                     "rmse": float(np.sqrt(np.mean((ml - v) ** 2)))})
        rows.append({"method": "monte_carlo", "calls": calls, "setting": f"episodes={calls}",
                     "rmse": float(np.sqrt(np.mean((mc - v) ** 2)))})
        rows.append({"method": "cramer_rao", "calls": calls, "setting": f"powers={n_powers}",
                     "rmse": mlae_cramer_rao(v, n_powers, shots)})
    return rows


# -- Grover search over policies -------------------------------------------------
def grover_distribution(marked: np.ndarray, k: int) -> np.ndarray:
    """Measurement distribution of the search register after k Grover iterations from |+…+⟩.

    Each iteration is the phase oracle (−1 on ``marked``) then the diffusion 2|+⟩⟨+| − I,
    applied to the statevector in numpy: the 14-qubit policy register is beyond what
    PennyLane's simulators run quickly gate by gate (the tests check this function against
    ``qml.GroverOperator`` circuits on small registers).
    """
    marked = np.asarray(marked, dtype=bool)
    psi = np.full(len(marked), 1 / math.sqrt(len(marked)))
    for _ in range(k):
        psi = np.where(marked, -psi, psi)
        psi = 2 * psi.mean() - psi
    return psi ** 2 / np.sum(psi ** 2)


def grover_policy_search(mdp: NoiseMDP, seed: int = 0, growth: float = 6 / 5, budget: int | None = None) -> dict:
    """Dürr–Høyer maximum search over the stationary deterministic policies of ``mdp``.

    Args:
        mdp: the MDP; the register has log₂(n_actions^(free states)) qubits (n_actions a power of two).
        seed: seeds the initial policy, the iteration counts and the measurements.
        growth: λ of Boyer et al.: the iteration bound grows by this factor after a miss.
        budget: oracle queries allowed (default ⌈22.5 √N + 1.4 log₂² N⌉, Dürr–Høyer's bound).

    Returns:
        ``{"policy", "value", "queries", "queries_to_best", "n_policies", "improvements"}``:
        the best policy found, its exact value, the queries spent (Grover iterations, plus one
        comparison per measured candidate), the queries spent when the final policy was found.
    """
    values = all_policy_values(mdp)
    n = len(values)
    n_wires = round(math.log2(n))
    if 2 ** n_wires != n:
        raise ValueError(f"{n} policies is not a power of two; n_actions must be a power of two.")
    rng = np.random.default_rng(seed)
    budget = budget or math.ceil(22.5 * math.sqrt(n) + 1.4 * math.log2(n) ** 2)
    best = int(rng.integers(n))
    queries, queries_to_best, improvements = 0, 0, 0
    while queries < budget:
        marked = values > values[best] + 1e-12
        distributions: dict[int, np.ndarray] = {}     # per iteration count, for this threshold
        m = 1.0
        while queries < budget:
            k = int(rng.integers(0, math.ceil(m)))
            if k not in distributions:
                distributions[k] = grover_distribution(marked, k)
            probs = distributions[k]
            x = int(rng.choice(n, p=probs))
            queries += k + 1
            if values[x] > values[best] + 1e-12:
                best, queries_to_best, improvements = x, queries, improvements + 1
                break
            m = min(growth * m, math.sqrt(n))
    return {"policy": policy_from_index(mdp, best), "value": float(values[best]), "queries": queries,
            "queries_to_best": queries_to_best, "n_policies": n, "improvements": improvements}


__all__ = ["NoiseMDP", "ReturnTask", "all_policy_values", "evaluation_error_vs_calls", "frozen_lake",
           "grover_distribution", "grover_policy_search", "loglog_slope", "policy_from_index", "policy_value", "value_iteration"]

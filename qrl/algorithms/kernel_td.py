"""Kernel least-squares TD: a quantum-kernel value function learned from an agent's transitions.

Policy evaluation from experience (Bradtke & Barto 1996, with kernel features as in
Xu et al. 2007): with features φ(s) = [k(s, c_1), …, k(s, c_m)] on centres c_j and a
batch of transitions (s, r, s', done),

    A = Σ φ(s) (φ(s) − γ (1 − done) φ(s'))ᵀ,   b = Σ φ(s) r,   θ = (A + λ I)⁻¹ b,

and V(s) = θ · φ(s): the fixed point of the projected Bellman equation, no step sizes.
k is the fidelity kernel of :mod:`qrl.algorithms.kernels` (the same re-uploading feature
map) or its classical twin, the RBF kernel. The task is the random walk of Sutton &
Barto (Example 6.2, extended to ``n_states`` states): the agent steps left or right with
probability ½ from the middle state until it leaves the chain, reward 1 on the right
exit; the true values V(i) = (i + 1) / (n_states + 1) are the exact reference.

**Example**

>>> data = random_walk_transitions(n_episodes=100, n_states=7, seed=0)
>>> v = fit_lstd(data, rbf_features(n_states=7, gamma_rbf=20.0), n_states=7)
>>> bool(value_rmse(v, n_states=7) < 0.1)
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qrl.algorithms.kernels import fidelity_kernel, rbf_kernel

Features = Callable[[np.ndarray], np.ndarray]


def positions(states: np.ndarray, n_states: int) -> np.ndarray:
    """State i of the chain as a point in [−1, 1], shape [len(states), 1]."""
    return (2 * np.asarray(states, dtype=float) / (n_states - 1) - 1)[:, None]


def true_values(n_states: int) -> np.ndarray:
    """V(i) = (i + 1) / (n_states + 1) for the random walk (γ = 1)."""
    return (np.arange(n_states) + 1) / (n_states + 1)


def random_walk_transitions(n_episodes: int, n_states: int = 19, seed: int = 0) -> dict[str, np.ndarray]:
    """Transitions of ``n_episodes`` random-walk episodes: arrays s, r, s2, done (s2 = −1 when done)."""
    rng = np.random.default_rng(seed)
    s, r, s2, done = [], [], [], []
    for _ in range(n_episodes):
        state = n_states // 2
        while True:
            nxt = state + (1 if rng.random() < 0.5 else -1)
            end = nxt < 0 or nxt >= n_states
            s.append(state)
            r.append(1.0 if nxt >= n_states else 0.0)
            s2.append(-1 if end else nxt)
            done.append(end)
            if end:
                break
            state = nxt
    return {"s": np.array(s), "r": np.array(r), "s2": np.array(s2), "done": np.array(done)}


def rbf_features(n_states: int, gamma_rbf: float = 10.0, n_centres: int | None = None) -> Features:
    """φ(s) = exp(−γ ‖x(s) − c_j‖²) on ``n_centres`` evenly spaced centres (default: every state)."""
    centres = np.linspace(-1, 1, n_centres or n_states)[:, None]
    return lambda states: rbf_kernel(positions(states, n_states), centres, gamma_rbf)


def fidelity_features(n_states: int, n_qubits: int = 2, n_layers: int = 2, bandwidth: float = 1.0,
                      n_centres: int | None = None, backend: str = "default.qubit") -> Features:
    """φ(s) = |⟨φ(c_j)|φ(x(s))⟩|², the fidelity kernel against evenly spaced centres."""
    centres = np.linspace(-1, 1, n_centres or n_states)[:, None]
    table = fidelity_kernel(positions(np.arange(n_states), n_states), centres, n_qubits, n_layers, bandwidth,
                            backend)                         # every state once: the chain is finite
    return lambda states: table[np.asarray(states)]


def fit_lstd(data: dict[str, np.ndarray], features: Features, n_states: int, gamma: float = 1.0,
             ridge: float = 1e-3) -> np.ndarray:
    """θ of kernel LSTD on the transitions; returns V over all states of the chain."""
    phi = features(data["s"])
    phi_next = np.where(data["done"][:, None], 0.0, features(np.where(data["done"], 0, data["s2"])))
    a = phi.T @ (phi - gamma * phi_next)
    b = phi.T @ data["r"]
    theta = np.linalg.solve(a + ridge * np.eye(len(a)), b)
    return features(np.arange(n_states)) @ theta


def value_rmse(values: np.ndarray, n_states: int) -> float:
    """Root-mean-square error of V against the true values, over the states."""
    return float(np.sqrt(np.mean((values - true_values(n_states)) ** 2)))


def compare(seeds, n_episodes: int = 20, n_states: int = 19, n_qubits: int = 2, n_layers: int = 2,
            bandwidth: float = 0.5, gamma_rbf: float = 10.0, ridge: float = 1e-3,
            backend: str = "default.qubit") -> dict[str, list[float]]:
    """Value RMSE of fidelity- and RBF-kernel LSTD on the same transitions, one entry per seed."""
    quantum = fidelity_features(n_states, n_qubits, n_layers, bandwidth, backend=backend)
    classical = rbf_features(n_states, gamma_rbf)
    out: dict[str, list[float]] = {"quantum_fidelity": [], "classical_rbf": []}
    for seed in seeds:
        data = random_walk_transitions(n_episodes, n_states, seed)
        out["quantum_fidelity"].append(value_rmse(fit_lstd(data, quantum, n_states, ridge=ridge), n_states))
        out["classical_rbf"].append(value_rmse(fit_lstd(data, classical, n_states, ridge=ridge), n_states))
    return out

"""Quantum kernels for RL: a fidelity-kernel critic against its classical RBF twin.

The fidelity kernel k(x, y) = |⟨φ(y)|φ(x)⟩|² compares the states a feature map
prepares: here the data re-uploading encoding of :mod:`qrl.circuits` with fixed
(not trained) entangling layers, so the kernel is a property of the embedding.
A batch of inputs is one broadcast QNode call returning statevectors, and the
Gram matrix is |Φ Φ†|² (this needs a statevector backend; on hardware the same
kernel is estimated as the probability of |0…0⟩ after φ(x) then φ(y)†).

:func:`fit_kernel_critic` fits V(s) by kernel ridge regression to Monte Carlo
returns, the policy-evaluation step of an actor-critic; :func:`compare_critics`
measures the held-out R² of the quantum and the RBF critic on the same data.

**Example**

>>> x = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]])
>>> gram = fidelity_kernel(x, x, n_qubits=2, n_layers=1)
>>> np.allclose(np.diag(gram), 1.0), np.allclose(gram, gram.T)
(True, True)
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pennylane as qml
import torch

from qrl import backends
from qrl.circuits import encode, entangle

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def feature_states(x: np.ndarray, n_qubits: int, n_layers: int = 2, bandwidth: float = 1.0,
                   backend: str = "default.qubit", seed: int = 0) -> np.ndarray:
    """Statevectors φ(x) of the re-uploading feature map, shape [batch, 2**n_qubits].

    Each layer: H on every qubit, RZ(bandwidth · x_j) on qubit j mod n, a CZ ring and
    fixed random RY angles drawn from ``seed`` (so layers do not commute away).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    angles = np.random.default_rng(seed).uniform(0, np.pi, size=(n_layers, n_qubits))
    scaling = np.full((x.shape[1],), bandwidth)

    def circuit(inputs):
        for layer in range(n_layers):
            for q in range(n_qubits):
                qml.Hadamard(q)
            encode(inputs, scaling, n_qubits, "rz")
            entangle("cz_ring", n_qubits)
            for q in range(n_qubits):
                qml.RY(angles[layer, q], wires=q)
        return qml.state()

    qnode = backends.qnode(circuit, backend, n_qubits)
    out = qnode(torch.as_tensor(x))
    return np.asarray(torch.as_tensor(out).detach()).reshape(len(x), 2 ** n_qubits)


def fidelity_kernel(x1: np.ndarray, x2: np.ndarray, n_qubits: int, n_layers: int = 2, bandwidth: float = 1.0,
                    backend: str = "default.qubit", seed: int = 0) -> np.ndarray:
    """Gram matrix k(x1_i, x2_j) = |⟨φ(x2_j)|φ(x1_i)⟩|², shape [len(x1), len(x2)]."""
    a = feature_states(x1, n_qubits, n_layers, bandwidth, backend, seed)
    b = feature_states(x2, n_qubits, n_layers, bandwidth, backend, seed)
    return np.abs(a @ b.conj().T) ** 2


def rbf_kernel(x1: np.ndarray, x2: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """exp(−γ ‖x − y‖²), the classical counterpart."""
    d2 = ((np.asarray(x1)[:, None, :] - np.asarray(x2)[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * d2)


class KernelCritic:
    """V(s) = Σ_i α_i k(s, s_i), α = (K + ridge·I)⁻¹ G (kernel ridge regression).

    **Example**

    >>> s = np.linspace(-1, 1, 20)[:, None]
    >>> critic = fit_kernel_critic(s, s[:, 0] ** 2, lambda a, b: rbf_kernel(a, b, 5.0), ridge=1e-3)
    >>> bool(abs(critic(np.array([[0.5]]))[0] - 0.25) < 0.05)
    True
    """

    def __init__(self, support: np.ndarray, alpha: np.ndarray, offset: float, kernel: Kernel):
        self.support, self.alpha, self.offset, self.kernel = support, alpha, offset, kernel

    def __call__(self, states: np.ndarray) -> np.ndarray:
        return self.kernel(np.atleast_2d(states), self.support) @ self.alpha + self.offset


def fit_kernel_critic(states: np.ndarray, returns: np.ndarray, kernel: Kernel, ridge: float = 1e-2) -> KernelCritic:
    """Fit a :class:`KernelCritic` to (state, return) pairs; returns are centred first."""
    states, returns = np.atleast_2d(states), np.asarray(returns, dtype=np.float64)
    offset = float(returns.mean())
    gram = kernel(states, states)
    alpha = np.linalg.solve(gram + ridge * np.eye(len(states)), returns - offset)
    return KernelCritic(states, alpha, offset, kernel)


def r_squared(pred: np.ndarray, target: np.ndarray) -> float:
    return float(1 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def cartpole_returns(n_states: int, gamma: float = 0.95, seed: int = 0,
                     obs_scale: tuple[float, ...] = (2.4, 2.5, 0.21, 2.5)) -> tuple[np.ndarray, np.ndarray]:
    """(scaled state, discounted return-to-go) pairs of CartPole-v1 under a noisy balancing policy
    (push towards the pole's lean with probability 0.8)."""
    import gymnasium as gym

    rng = np.random.default_rng(seed)
    env = gym.make("CartPole-v1")
    states, targets, episode = [], [], 0
    while len(states) < n_states:
        obs, _ = env.reset(seed=seed * 10_000 + episode)
        traj, rewards, done = [], [], False
        while not done:
            lean = int(obs[2] + 0.5 * obs[3] > 0)
            action = lean if rng.random() < 0.8 else 1 - lean
            traj.append(obs)
            obs, r, terminated, truncated, _ = env.step(action)
            rewards.append(r)
            done = terminated or truncated
        g, rtg = 0.0, []
        for r in reversed(rewards):
            g = r + gamma * g
            rtg.append(g)
        states += traj
        targets += rtg[::-1]
        episode += 1
    env.close()
    idx = rng.permutation(len(states))[:n_states]
    return np.asarray(states)[idx] / np.asarray(obs_scale), np.asarray(targets)[idx]


def compare_critics(n_train: int = 150, n_test: int = 150, n_qubits: int = 4, n_layers: int = 2,
                    bandwidth: float = 1.0, rbf_gamma: float = 1.0, ridge: float = 1e-2, seed: int = 0,
                    backend: str = "default.qubit") -> dict[str, float]:
    """Held-out R² of the fidelity-kernel and RBF critics of CartPole returns (same data, same ridge)."""
    states, returns = cartpole_returns(n_train + n_test, seed=seed)
    train, test = slice(0, n_train), slice(n_train, None)
    kernels = {"quantum_fidelity": lambda a, b: fidelity_kernel(a, b, n_qubits, n_layers, bandwidth, backend),
               "classical_rbf": lambda a, b: rbf_kernel(a, b, rbf_gamma)}
    out = {}
    for name, kernel in kernels.items():
        critic = fit_kernel_critic(states[train], returns[train], kernel, ridge)
        out[name] = r_squared(critic(states[test]), returns[test])
    return out

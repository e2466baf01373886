"""VQE for value functions: a policy's value as the ground state of a Hamiltonian built from its Bellman equations.

For a policy π in a finite MDP, the value solves the Bellman equations A v = r with
A = I − γ P_π (P_π the state-to-state transition matrix under π, terminal states without
outgoing mass) and r the expected one-step reward. Take

    H = Aᵀ (I − r̂ r̂ᵀ) A,        r̂ = r / ‖r‖.

H is positive semi-definite and H ψ = 0 iff A ψ ∝ r, i.e. iff ψ ∝ v: the normalised
value vector is H's unique ground state, with energy 0. (⟨ψ|H|ψ⟩ = ‖Aψ‖² − (r̂ᵀAψ)² is
the squared residual of A ψ against the direction of r, so minimising it is the
"minimise ‖(I − γP)v − r‖²" problem with the scale of v factored out.)

:func:`value_vqe` writes H over ⌈log₂ S⌉ qubits as a Pauli sum (``qml.pauli_decompose``),
minimises ⟨ψ(θ)|H|ψ(θ)⟩ with a real-amplitude ansatz (RY layers and CNOT ladders; the
state vector's amplitudes are v's entries, padded states get zero reward and no
transitions), and recovers the scale from the state: v = (r·Aψ / ‖Aψ‖²) ψ. The result
is checked against the exact solve A⁻¹ r. :func:`frozen_lake_policy_mdp` gives (P_π, r_π) of
a policy on gymnasium's FrozenLake.

**Example**

>>> P, r = frozen_lake_policy_mdp(map_name="4x4", is_slippery=True)
>>> H, A = bellman_hamiltonian(P, r, gamma=0.9)
>>> v = np.linalg.solve(A, np.pad(r, (0, len(H) - len(r))))
>>> abs(float(v @ H @ v)) < 1e-12, H.shape      # the value direction has energy 0
(True, (16, 16))
"""

from __future__ import annotations

import math

import numpy as np
import torch


def frozen_lake_policy_mdp(policy=None, map_name: str = "4x4", is_slippery: bool = True):
    """(P_π [S, S], r_π [S]) of ``policy`` (``[S, A]`` probabilities; uniform if None) on FrozenLake."""
    import gymnasium as gym

    env = gym.make("FrozenLake-v1", map_name=map_name, is_slippery=is_slippery).unwrapped
    n_s, n_a = env.observation_space.n, env.action_space.n
    policy = np.full((n_s, n_a), 1 / n_a) if policy is None else np.asarray(policy, float)
    P, r = np.zeros((n_s, n_s)), np.zeros(n_s)
    for s in range(n_s):
        for a in range(n_a):
            for prob, s2, reward, terminal in env.P[s][a]:
                r[s] += policy[s, a] * prob * reward
                if not terminal:
                    P[s, s2] += policy[s, a] * prob
    # holes and the goal are absorbing with value 0: no outgoing transitions, no reward
    for s in range(n_s):
        if env.desc.flatten()[s] in (b"H", b"G"):
            P[s], r[s] = 0.0, 0.0
    return P, r


def bellman_hamiltonian(P: np.ndarray, r: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, A): A = I − γP and H = Aᵀ(I − r̂r̂ᵀ)A, padded to a power of two."""
    n = len(r)
    if P.shape != (n, n):
        raise ValueError(f"P must be [S, S] with S = len(r) = {n}, got {P.shape}.")
    if not 0 <= gamma < 1:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}.")
    if not np.any(r):
        raise ValueError("r is all zeros: every value is 0 and the ground state is not unique.")
    dim = 2 ** max(1, math.ceil(math.log2(n)))
    A = np.eye(dim)
    A[:n, :n] -= gamma * P
    rhat = np.zeros(dim)
    rhat[:n] = r / np.linalg.norm(r)
    H = A.T @ (np.eye(dim) - np.outer(rhat, rhat)) @ A
    return (H + H.T) / 2, A


def real_amplitude_ansatz(params, n_qubits: int):
    """Layers of RY on every wire and a CNOT ladder; real amplitudes only (values are real)."""
    import pennylane as qml

    for layer in range(params.shape[0]):
        for w in range(n_qubits):
            qml.RY(params[layer, w], wires=w)
        if layer < params.shape[0] - 1:
            for w in range(n_qubits - 1):
                qml.CNOT([w, w + 1])


def value_vqe(P: np.ndarray, r: np.ndarray, gamma: float, n_layers: int = 6, steps: int = 300,
              lr: float = 0.05, seed: int = 0, backend: str = "qrl.torch") -> dict:
    """The policy value from the ground state of :func:`bellman_hamiltonian`, against the exact solve.

    Returns:
        ``value`` (from the circuit), ``exact`` (A⁻¹r), ``max_abs_error``, ``energy`` (final ⟨H⟩;
        0 at the exact ground state), ``ground_energy`` (H's smallest eigenvalue), ``overlap``
        |⟨v̂|ψ⟩|, ``n_qubits``, ``n_terms`` (Pauli terms of H).
    """
    import pennylane as qml

    from qrl import backends

    n = len(r)
    H, A = bellman_hamiltonian(np.asarray(P, float), np.asarray(r, float), gamma)
    n_qubits = int(math.log2(len(H)))
    hamiltonian = qml.pauli_decompose(H, wire_order=range(n_qubits))

    def energy_circuit(params):
        real_amplitude_ansatz(params, n_qubits)
        return qml.expval(hamiltonian)

    def state_circuit(params):
        real_amplitude_ansatz(params, n_qubits)
        return qml.state()

    node = backends.qnode(energy_circuit, backend, n_qubits)
    gen = torch.Generator().manual_seed(seed)
    params = (math.pi * torch.rand(n_layers, n_qubits, generator=gen, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.Adam([params], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        e = node(params)
        e.backward()
        opt.step()
    with torch.no_grad():
        energy = float(node(params))
        psi = np.real(np.asarray(qml.QNode(state_circuit, qml.device("default.qubit", wires=n_qubits))(
            params.numpy()))).astype(float)
    a_psi = A @ psi
    r_pad = np.zeros(len(H))
    r_pad[:n] = r
    value = (r_pad @ a_psi) / (a_psi @ a_psi) * psi
    exact = np.linalg.solve(A[:n, :n], r)
    return {"value": value[:n], "exact": exact, "max_abs_error": float(np.max(np.abs(value[:n] - exact))),
            "energy": energy, "ground_energy": float(np.linalg.eigvalsh(H)[0]),
            "overlap": float(abs(psi[:n] @ exact) / np.linalg.norm(exact)), "n_qubits": n_qubits,
            "n_terms": len(hamiltonian.operands) if hasattr(hamiltonian, "operands") else None}

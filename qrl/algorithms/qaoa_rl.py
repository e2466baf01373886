"""RL that sets QAOA angles layer by layer for MaxCut, against a plain optimiser.

:class:`QAOAAnglesEnv` (registered as ``qrl/QAOAAngles-v0``): each episode draws a
MaxCut instance (a random 3-regular graph from a seeded pool) and builds its
cost and mixer Hamiltonians with PennyLane's ``qml.qaoa.maxcut``. At step t the
agent chooses (γ_t, β_t) for layer t (action in [-1, 1]² mapped to γ ∈ [0, π],
β ∈ [0, π/2]); the environment runs the depth-t circuit (one circuit
evaluation) and rewards the improvement of the approximation ratio
r = E[cut] / max cut. Observation: (t/p, current ratio, previous γ, previous β).

Agents are trained with :mod:`classical.rl.ppo` (Gaussian head, MLP or VQC
actor). :func:`optimiser_baseline` gives a plain optimiser (COBYLA on all 2p
angles, from the same start the env uses) the same number of circuit evaluations.

**Example**

>>> env = QAOAAnglesEnv(n_nodes=4, depth=1, graph_seeds=[0])
>>> obs, info = env.reset(seed=0)
>>> obs.shape, round(info["ratio"], 3) > 0
((4,), True)
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import gymnasium as gym
import networkx as nx
import numpy as np
import pennylane as qml

from qrl import backends


@lru_cache(maxsize=64)
def maxcut_instance(n_nodes: int, seed: int):
    """(graph, cost Hamiltonian, mixer Hamiltonian, max cut value) of a random 3-regular graph."""
    graph = nx.random_regular_graph(3, n_nodes, seed=seed)
    cost_h, mixer_h = qml.qaoa.maxcut(graph)
    best = 0
    for mask in range(2 ** (n_nodes - 1)):  # brute force; node n-1 fixed by symmetry
        side = [(mask >> i) & 1 for i in range(n_nodes)]
        best = max(best, sum(side[a] != side[b] for a, b in graph.edges))
    return graph, cost_h, mixer_h, best


class QAOAEnergy:
    """Expected cut of the QAOA state for given angles, on a ``backends.yaml`` backend; counts evaluations."""

    def __init__(self, n_nodes: int, seed: int, backend: str = "default.qubit"):
        self.graph, cost_h, mixer_h, self.max_cut = maxcut_instance(n_nodes, seed)
        self.evaluations = 0

        def circuit(gammas, betas):
            for w in range(n_nodes):
                qml.Hadamard(w)
            for g, b in zip(gammas, betas):
                qml.qaoa.cost_layer(g, cost_h)
                qml.qaoa.mixer_layer(b, mixer_h)
            return qml.expval(cost_h)

        self.qnode = backends.qnode(circuit, backend, n_nodes)

    def ratio(self, gammas: Sequence[float], betas: Sequence[float]) -> float:
        """E[cut] / max cut; PennyLane's MaxCut cost is −(cut size), so E[cut] = −⟨H_C⟩."""
        self.evaluations += 1
        return float(-self.qnode(np.asarray(gammas, float), np.asarray(betas, float))) / self.max_cut


class QAOAAnglesEnv(gym.Env):
    """Choose QAOA angles layer by layer; see the module docstring.

    Args:
        n_nodes: graph size (even, ≥ 4).
        depth: QAOA layers p = episode length.
        graph_seeds: the pool of instances an episode draws from.
        backend: where the circuits run.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_nodes: int = 6, depth: int = 3, graph_seeds: Sequence[int] = tuple(range(8)),
                 backend: str = "default.qubit"):
        if n_nodes < 4 or n_nodes % 2:
            raise ValueError(f"n_nodes must be even and at least 4 for 3-regular graphs, not {n_nodes}.")
        self.n_nodes, self.depth, self.graph_seeds, self.backend = n_nodes, depth, list(graph_seeds), backend
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-1.0, math.pi, shape=(4,), dtype=np.float32)
        self._energies: dict[int, QAOAEnergy] = {}

    @staticmethod
    def angles(action) -> tuple[float, float]:
        a = np.clip(np.asarray(action, dtype=float), -1, 1)
        return float((a[0] + 1) / 2 * math.pi), float((a[1] + 1) / 4 * math.pi)

    def _obs(self) -> np.ndarray:
        g, b = (self.gammas[-1], self.betas[-1]) if self.gammas else (0.0, 0.0)
        return np.array([len(self.gammas) / self.depth, self.ratio, g, b], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        graph_seed = (options or {}).get("graph_seed")
        if graph_seed is None:
            graph_seed = self.graph_seeds[int(self.np_random.integers(len(self.graph_seeds)))]
        if graph_seed not in self._energies:
            self._energies[graph_seed] = QAOAEnergy(self.n_nodes, graph_seed, self.backend)
        self.energy = self._energies[graph_seed]
        self.gammas, self.betas = [], []
        _, _, _, best = maxcut_instance(self.n_nodes, graph_seed)
        self.ratio = self.energy.graph.number_of_edges() / 2 / best  # |+…+⟩ cuts half the edges
        return self._obs(), {"ratio": self.ratio, "graph_seed": graph_seed}

    def step(self, action):
        g, b = self.angles(action)
        self.gammas.append(g)
        self.betas.append(b)
        before = self.ratio
        self.ratio = self.energy.ratio(self.gammas, self.betas)
        truncated = len(self.gammas) >= self.depth
        return self._obs(), self.ratio - before, False, truncated, {"ratio": self.ratio}


def optimiser_baseline(n_nodes: int, depth: int, graph_seed: int, evaluations: int,
                       backend: str = "default.qubit", seed: int = 0) -> float:
    """Best ratio COBYLA finds on one instance within ``evaluations`` circuit evaluations."""
    from scipy.optimize import minimize

    energy = QAOAEnergy(n_nodes, graph_seed, backend)
    start = np.random.default_rng(seed).uniform(-1, 1, 2 * depth)
    best = [0.0]

    def loss(x):
        gb = [QAOAAnglesEnv.angles(x[2 * t:2 * t + 2]) for t in range(depth)]
        r = energy.ratio([g for g, _ in gb], [b for _, b in gb])
        best[0] = max(best[0], r)
        return -r

    minimize(loss, start, method="COBYLA", options={"maxiter": evaluations, "rhobeg": 0.5})
    return best[0]


def policy_ratio(act, n_nodes: int, depth: int, graph_seeds: Sequence[int], backend: str = "default.qubit") -> float:
    """Mean final ratio of a deterministic policy ``act(obs[None]) -> action[None]`` over instances."""
    env = QAOAAnglesEnv(n_nodes, depth, graph_seeds, backend)
    ratios = []
    for gs in graph_seeds:
        obs, _ = env.reset(seed=0, options={"graph_seed": gs})
        for _ in range(depth):
            obs, _, _, _, info = env.step(np.asarray(act(obs[None]))[0])
        ratios.append(info["ratio"])
    return float(np.mean(ratios))


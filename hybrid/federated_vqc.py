"""Federated quantum RL: clients train re-uploading circuit policies, the server averages angles.

The classical federation (:mod:`classical.federated`) with the policy swapped: every
client trains a softmax-PQC (:class:`qrl.models.ReuploadingPolicy`, 94 parameters
with 4 qubits and 5 layers) by REINFORCE on its own CartPole, and the server averages
the circuit parameters (input scalings λ, rotation angles θ, output weights w). By
default client-level DP (clipping + Gaussian noise, ε from Opacus's RDP accountant) and
pairwise-masked secure aggregation are on, so the server never sees an individual
client's circuit update. The comparison is the same federation of MLP policies of
similar size (``hidden: 16`` gives 114 parameters).

Observations are divided by CartPole's typical ranges before encoding, as in Jerbi
et al. (2021), so that angles stay in a useful range.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(num_clients=2, episodes=1, local_episodes=1, eval_episodes=1,
...              model={"type": "vqc", "n_qubits": 4, "n_layers": 1}, engine="inprocess",
...              env_kwargs={"max_episode_steps": 20})
>>> run(cfg, RunDir(tempfile.mkdtemp(), metrics_name="rounds.csv"))["rounds"]
1
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from classical.common.rollouts import CARTPOLE_SCALE
from classical.common.rundir import RunDir
from classical.federated import train as federated_train
from classical.federated.server_app import FederationConfig
from qrl.backends import Backend
from qrl.models import ReuploadingPolicy

METRICS_FILE = "rounds.csv"  # the CLI opens the run directory with this metrics file


class Config(FederationConfig):
    """Federated VQC policies; DP and secure aggregation on by default."""

    model: dict[str, Any] = Field(default_factory=lambda: {"type": "vqc", "n_qubits": 4, "n_layers": 5},
                                  description="Policy circuit: {type: vqc, n_qubits, n_layers}.")
    backend: str | None = Field(None, description="backends.yaml entry the circuits run on (None: the file's default).")
    dp: bool = Field(True, description="Client-level DP: clip updates on clients, Gaussian noise on the server.")
    secure_aggregation: bool = Field(True, description="Pairwise-masked updates: the server sees only the sum.")
    noise_multiplier: float = Field(0.3, ge=0, description="DP noise std divided by the clipping norm (per round).")


class ScaledObservationPolicy(nn.Module):
    """``policy(obs / scale)``: keeps encoding angles of CartPole states in about [-1, 1]."""

    def __init__(self, policy: nn.Module, scale=CARTPOLE_SCALE):
        super().__init__()
        self.policy = policy
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs / self.scale)


def vqc_policy_factory(n_qubits: int, n_layers: int, backend: str | Backend | None = None):
    """A ``(obs_dim, n_actions) -> policy`` builder for the federated clients and server."""

    def build(obs_dim: int, n_actions: int) -> nn.Module:
        return ScaledObservationPolicy(ReuploadingPolicy(obs_dim, n_actions, n_qubits=n_qubits,
                                                         n_layers=n_layers, backend=backend))

    return build


def run(cfg: Config, run: RunDir) -> dict:
    """Train the federation of circuit policies into ``run`` (``rounds.csv``, ``eval.csv``, curve)."""
    spec = {"n_qubits": 4, "n_layers": 5, **cfg.model}
    if spec.pop("type", "vqc") != "vqc" or set(spec) - {"n_qubits", "n_layers"}:
        raise ValueError(f"model {cfg.model}: the federated circuit policy takes {{type: vqc, n_qubits, n_layers}}.")
    base = FederationConfig(**cfg.model_dump(exclude={"model", "backend"}))
    backend = cfg.backend if run.backend is None else run.backend  # the run's resolved backend
    return federated_train.run(base, run, policy_factory=vqc_policy_factory(spec["n_qubits"], spec["n_layers"],
                                                                            backend))


def agent_from_config(config: dict) -> federated_train.GlobalPolicy:
    """An untrained global circuit policy for ``config`` (a :class:`Config` as a dict)."""
    cfg = Config(**config)
    spec = {"n_qubits": 4, "n_layers": 5, **cfg.model}
    spec.pop("type", None)
    return federated_train.agent_from_config(config, vqc_policy_factory(spec["n_qubits"], spec["n_layers"],
                                                                        cfg.backend), algo="hybrid.federated_vqc")


def load_agent(run_dir, backend: str | None = None) -> federated_train.GlobalPolicy:
    """The global circuit policy of a federated run folder, ready to ``predict`` (``qrl.load``)."""
    return federated_train.load_agent(run_dir, backend, make_agent=agent_from_config)

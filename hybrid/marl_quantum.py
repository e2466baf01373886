"""Quantum multi-agent agents: circuits inside the classical multi-agent learners.

Three compositions of :mod:`classical.marl` with :mod:`qrl`:

- **VQC actors, centralised classical critic**: MADDPG whose shared actor body is a
  :class:`qrl.models.VQC` (``variant="vqc_actor"``, ``algo_name="maddpg"``).
- **VQC agent Q-functions under the QMIX mixer**: the agents' Q-body is a VQC, the
  mixer stays classical (``variant="vqc_agents"``, ``algo_name="qmix"``).
- **One entangled multi-agent circuit** (:class:`MultiAgentCircuit`): every agent owns
  a block of qubits in a single circuit, encodes its own observation there and is
  read out on its own qubits only; with ``entangle_agents=True`` a shared CZ layer
  couples neighbouring agents' blocks after every layer, without it the circuit is a
  product of independent agent circuits — the control (``variant="entangled"`` /
  ``"product"``). Note what entangling means here: agent i's readout then depends on
  the other agents' observations, so execution is not decentralised — the agents
  need a joint quantum state, which is what the comparison measures the value of.

``variant="mlp"`` is the classical twin (the learners' own MLP body) run through the
same path, so a benchmark compares every variant with one config and one
:func:`parameter_counts`.

**Example**

>>> import torch
>>> net = MultiAgentCircuit(n_agents=2, obs_dim=3, n_actions=3, qubits_per_agent=2, n_layers=1)
>>> net(torch.zeros(4, 2, 3)).shape
torch.Size([4, 2, 3])
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import pennylane as qml
import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn
from torch.nn.utils import parametrize

from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything
from classical.marl import train as marl_train
from classical.marl.networks import n_params
from classical.rl.base import load_multi_agent
from qrl import backends
from qrl.circuits import pauli_word
from qrl.models import VQC, default_observables


class _Scaled(nn.Module):
    """Parametrisation ``w = scale * w_raw``: Adam then moves ``w`` ``scale`` times faster."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return raw * self.scale

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value / self.scale


def scale_step_size(module: nn.Module, scale: float) -> nn.Module:
    """Make one optimiser with one learning rate move ``module``'s parameters ``scale`` times faster.

    The multi-agent learners build a single Adam over the agents' network and the
    mixer/critic. Circuit angles want larger steps than the mixer's weights (the
    usual VQC step sizes are ~1e-2, the learners' 5e-4–1e-3). Reparametrising each
    parameter as ``scale * raw`` keeps its initial value, and since Adam's step is
    invariant to the gradient's scale, ``raw`` moves by ``lr`` and the parameter by
    ``scale * lr``. ``scale == 1`` leaves the module as it is.

    **Example**

    >>> layer = scale_step_size(nn.Linear(2, 1), 10.0)
    >>> sorted(name for name, _ in layer.named_parameters())
    ['parametrizations.bias.original', 'parametrizations.weight.original']
    """
    if scale == 1.0:
        return module
    for sub in list(module.modules()):
        for name, param in list(sub.named_parameters(recurse=False)):
            parametrize.register_parametrization(sub, name, _Scaled(scale))
    return module


def vqc_body_factory(n_qubits: int = 4, n_layers: int = 3, backend: str | backends.Backend = "qrl.torch",
                     step_scale: float = 1.0):
    """A ``make_body`` factory giving each learner a :class:`qrl.models.VQC` body.

    ``step_scale``: see :func:`scale_step_size`.
    """
    return lambda in_dim, out_dim: scale_step_size(
        VQC(in_dim, out_dim, n_qubits=n_qubits, n_layers=n_layers, backend=backend), step_scale)


class MultiAgentCircuit(nn.Module):
    """All agents' Q-functions from one circuit: ``obs[B, N, D] -> Q[B, N, A]``.

    Agent k holds qubits ``k*q .. k*q + q - 1``. Each of ``n_layers`` layers applies
    trainable RX/RY/RZ rotations and a CZ ring inside every block, then (when
    ``entangle_agents``) CZ gates joining the last qubit of block k to the first of
    block k+1 (a ring over agents), then re-uploads each agent's observation
    (feature j on its qubit ``j % q``, with trainable scaling). Agent k's Q-values
    are scaled expectations of Pauli words on its own block.

    Args:
        n_agents, obs_dim, n_actions: sizes (``n_actions`` local words must exist on
            ``qubits_per_agent`` qubits: Z on each qubit, then ZZ pairs).
        qubits_per_agent: qubits per block.
        n_layers: encoding layers.
        entangle_agents: include the shared inter-agent entangling layer.
        backend: a ``backends.yaml`` entry, or a run's resolved :class:`qrl.backends.Backend`.
    """

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, qubits_per_agent: int = 3,
                 n_layers: int = 3, entangle_agents: bool = True, backend: str | backends.Backend = "qrl.torch"):
        super().__init__()
        q = qubits_per_agent
        self.n_agents, self.obs_dim, self.n_actions = n_agents, obs_dim, n_actions
        self.entangle_agents = entangle_agents
        local_words, readout = default_observables(n_actions, q)
        self.register_buffer("readout", readout)
        self.n_local = len(local_words)
        self.input_scaling = nn.Parameter(torch.ones(n_layers, n_agents, obs_dim))
        self.weights = nn.Parameter(torch.rand(n_layers + 1, n_agents, q, 3) * math.pi)
        self.output_scaling = nn.Parameter(torch.ones(n_agents, n_actions))
        words = [_shift_word(w, k * q) for k in range(n_agents) for w in local_words]

        def rotations(weights):
            for k in range(n_agents):
                for j in range(q):
                    qml.RX(weights[..., k, j, 0], wires=k * q + j)
                    qml.RY(weights[..., k, j, 1], wires=k * q + j)
                    qml.RZ(weights[..., k, j, 2], wires=k * q + j)

        def circuit(x, input_scaling, weights):
            for layer in range(n_layers):
                rotations(weights[layer])
                for k in range(n_agents):
                    for j in range(q if q > 2 else q - 1):
                        qml.CZ(wires=[k * q + j, k * q + (j + 1) % q])
                if entangle_agents and n_agents > 1:
                    for k in range(n_agents if n_agents > 2 else 1):
                        qml.CZ(wires=[k * q + q - 1, ((k + 1) % n_agents) * q])
                for k in range(n_agents):
                    for f in range(obs_dim):
                        qml.RX(input_scaling[layer, k, f] * x[..., k * obs_dim + f], wires=k * q + f % q)
            rotations(weights[n_layers])
            return [qml.expval(pauli_word(w)) for w in words]

        self.qnode = backends.qnode(circuit, backend, n_agents * q)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        b = obs.shape[0]
        dtype = self.weights.dtype
        out = self.qnode(obs.reshape(b, -1).to(dtype), self.input_scaling, self.weights)
        expectations = torch.stack([torch.as_tensor(o) for o in out], dim=-1).to(dtype)
        expectations = expectations.reshape(b, self.n_agents, self.n_local)
        return (expectations @ self.readout.T) * self.output_scaling


def _shift_word(word: str, offset: int) -> str:
    """``"Z0Z1"`` on an agent's block -> the same word on wires shifted by ``offset``."""
    out, i = "", 0
    while i < len(word):
        j = i + 1
        while j < len(word) and word[j].isdigit():
            j += 1
        out += f"{word[i]}{int(word[i + 1:j]) + offset}"
        i = j
    return out


CIRCUIT_DEFAULTS = {"n_qubits": 4, "qubits_per_agent": 3, "n_layers": 3}


class Config(marl_train.Config):
    """A multi-agent run with quantum agents (or, with ``variant="mlp"``, their classical twin)."""

    model_config = ConfigDict(extra="forbid")

    variant: Literal["mlp", "vqc_actor", "vqc_agents", "entangled", "product"] = Field(
        "vqc_agents", description="where the circuit goes (see the module docstring); mlp: no circuit")
    model: dict[str, Any] = Field(
        default_factory=lambda: dict(CIRCUIT_DEFAULTS),
        description="circuit settings (type: vqc): n_qubits (4; VQC body of vqc_actor, vqc_agents), qubits_per_agent "
                    "(3; agent blocks of entangled, product), n_layers (3)")
    backend: str = Field("qrl.torch", description="backends.yaml entry (qrl.torch: the compiled torch device)")
    model_spec_fields: ClassVar[tuple[str, ...]] = ()   # model holds circuit settings, checked below

    circuit_step_scale: float = Field(1.0, gt=0, description="circuit parameters take steps this many times "
                                      "the learner's lr (the mixer/critic keep lr); see scale_step_size")

    @model_validator(mode="after")
    def _circuit_settings(self):
        circuit(self)
        return self


def circuit(cfg: Config) -> dict[str, int]:
    """The circuit settings: ``cfg.model`` over :data:`CIRCUIT_DEFAULTS`."""
    spec = dict(cfg.model)
    if spec.pop("type", "vqc") != "vqc":
        raise ValueError("model: the agents here are circuits (type: vqc); for MLP agents use variant: mlp.")
    unknown = sorted(set(spec) - set(CIRCUIT_DEFAULTS))
    if unknown:
        raise ValueError(f"model keys {unknown} are not circuit settings; use {sorted(CIRCUIT_DEFAULTS)}.")
    return {**CIRCUIT_DEFAULTS, **spec}


def _check_variant(cfg: Config) -> None:
    if cfg.variant == "vqc_actor" and cfg.algo_name not in ("maddpg", "maac", "coma"):
        raise ValueError("variant 'vqc_actor' needs an actor-critic algo_name (maddpg, maac or coma).")
    if cfg.variant in ("vqc_agents", "entangled", "product") and cfg.algo_name not in ("iql", "vdn", "qmix"):
        raise ValueError(f"variant '{cfg.variant}' needs a value-based algo_name (iql, vdn or qmix).")


def _network_factories(cfg: Config, backend: backends.Backend | None = None):
    """``(make_body, make_q_net)`` for :func:`classical.marl.train.run` / ``build_learner``; the circuits
    run on ``backend`` (the run's resolved backend; default ``cfg.backend``)."""
    spec = circuit(cfg)
    backend = cfg.backend if backend is None else backend
    if cfg.variant in ("vqc_actor", "vqc_agents"):
        return vqc_body_factory(spec["n_qubits"], spec["n_layers"], backend, cfg.circuit_step_scale), None
    if cfg.variant in ("entangled", "product"):
        def make_q_net(env):
            return scale_step_size(MultiAgentCircuit(env.n_agents, env.obs_dim, env.n_actions, spec["qubits_per_agent"],
                                                     spec["n_layers"], entangle_agents=cfg.variant == "entangled",
                                                     backend=backend), cfg.circuit_step_scale)
        return None, make_q_net
    return None, None


def _classical_config(cfg: Config) -> marl_train.Config:
    return marl_train.Config(**cfg.model_dump(include=set(marl_train.Config.model_fields)))


def parameter_counts(cfg: Config) -> dict:
    """Trainable parameters of the agents' network and of the centralised part (mixer or critic).

    **Example**

    >>> parameter_counts(Config(algo_name="qmix", variant="product", env_id="particle", env_kwargs={"n_agents": 2},
    ...                         model={"qubits_per_agent": 3, "n_layers": 2}))["agents"]
    104
    """
    _check_variant(cfg)
    classical_cfg = _classical_config(cfg)
    env = marl_train.build_env(classical_cfg)
    make_body, make_q_net = _network_factories(cfg)
    learner = marl_train.build_learner(classical_cfg, env, make_body, make_q_net(env) if make_q_net else None)
    agents = learner.q_net if hasattr(learner, "q_net") else learner.actor
    central = learner.mixer if hasattr(learner, "q_net") else learner.critic   # IQL/VDN: mixer None or parameter-free
    n_central = n_params(central) if central is not None else 0
    return {"agents": n_params(agents), "central": n_central, "total": learner.n_params}


def agent_from_config(config: dict, backend: backends.Backend | None = None):
    """The untrained learner of a run of ``config`` (a :class:`Config` as a dict), circuits in place
    (on ``backend``, a run's resolved backend; default the config's)."""
    cfg = Config(**config)
    _check_variant(cfg)
    make_body, make_q_net = _network_factories(cfg, backend)
    learner = marl_train.agent_from_config(_classical_config(cfg).model_dump(mode="json"), make_body, make_q_net)
    learner._record_origin("hybrid.marl_quantum", config)
    return learner


def load_agent(run_dir, backend: str | None = None):
    """The trained learner of a run folder, ready to ``predict({agent: obs})`` (``qrl.load``)."""
    return load_multi_agent(run_dir, agent_from_config, backend)


def run(cfg: Config, run: RunDir) -> dict:
    """Train with the circuit ``cfg.variant`` asks for; same outputs as :func:`classical.marl.train.run`."""
    seed_everything(cfg.seed)              # the networks' initial weights
    learner = agent_from_config(cfg.model_dump(mode="json"), run.backend)
    summary = marl_train.run(_classical_config(cfg), run, learner=learner)
    return {**summary, "variant": cfg.variant}

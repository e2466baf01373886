"""The federated RL task: CartPole clients with their own physics, a policy, REINFORCE.

Each Flower client (SuperNode) owns one CartPole whose pole length, pole mass and
gravity differ from the others' (:func:`client_dynamics`); a held-out CartPole with
dynamics no client has is used for the server-side evaluation. Local training is
REINFORCE for ``k`` episodes, one update per episode with the loss of
:func:`classical.rl.reinforce.reinforce_loss`, optionally with FedProx's proximal term. The
policy is passed in (an MLP here, a variational circuit in ``hybrid/``), so the same
loop trains both.

**Example**

>>> env = make_env(CartPoleDynamics(length=0.7, masspole=0.15, gravity=10.5), seed=0)
>>> policy = mlp_policy(4, 2)
>>> returns = train_reinforce(policy, env, episodes=2, lr=0.01, seed=0)
>>> len(returns)
2
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from flwr.app import Array, ArrayRecord
from torch import nn

from classical.common.rollouts import collect_episodes
from classical.rl.reinforce import reinforce_loss

ATTACKS = ("none", "sign_flip", "scale", "random")   # what a malicious client may do to its update


def to_record(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    """Named NumPy arrays as the ArrayRecord Flower ships between ServerApp and ClientApps."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})


def from_record(record: ArrayRecord) -> dict[str, np.ndarray]:
    """The NumPy arrays of an ArrayRecord."""
    return {k: v.numpy() for k, v in record.items()}

PolicyFactory = Callable[[int, int], nn.Module]
"""Builds a policy ``(obs_dim, n_actions) -> module`` whose forward returns action logits."""

OBS_DIM, N_ACTIONS = 4, 2
#: The policy every federation trains unless told otherwise (``FederationConfig.model``, the deployed apps).
DEFAULT_MODEL: dict[str, Any] = {"type": "mlp", "hidden": [16]}


@dataclass(frozen=True)
class CartPoleDynamics:
    """Physical constants of one client's CartPole (gymnasium's defaults: 0.5, 0.1, 9.8)."""

    length: float = 0.5
    masspole: float = 0.1
    gravity: float = 9.8


def client_dynamics(partition_id: int, num_clients: int, heterogeneity: float) -> CartPoleDynamics:
    """Dynamics of client ``partition_id``: spread evenly in ``[1 - h, 1 + h]`` times the defaults.

    Pole length grows with the client index, pole mass shrinks and gravity follows a
    second spread, so no two clients share a physics.
    """
    if num_clients == 1:
        u = 0.0
    else:
        u = 2.0 * partition_id / (num_clients - 1) - 1.0  # in [-1, 1]
    h = heterogeneity
    return CartPoleDynamics(length=0.5 * (1 + h * u), masspole=0.1 * (1 - 0.5 * h * u),
                            gravity=float(9.8 * (1 + 0.5 * h * np.sin(np.pi * u / 2 + 1.0))))


def held_out_dynamics(heterogeneity: float) -> CartPoleDynamics:
    """A CartPole no client trains on: long, heavy pole under stronger gravity."""
    h = heterogeneity
    return CartPoleDynamics(length=0.5 * (1 + 0.7 * h), masspole=0.1 * (1 + 0.5 * h),
                            gravity=9.8 * (1 + 0.3 * h))


def make_env(dynamics: CartPoleDynamics, seed: int, max_steps: int = 200) -> gym.Env:
    """A CartPole with the given physics, truncated after ``max_steps`` steps."""
    env = CartPoleEnv()
    env.length = dynamics.length
    env.masspole = dynamics.masspole
    env.gravity = dynamics.gravity
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length
    env = gym.wrappers.TimeLimit(env, max_episode_steps=max_steps)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def dynamics_dict(d: CartPoleDynamics) -> dict:
    return asdict(d)


def mlp_policy(obs_dim: int, n_actions: int, hidden: Sequence[int] = tuple(DEFAULT_MODEL["hidden"])) -> nn.Module:
    """A small tanh MLP giving action logits (the classical policy); ``hidden`` lists the widths."""
    sizes, layers = [obs_dim, *hidden], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], n_actions))


def mlp_policy_factory(model: Mapping[str, Any] = DEFAULT_MODEL) -> PolicyFactory:
    """The policy builder of a federation's ``model`` spec ``{type: mlp, hidden: [...]}``: the one
    place server, clients and the final evaluation get their policy from."""
    if model.get("type", "mlp") != "mlp" or set(model) - {"type", "hidden"}:
        raise ValueError(f"model {dict(model)}: federated clients train {{type: mlp, hidden: [...]}} here "
                         "(circuits: hybrid.federated_vqc).")
    return functools.partial(mlp_policy, hidden=tuple(model.get("hidden", DEFAULT_MODEL["hidden"])))


# -- parameters as NumPy arrays (what Flower ships) ----------------------------------------

def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's trainable parameters as float32 NumPy arrays, keyed by name.

    Buffers (e.g. a circuit's fixed readout matrix) are not shipped: they never
    change, and DP noise must not touch them.
    """
    return {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in model.named_parameters()}


def set_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    params = dict(model.named_parameters())
    if set(params) != set(weights):
        raise ValueError(f"weights name {sorted(weights)} but the model has {sorted(params)}; "
                         "server and clients must build the same policy.")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(torch.as_tensor(np.asarray(weights[k]), dtype=p.dtype).reshape(p.shape))


# -- local training and evaluation -------------------------------------------------------
# Episodes are played by the shared rollout helper (classical.common.rollouts), which steps
# vector envs; a client's one CartPole is wrapped as a vector env of size one.

def _one_env_vector(env: gym.Env) -> gym.vector.SyncVectorEnv:
    return gym.vector.SyncVectorEnv([lambda: env])


def train_reinforce(policy: nn.Module, env: gym.Env, episodes: int, lr: float, seed: int,
                    gamma: float = 0.99, proximal_mu: float = 0.0,
                    anchor: dict[str, np.ndarray] | None = None) -> list[float]:
    """Train ``policy`` in place with REINFORCE for ``episodes`` episodes; return their returns.

    One Adam step per episode on REINFORCE's loss (:func:`classical.rl.reinforce.reinforce_loss`,
    the episode's returns standardised). With ``proximal_mu > 0`` the loss gains FedProx's
    ``mu/2 * ||w - w_global||^2`` (``anchor`` holds ``w_global``), which keeps
    heterogeneous clients near the global model.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    named = dict(policy.named_parameters())
    anchor_t = ({k: torch.as_tensor(anchor[k]) for k in named} if proximal_mu > 0 and anchor else None)
    envs = _one_env_vector(env)

    def sample_actions(obs: np.ndarray) -> np.ndarray:
        probs = torch.softmax(policy(torch.as_tensor(obs, dtype=torch.float32)), -1)
        return torch.multinomial(probs, 1, generator=gen)[:, 0].numpy()

    returns = []
    for ep in range(episodes):
        with torch.no_grad():  # one no-grad context per episode, not per step
            episode = collect_episodes(envs, sample_actions, seed=seed * 1000 + ep)[0]
        # one batched forward pass over the episode's states for the gradient
        logits = policy(torch.as_tensor(episode.observations, dtype=torch.float32))
        loss = reinforce_loss(logits, [episode], gamma)
        if anchor_t is not None:
            loss = loss + 0.5 * proximal_mu * sum(((p - anchor_t[k]) ** 2).sum() for k, p in named.items())
        opt.zero_grad()
        loss.backward()
        opt.step()
        returns.append(episode.ret)
    return returns


@torch.no_grad()
def evaluate(policy: nn.Module, env: gym.Env, episodes: int, seed: int) -> float:
    """Mean return of the greedy policy over ``episodes`` seeded episodes."""
    envs = _one_env_vector(env)

    def greedy(obs: np.ndarray) -> np.ndarray:
        return policy(torch.as_tensor(obs, dtype=torch.float32)).argmax(-1).numpy()

    return sum(collect_episodes(envs, greedy, seed=seed + ep)[0].ret for ep in range(episodes)) / episodes

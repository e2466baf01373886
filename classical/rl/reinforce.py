"""REINFORCE with a batch of episodes per update, for any policy network.

The policy is built from the config's ``model:`` mapping, so the same loop
trains the 94-parameter softmax-PQC of Jerbi et al. (2021) (``type: vqc``) or a
classical MLP (``type: mlp``). One update:

1. play ``batch_episodes`` episodes in a vector env, one policy call per vector step;
2. compute discounted returns, normalise them over the batch;
3. one forward pass over every visited state, loss = −Σ log π(a|s)·Ĝ / batch_episodes;
4. one Adam step with a learning rate per parameter group (λ, θ, w for circuits).

The run directory gets ``metrics.csv`` (episode, return, env_steps, wall_seconds),
a checkpoint after every update, ``curve.png`` and ``eval.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from classical.common.rollouts import collect_episodes, discounted_returns, make_vector_env
from classical.common.rundir import RunDir
from classical.common.config import TrainerConfig
from classical.common.seeding import episode_seed, seed_everything
from classical.common.training import adam_per_group, train_and_evaluate
from classical.rl.base import Agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """REINFORCE settings; ``configs/*_reinforce.yaml`` are presets of this."""

    env_id: str = Field("CartPole-v1", description="gymnasium environment id (discrete actions)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    obs_scale: list[float] | None = Field(None, description="divide observations by these (e.g. CartPole bounds)")
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp"}, description="network spec")
    backend: str | None = Field(None, description="backends.yaml entry for quantum models")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.01},
                                 description="Adam learning rate per parameter group (README: lr)")
    gamma: float = Field(0.99, description="discount factor")
    max_grad_norm: float | None = Field(None, gt=0, description="clip the gradient norm (None: no clipping)")
    batch_episodes: int = Field(10, gt=0, description="episodes per update (size of the vector env)")
    episodes: int | None = Field(500, gt=0, description="training budget in episodes")
    total_env_steps: int | None = Field(None, gt=0, description="training budget in environment steps "
                                                               "(checked after each batch)")
    normalize_returns: bool = Field(True, description="standardise returns over the batch")
    solved_return: float | None = Field(None, description="stop when the mean of the last solved_window "
                                                          "returns reaches this")
    solved_window: int = Field(100, gt=0, description="episodes averaged for solved_return")
    checkpoint_every: int | None = Field(None, gt=0, description="episodes between checkpoints "
                                                                 "(None: after every update)")
    eval_episodes: int = Field(10, ge=0, description="deterministic evaluation episodes at the end")
    seed: int = Field(0, description="seed for torch, numpy and the environments")


def reinforce_loss(logits: torch.Tensor, episodes, gamma: float, normalize: bool = True) -> torch.Tensor:
    """The REINFORCE loss of a batch of episodes: −Σₜ log π(aₜ|sₜ)·Ĝₜ / number of episodes.

    Ĝ are each episode's discounted returns-to-go, standardised over the whole batch when
    ``normalize`` (and the batch has more than one step). ``logits`` are the policy's outputs
    for every visited state, the episodes' observations concatenated in order. The federated
    clients (:mod:`classical.federated.task`) train with this same loss.

    **Example**

    >>> from classical.common.rollouts import Episode
    >>> ep = Episode(np.zeros((2, 1)), np.array([0, 1]), np.array([1.0, 1.0]))
    >>> round(reinforce_loss(torch.zeros(2, 2), [ep], gamma=1.0, normalize=False).item(), 4)   # -ln(1/2)·(2 + 1)
    2.0794
    """
    g = np.concatenate([discounted_returns(ep.rewards, gamma) for ep in episodes])
    if normalize and len(g) > 1:
        g = (g - g.mean()) / (g.std() + 1e-8)
    actions = torch.as_tensor(np.concatenate([ep.actions for ep in episodes]))
    log_probs = torch.distributions.Categorical(logits=logits).log_prob(actions)
    return -(log_probs * torch.as_tensor(g, dtype=log_probs.dtype)).sum() / len(episodes)


class Reinforce(Agent):
    """Policy-gradient agent with a Stable-Baselines3-like surface.

    **Example**

    >>> cfg = Config(episodes=4, batch_episodes=2, model={"type": "mlp", "hidden": [8]})
    >>> agent = Reinforce(cfg)
    >>> action, state = agent.predict(np.zeros((3, 4)))
    >>> action.shape, state
    ((3,), None)
    """

    def __init__(self, cfg: Config, backend: Any = None):
        self.cfg = cfg
        self._discrete_spaces("REINFORCE")
        self.rng = seed_everything(cfg.seed)
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.policy = build_model(cfg.model, "policy", self.obs_dim, self.n_actions, backend)
        self.optimizer = adam_per_group(self.policy, cfg.lr)
        self._start_counters()

    # -- acting --------------------------------------------------------------
    _obs = Agent._scaled

    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Actions for a batch of observations, or one action for one (greedy by default; else sampled from π)."""
        with torch.no_grad():
            logits = self.policy(self._obs(obs))
        if deterministic:
            actions = logits.argmax(-1).numpy()
        else:  # what Categorical(logits=...).sample() draws, without its per-call validation
            actions = torch.multinomial(torch.softmax(logits, -1), 1, True).squeeze(-1).numpy()
        return (actions[0] if self._is_single(obs) else actions), None

    # -- learning ------------------------------------------------------------
    def update(self, episodes) -> float:
        """One policy-gradient step on a batch of episodes; returns the loss."""
        cfg = self.cfg
        obs = self._obs(np.concatenate([ep.observations for ep in episodes]))
        loss = reinforce_loss(self.policy(obs), episodes, cfg.gamma, cfg.normalize_returns)
        self.optimizer.zero_grad()
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return loss.item()

    def _begin_learning(self) -> None:
        self._envs = make_vector_env(self.cfg.env_id, self.cfg.batch_episodes, **self.cfg.env_kwargs)

    def _end_learning(self) -> None:
        self._envs.close()

    def _learning_step(self, run: RunDir | None) -> None:
        """Play one batch of episodes, update on it, log one row per episode."""
        cfg = self.cfg
        episodes = collect_episodes(self._envs, lambda o: self.predict(o, deterministic=False)[0],
                                    episode_seed(cfg.seed, self.updates_done * cfg.batch_episodes))
        self.update(episodes)
        self.updates_done += 1
        for ep in episodes:
            self.episodes_done += 1
            self.env_steps += len(ep)
            self.recent.append(ep.ret)
            if run is not None:
                run.log({"episode": self.episodes_done, "return": ep.ret, "env_steps": self.env_steps,
                         "wall_seconds": self._wall_now()})

    # -- persistence ---------------------------------------------------------
    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                **self._counters_state()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._load_counters(state)


Reinforce.Config = Config


def run(cfg: Config, run: RunDir) -> dict:
    """Train, checkpoint, evaluate: the entry point of ``qrl train`` for this algorithm."""
    agent = Reinforce(cfg, backend=run.backend)
    return train_and_evaluate(agent, run, f"REINFORCE {cfg.model.get('type', 'mlp')} on {cfg.env_id}",
                              agent.policy.n_params)


def load_agent(run_dir: str | Path, backend: str | None = None, **device_overrides) -> Reinforce:
    """The trained agent of a run directory, optionally on another backend (for ``qrl evaluate``)."""
    return Reinforce.from_run(run_dir, backend, **device_overrides)

"""Causal meta-learning (Dasgupta et al. 2019): learn to intervene, then exploit what was found.

Every episode is a fresh random causal graph: a linear-Gaussian SCM on ``n_nodes``
variables with edge weights drawn uniformly from ``{−1, 0, +1}`` along a random causal
order, noise ``N(0, noise_std²)``, and one node marked as the *target*. An episode has
two phases:

1. **information phase** (``info_steps`` steps): each step the agent picks a node
   ``i`` and the environment returns one sample of all nodes under
   ``do(X_i = intervention_value)`` — the agent sees what its intervention moved;
2. **quiz phase** (one step): the agent picks a node ``c ≠ target``; the reward is the
   target's value under ``do(X_c = intervention_value)``, divided by that value (so
   its mean is the total causal effect of ``c`` on the target).

The agent is a recurrent actor-critic (GRU core, ``actor`` and ``critic`` heads from
the model registry, so the heads may be circuits) meta-trained by advantage
actor-critic over many graphs; it has to learn *which* experiments to run and how
to read their outcomes, since no graph repeats. Baselines, on the same held-out graphs:

* ``observational`` — the same agent and training, but the information phase returns
  samples of the *unintervened* SCM whatever the agent picks (it can only use
  correlations, which mix causes with effects of the target and confounded nodes);
* ``oracle`` — knows the weights and picks ``argmax_c`` of the total effect
  ``[(I − W)⁻¹ − I]_{c, target}``;
* ``random`` — picks a non-target node uniformly (mean: the average total effect).

**Example**

>>> task = CausalQuiz(n_nodes=4, generator=torch.Generator().manual_seed(0))
>>> obs = task.reset(batch=3)
>>> obs.shape, task.total_effects().shape
(torch.Size([3, 14]), torch.Size([3, 4, 4]))
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn
from torch.distributions import Categorical

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import seed_everything
from classical.common.training import adam_networks, rebuild_agent
from classical.rl.models import build_model


class CausalQuiz:
    """A batch of random linear-Gaussian SCMs with a target node, played in two phases.

    Observations (one row per graph): the last sample of every node (divided by the
    intervention value, or by the noise scale for passive samples), a one-hot of the node just intervened on (zeros when the
    sample was observational), a one-hot of the target, a quiz-phase flag, and the
    target's value again (so reading it needs no product with the one-hot).

    Args:
        n_nodes: variables per graph.
        info_steps: information-phase steps.
        observational: information samples ignore the chosen node (the passive baseline).
        noise_std: standard deviation of every node's noise.
        intervention_value: the value interventions set.
        generator: torch generator for graphs and noise.
    """

    def __init__(self, n_nodes: int = 5, info_steps: int = 4, observational: bool = False,
                 noise_std: float = 0.1, intervention_value: float = 5.0,
                 generator: torch.Generator | None = None):
        if n_nodes < 2:
            raise ValueError(f"n_nodes = {n_nodes}; a quiz needs a target and at least one other node.")
        self.n, self.info_steps, self.observational = n_nodes, info_steps, observational
        self.noise_std, self.value = noise_std, intervention_value
        self.generator = generator or torch.Generator().manual_seed(0)
        self.obs_dim = 3 * n_nodes + 2

    # -- graphs and samples ------------------------------------------------------
    def reset(self, batch: int) -> torch.Tensor:
        """Draw ``batch`` new graphs and targets; return the first observation."""
        n, g = self.n, self.generator
        canonical = torch.randint(-1, 2, (batch, n, n), generator=g).float().triu(1)
        self.order = torch.argsort(torch.rand(batch, n, generator=g), dim=1)   # label -> position
        idx = self.order
        # weights in label space: W[l, m] = canonical[pos(l), pos(m)]
        self.weights = torch.gather(torch.gather(canonical, 1, idx[:, :, None].expand(-1, -1, n)), 2,
                                    idx[:, None, :].expand(-1, n, -1))
        self.target = torch.randint(0, n, (batch,), generator=g)
        self.t = 0
        return self._obs(torch.zeros(batch, n), None)

    def total_effects(self) -> torch.Tensor:
        """``[B, n, n]``: entry ``[i, j]`` is the total causal effect of node ``i`` on node ``j``."""
        eye = torch.eye(self.n).expand_as(self.weights)
        return torch.linalg.inv(eye - self.weights) - eye

    def sample(self, intervened: torch.Tensor | None) -> torch.Tensor:
        """One sample of every node, under ``do(X_intervened = value)`` per graph (``None``: none)."""
        b, n = self.weights.shape[:2]
        noise = self.noise_std * torch.randn(b, n, generator=self.generator)
        x = torch.zeros(b, n)
        rows = torch.arange(b)
        # walk positions in causal order; every label's parents sit at earlier positions
        labels_at = torch.argsort(self.order, dim=1)                  # position -> label
        for pos in range(n):
            lab = labels_at[:, pos]
            val = (x * self.weights[rows, :, lab]).sum(1) + noise[rows, lab]
            if intervened is not None:
                val = torch.where(intervened == lab, torch.full_like(val, self.value), val)
            x[rows, lab] = val
        return x

    def _obs(self, x: torch.Tensor, intervened: torch.Tensor | None) -> torch.Tensor:
        b, n = x.shape
        did = torch.zeros(b, n) if intervened is None else nn.functional.one_hot(intervened, n).float()
        quiz = torch.full((b, 1), float(self.t >= self.info_steps))
        # passive samples are of the noise's size, intervened ones of the intervention's
        x = x / (self.value if intervened is not None else self.noise_std)
        target_value = x[torch.arange(b), self.target][:, None]
        return torch.cat([x, did, nn.functional.one_hot(self.target, n).float(), quiz, target_value], 1)

    def quiz_mask(self) -> torch.Tensor:
        """``[B, n]`` True where a quiz answer is allowed (every node but the target)."""
        return nn.functional.one_hot(self.target, self.n) == 0

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Information step (returns the new sample) or the quiz (returns the reward); ``done`` after the quiz."""
        if self.t < self.info_steps:
            intervened = None if self.observational else action
            x = self.sample(intervened)
            self.t += 1
            return self._obs(x, intervened), torch.zeros(len(action)), False
        x = self.sample(action)
        reward = x[torch.arange(len(action)), self.target] / self.value
        self.t += 1
        return self._obs(x, action), reward, True


class Config(TrainerConfig):
    """Meta-training settings; ``configs/causal_meta_a2c.yaml`` is a preset."""

    env_id: Literal["CausalQuiz"] = Field("CausalQuiz", description="the batched random-SCM quiz (CausalQuiz)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="CausalQuiz settings: n_nodes, "
                                       "info_steps, observational (the no-intervention agent), noise_std")
    episodes: int | None = Field(204_800, gt=0, description="training episodes (= graphs; budget)")
    total_env_steps: int | None = Field(None, gt=0, description="training steps, info and quiz (budget)")
    batch_episodes: int = Field(256, gt=0, description="graphs per update")
    core_hidden: int = Field(64, gt=0, description="GRU state size")
    head_inputs: int = Field(64, gt=0, description="width of the projection the actor and critic heads read")
    actor: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": []},
                                  description="policy head spec (model registry)")
    critic: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": []},
                                   description="value head spec (model registry)")
    backend: str | None = Field(None, description="backends.yaml entry for circuit heads")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.003},
                                 description="Adam learning rate per group (networks: core, actor, critic)")
    gamma: float = Field(1.0, ge=0, le=1, description="discount (the only reward is the quiz's)")
    entropy_coef: float = Field(0.01, ge=0, description="entropy bonus weight")
    value_coef: float = Field(0.5, ge=0, description="critic loss weight")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping (None: off)")
    eval_episodes: int = Field(5000, ge=0, description="held-out graphs for the final evaluation")
    seed: int = Field(0, description="seed of graphs, noise and networks")

    @field_validator("env_kwargs")
    @classmethod
    def _known_task_keys(cls, value: dict) -> dict:
        unknown = sorted(set(value) - _TASK_KEYS)
        if unknown:
            raise ValueError(f"unknown CausalQuiz setting(s) {unknown}; use {sorted(_TASK_KEYS)}.")
        return value

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> CausalQuiz:
        """The task of ``env_id`` (what ``qrl train`` checks before a run)."""
        return CausalQuiz(**env_kwargs)

    def task(self, seed: int) -> CausalQuiz:
        """The quiz with these settings and its own seeded generator."""
        return CausalQuiz(**self.env_kwargs, generator=torch.Generator().manual_seed(seed))

    @property
    def n_nodes(self) -> int:
        return int(self.env_kwargs.get("n_nodes", 5))

    @property
    def info_steps(self) -> int:
        return int(self.env_kwargs.get("info_steps", 4))


_TASK_KEYS = {"n_nodes", "info_steps", "observational", "noise_std", "intervention_value"}


class MetaAgent(nn.Module):
    """GRU core over observations and previous actions, with actor and critic heads.

    ``predict(obs, state)`` follows SB3's recurrent surface: it returns
    ``(action, state)`` with ``state`` the GRU hidden state to pass back next step.

    **Example**

    >>> agent = MetaAgent(Config(env_kwargs={"n_nodes": 3}, head_inputs=8, core_hidden=8))
    >>> action, state = agent.predict(torch.zeros(2, 11))
    >>> action.shape, state.shape
    ((2,), torch.Size([2, 8]))
    """

    def __init__(self, cfg: Config, backend: Any = None):
        super().__init__()
        self.cfg = cfg
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        n = cfg.n_nodes
        obs_dim = 3 * n + 2
        self.core = nn.GRUCell(obs_dim + n, cfg.core_hidden)
        self.project = nn.Sequential(nn.Linear(cfg.core_hidden, cfg.head_inputs), nn.Tanh())
        self.actor = build_model(cfg.actor, "policy", cfg.head_inputs, n, backend)
        self.critic = build_model(cfg.critic, "value", cfg.head_inputs, 1, backend)

    def step(self, obs: torch.Tensor, prev_action: torch.Tensor,
             state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``[B, n]``, values ``[B]`` and the new core state."""
        x = torch.cat([obs, prev_action], 1)
        h = self.core(x, state)
        feat = self.project(h)
        return self.actor(feat).float(), self.critic(feat).reshape(-1).float(), h

    @staticmethod
    def masked(logits: torch.Tensor, obs: torch.Tensor, n: int) -> torch.Tensor:
        """In the quiz phase the target (from the observation) cannot be chosen."""
        quiz = obs[:, 3 * n:3 * n + 1] > 0.5
        target = obs[:, 2 * n:3 * n] > 0.5
        return logits.masked_fill(quiz & target, -1e9)

    @torch.no_grad()
    def predict(self, obs, state: torch.Tensor | None = None, prev_action=None,
                deterministic: bool = True) -> tuple[np.ndarray, torch.Tensor]:
        """Action per row of ``obs`` and the next core state (pass ``prev_action`` after step 0)."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, 3 * self.cfg.n_nodes + 2)
        prev = torch.zeros(len(obs), self.cfg.n_nodes) if prev_action is None else \
            nn.functional.one_hot(torch.as_tensor(prev_action), self.cfg.n_nodes).float()
        logits, _, state = self.step(obs, prev, state)
        logits = self.masked(logits, obs, self.cfg.n_nodes)
        action = logits.argmax(1) if deterministic else Categorical(logits=logits).sample()
        return action.numpy(), state

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, {"config": self.cfg.model_dump(), "model": self.state_dict()})

    @classmethod
    def load(cls, path: str | Path, **overrides) -> MetaAgent:
        """Rebuild a saved agent in a fresh interpreter (``overrides`` change config fields)."""
        class _Wrap:
            def __init__(self, agent):
                self.agent = agent

            def load_state_dict(self, state):
                self.agent.load_state_dict(state["model"])

        return rebuild_agent(load_checkpoint_file(path),
                             lambda c: _Wrap(cls(Config(**{**c, **overrides})))).agent


def play(agent: MetaAgent, task: CausalQuiz, batch: int, greedy: bool = False) -> dict[str, torch.Tensor]:
    """One batch of episodes: log-probs, values, entropies per step and the quiz reward."""
    n = task.n
    obs = task.reset(batch)
    prev = torch.zeros(batch, n)
    state = None
    logps, values, entropies = [], [], []
    done, reward, choice = False, None, None
    while not done:
        logits, value, state = agent.step(obs, prev, state)
        dist = Categorical(logits=agent.masked(logits, obs, n))
        action = dist.probs.argmax(1) if greedy else dist.sample()
        logps.append(dist.log_prob(action))
        values.append(value)
        entropies.append(dist.entropy())
        obs, reward, done = task.step(action)
        prev = nn.functional.one_hot(action, n).float()
        choice = action
    return {"logp": torch.stack(logps), "value": torch.stack(values), "entropy": torch.stack(entropies),
            "reward": reward, "choice": choice}


def evaluate(agent: MetaAgent, cfg: Config, episodes: int, seed: int) -> dict[str, float]:
    """Mean quiz reward of the greedy agent, the oracle and random choice on the same held-out graphs."""
    task = cfg.task(seed)
    with torch.no_grad():
        out = play(agent, task, episodes, greedy=True)
    effects = task.total_effects()[torch.arange(episodes), :, task.target]        # [B, n]: c -> target
    allowed = task.quiz_mask()
    best = effects.masked_fill(~allowed, -float("inf")).max(1).values
    chosen = effects[torch.arange(episodes), out["choice"]]
    return {"agent": float(out["reward"].mean()), "agent_expected": float(chosen.mean()),
            "oracle": float(best.mean()),
            "random": float((effects * allowed).sum(1).div(allowed.sum(1)).mean()),
            "optimal_rate": float((chosen >= best - 1e-6).float().mean())}


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Meta-train over random graphs, then evaluate on held-out ones (entry point of ``qrl train``)."""
    start = time.perf_counter()
    seed_everything(cfg.seed)
    agent = MetaAgent(cfg, backend=run_dir.backend)
    opt = adam_networks({"core": nn.ModuleList([agent.core, agent.project]), "actor": agent.actor,
                    "critic": agent.critic}, cfg.lr)
    task = cfg.task(cfg.seed)
    steps_per_episode = cfg.info_steps + 1
    limits = [x for x in (cfg.episodes, cfg.total_env_steps and cfg.total_env_steps // steps_per_episode)
              if x is not None]
    if not limits:
        raise ValueError("set episodes or total_env_steps (the meta-training budget).")
    budget = min(limits)
    episodes = update = 0
    discounts = cfg.gamma ** torch.arange(steps_per_episode - 1, -1, -1.0)[:, None]
    while episodes < budget:
        batch = min(cfg.batch_episodes, budget - episodes)
        out = play(agent, task, batch)
        returns = discounts * out["reward"][None]                 # [T, B]: the quiz reward, discounted
        adv = returns - out["value"]
        loss = (-(out["logp"] * adv.detach()).mean() + cfg.value_coef * (adv ** 2).mean()
                - cfg.entropy_coef * out["entropy"].mean())
        opt.zero_grad()
        loss.backward()
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
        opt.step()
        episodes += batch
        update += 1
        if update % 20 == 0 or episodes >= budget:
            run_dir.log({"episode": episodes, "env_steps": episodes * steps_per_episode,
                         "return": float(out["reward"].mean()),
                         "entropy": float(out["entropy"].detach().mean()),
                         "wall_seconds": time.perf_counter() - start})
    run_dir.save_checkpoint({"config": cfg.model_dump(), "model": agent.state_dict(),
                             "episodes": episodes})
    run_dir.plot_curve("episode", "return", title="quiz reward while meta-training")
    result = evaluate(agent, cfg, cfg.eval_episodes, seed=10_000 + cfg.seed) if cfg.eval_episodes else {}
    if result:
        run_dir.write_eval([{"policy": k, "value": v} for k, v in result.items()])
    return {"episodes": episodes, "env_steps": episodes * steps_per_episode,
            "eval_return_mean": result.get("agent"), "oracle_return_mean": result.get("oracle"),
            "random_return_mean": result.get("random"), "optimal_rate": result.get("optimal_rate"),
            "n_params": sum(p.numel() for p in agent.parameters()),
            "wall_seconds": time.perf_counter() - start}


def load_agent(run_dir, backend: str | None = None) -> MetaAgent:
    """The meta-trained recurrent agent of a run folder (``predict(obs, state)``; ``qrl.load``)."""
    return MetaAgent.load(Path(run_dir) / "checkpoint.pt",
                                 **({"backend": backend} if backend is not None else {}))

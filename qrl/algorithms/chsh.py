"""Entanglement-assisted coordination: learning to play the CHSH game with and without a Bell pair.

Two players who cannot communicate play :class:`~qrl.envs.chsh.CHSHGame`. Two kinds of
players learn from sampled rounds with the same policy-gradient update:

- ``strategy: entangled`` — before each round the players share a Bell pair
  |Φ⁺⟩ = (|00⟩ + |11⟩)/√2. Each player's policy maps its input bit to a measurement
  basis, a trainable ``qml.Rot(φ, θ, ω)`` on its own qubit followed by a Z measurement,
  and answers the outcome. Alice's rotation depends only on x and Bob's only on y, so
  no information passes between them; the correlations come from the entangled state.
  The circuit is a torch QNode on any ``backends.yaml`` entry; the joint answer
  distribution P(a, b | x, y) = (1 + (−1)ᵃ⟨Z_A⟩ + (−1)ᵇ⟨Z_B⟩ + (−1)ᵃ⁺ᵇ⟨Z_A Z_B⟩)/4 comes from
  one broadcast QNode call over the four input pairs.
- ``strategy: classical`` — shared randomness: a trainable distribution q(λ) over
  ``shared_values`` values of a common random variable λ, and per player a Bernoulli
  answer π_A(a | x, λ), π_B(b | y, λ). This class contains every classical strategy, so
  its win rate is bounded by 3/4 (Bell).

Training (REINFORCE with a batch-mean baseline): play ``batch_episodes`` episodes of the
env, drawing each round's answers from the policy; loss = −mean_r (G_r − b)·log P(a_r, b_r | x_r, y_r),
G_r the γ-discounted wins from round r on (γ = 0: the round's own win). The learning rates
decay linearly to 0 over the budget (``anneal_lr``).
Evaluation plays ``eval_episodes`` episodes and writes one row per round to ``eval.csv``
(``episode, round, x, y, a, b, win``). Measurement outcomes are random by nature, so an
entangled player has no greedy mode; both kinds are evaluated as played (sampled).

**Example**

>>> import torch
>>> players = EntangledPlayers("default.qubit", init="optimal")
>>> round(win_probability(players.joint_probs()).item(), 4)
0.8536
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import seed_everything
from classical.common.training import LearningSession, adam_per_group
from qrl.backends import Backend
from qrl.envs.chsh import AGENTS, CHSHGame

TSIRELSON = math.cos(math.pi / 8) ** 2
CLASSICAL_BOUND = 0.75

#: A Tsirelson-optimal choice of (φ, θ, ω) per input bit for ``qml.Rot``: measurement
#: axes at 0 and π/2 for Alice, ±π/4 for Bob, all in the X–Z plane.
OPTIMAL_ANGLES = {"alice": [[0.0, 0.0, 0.0], [0.0, math.pi / 2, 0.0]],
                  "bob": [[0.0, math.pi / 4, 0.0], [0.0, -math.pi / 4, 0.0]]}

_X = torch.tensor([0, 0, 1, 1])   # the four input pairs (x, y), in the order of the broadcast batch
_Y = torch.tensor([0, 1, 0, 1])


class Config(TrainerConfig):
    """CHSH players; ``configs/chsh_entangled.yaml`` and ``configs/chsh_classical.yaml`` are presets."""

    strategy: Literal["entangled", "classical"] = Field(
        "entangled", description="players sharing a Bell pair, or classical players sharing randomness")
    env_id: Literal["chsh_v0"] = Field("chsh_v0", description="the PettingZoo env: qrl.envs.chsh.CHSHGame")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"rounds": 10},
                                       description="keyword arguments of qrl.envs.chsh.CHSHGame (rounds)")
    backend: str = Field("default.qubit", description="backends.yaml entry the Bell-pair circuit runs on")
    shared_values: int = Field(4, ge=1, description="classical: number of values of the shared random variable")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.05},
                                 description="Adam learning rate per parameter group (weights, shared)")
    gamma: float = Field(0.0, ge=0, le=1, description="discount of the reward-to-go that weights each answer; "
                                                       "rounds are independent, so 0 (credit a round's own win "
                                                       "only) has the least variance")
    batch_episodes: int = Field(16, gt=0, description="episodes per policy-gradient update")
    episodes: int | None = Field(2000, gt=0, description="training budget in episodes")
    total_env_steps: int | None = Field(None, gt=0, description="training budget in rounds (env steps)")
    anneal_lr: bool = Field(True, description="decay the learning rates linearly to 0 over the episode budget "
                                              "(damps the policy-gradient noise near the optimum)")
    max_grad_norm: float | None = Field(None, gt=0, description="clip the gradient norm (None: no clipping)")
    eval_episodes: int = Field(600, ge=0, description="evaluation episodes (rows of eval.csv: rounds)")
    checkpoint_every: int = Field(50, gt=0, description="updates between checkpoints")
    seed: int = Field(0, description="seed for the initial parameters, the referee and the answers")

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> CHSHGame:
        """The game, for checks before training (``qrl.train_from_config``); ``env_id`` is always chsh_v0."""
        return CHSHGame(**env_kwargs)


# -- exact quantities -------------------------------------------------------
def win_probability(probs: torch.Tensor) -> torch.Tensor:
    """Win probability of a joint answer table ``probs[x, y, a, b]`` under uniform inputs."""
    total = probs.new_zeros(())
    for x, y, a, b in itertools.product(range(2), repeat=4):
        if (a ^ b) == (x & y):
            total = total + probs[x, y, a, b]
    return total / 4


def best_classical_win_probability() -> float:
    """Maximum over the 16 deterministic classical strategies (shared randomness only mixes them): 3/4."""
    best = 0.0
    for fa in itertools.product(range(2), repeat=2):
        for fb in itertools.product(range(2), repeat=2):
            best = max(best, np.mean([(fa[x] ^ fb[y]) == (x & y) for x in range(2) for y in range(2)]))
    return float(best)


# -- players ------------------------------------------------------------------
class EntangledPlayers(torch.nn.Module):
    """Two players measuring a shared Bell pair in input-dependent bases (12 angles).

    Args:
        backend: ``backends.yaml`` entry for the 2-qubit circuit.
        init: ``"random"`` (uniform angles in [0, 2π)) or ``"optimal"`` (:data:`OPTIMAL_ANGLES`).
    """

    def __init__(self, backend: str | Backend = "default.qubit", init: str = "random"):
        super().__init__()
        import pennylane as qml

        from qrl import backends

        if init == "optimal":
            alice, bob = (torch.tensor(OPTIMAL_ANGLES[p], dtype=torch.float64) for p in AGENTS)
        else:
            alice, bob = (2 * math.pi * torch.rand(2, 3, dtype=torch.float64) for _ in AGENTS)
        self.alice = torch.nn.Parameter(alice)   # alice[x] = (φ, θ, ω)
        self.bob = torch.nn.Parameter(bob)       # bob[y]

        def circuit(a, b):
            qml.Hadamard(0)
            qml.CNOT([0, 1])
            qml.Rot(a[..., 0], a[..., 1], a[..., 2], wires=0)
            qml.Rot(b[..., 0], b[..., 1], b[..., 2], wires=1)
            return qml.expval(qml.Z(0)), qml.expval(qml.Z(1)), qml.expval(qml.Z(0) @ qml.Z(1))

        self.qnode = backends.qnode(circuit, backend, 2)

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"weights": [self.alice, self.bob]}

    def joint_probs(self) -> torch.Tensor:
        """P[x, y, a, b] from ⟨Z_A⟩, ⟨Z_B⟩, ⟨Z_A Z_B⟩ of the four input pairs (one broadcast call)."""
        za, zb, zab = (torch.as_tensor(v, dtype=torch.float64) for v in self.qnode(self.alice[_X], self.bob[_Y]))
        s = torch.tensor([1.0, -1.0], dtype=torch.float64)
        p = (1 + s[None, :, None] * za[:, None, None] + s[None, None, :] * zb[:, None, None]
             + s[None, :, None] * s[None, None, :] * zab[:, None, None]) / 4
        p = p.clamp_min(1e-9)           # sampled estimates can dip below 0 by a rounding error
        p = p / p.sum((1, 2), keepdim=True)
        return p.reshape(2, 2, 2, 2)


class ClassicalPlayers(torch.nn.Module):
    """Two players sharing a random variable λ ∈ {0..K−1}; each answers a Bernoulli of (own bit, λ).

    Args:
        shared_values: K, the number of values of λ.
    """

    def __init__(self, shared_values: int = 4):
        super().__init__()
        self.shared = torch.nn.Parameter(torch.randn(shared_values, dtype=torch.float64))   # logits of q(λ)
        self.alice = torch.nn.Parameter(torch.randn(shared_values, 2, dtype=torch.float64))  # logit P(a=1|x,λ)
        self.bob = torch.nn.Parameter(torch.randn(shared_values, 2, dtype=torch.float64))

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"weights": [self.alice, self.bob], "shared": [self.shared]}

    def joint_probs(self) -> torch.Tensor:
        """P[x, y, a, b] = Σ_λ q(λ) π_A(a|x,λ) π_B(b|y,λ)."""
        q = torch.softmax(self.shared, 0)
        pa1, pb1 = torch.sigmoid(self.alice), torch.sigmoid(self.bob)        # [λ, bit]
        pa = torch.stack([1 - pa1, pa1], -1)                                  # [λ, x, a]
        pb = torch.stack([1 - pb1, pb1], -1)                                  # [λ, y, b]
        return torch.einsum("l,lxa,lyb->xyab", q, pa, pb)


# -- the agent --------------------------------------------------------------------
class CHSHAgent:
    """Both players of one strategy, with the Stable-Baselines3-like surface of qrl agents.

    **Example**

    >>> agent = CHSHAgent(Config(strategy="classical", episodes=32, eval_episodes=1))
    >>> actions, state = agent.predict({"alice": 1, "bob": 0})
    >>> sorted(actions), state
    (['alice', 'bob'], None)
    """

    def __init__(self, cfg: Config, backend: str | Backend | None = None):
        self.cfg = cfg
        self.rng = seed_everything(cfg.seed)
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        self.players = (EntangledPlayers(backend) if cfg.strategy == "entangled"
                        else ClassicalPlayers(cfg.shared_values))
        self.optimizer = adam_per_group(self.players, cfg.lr)
        self.base_lr = [g["lr"] for g in self.optimizer.param_groups]
        self.episodes_done = self.env_steps = self.updates_done = 0
        self.wall_seconds = 0.0

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.players.parameters())

    # -- acting ------------------------------------------------------------------
    def _answer(self, probs: np.ndarray, x: int, y: int) -> tuple[int, int]:
        k = int(self.rng.choice(4, p=probs[x, y].reshape(4)))
        return k // 2, k % 2

    def predict(self, obs: dict, deterministic: bool = True):
        """Answers ``({"alice": a, "bob": b}, None)`` for inputs ``{"alice": x, "bob": y}``.

        A classical agent with ``deterministic`` takes the most likely λ and each player's likelier
        answer; entangled players' answers are measurement outcomes, random whatever ``deterministic`` says.
        """
        x, y = int(obs["alice"]), int(obs["bob"])
        if deterministic and isinstance(self.players, ClassicalPlayers):
            lam = int(self.players.shared.argmax())
            a = int(self.players.alice[lam, x] > 0)
            b = int(self.players.bob[lam, y] > 0)
            return {"alice": a, "bob": b}, None
        with torch.no_grad():
            probs = self.players.joint_probs().numpy()
        a, b = self._answer(probs, x, y)
        return {"alice": a, "bob": b}, None

    def play(self, env: CHSHGame, probs: np.ndarray, episodes: int, seed: int) -> list[dict]:
        """Play ``episodes`` episodes with answers drawn from ``probs``; one dict per round."""
        rounds = []
        for e in range(episodes):
            obs, _ = env.reset(seed=seed + e)
            while env.agents:
                x, y = obs["alice"], obs["bob"]
                a, b = self._answer(probs, x, y)
                obs, rewards, _, _, infos = env.step({"alice": a, "bob": b})
                rounds.append({"episode": e, "round": infos["alice"]["round"], "x": x, "y": y,
                               "a": a, "b": b, "win": infos["alice"]["win"]})
        return rounds

    # -- learning ----------------------------------------------------------------
    def update(self, env: CHSHGame, seed: int) -> dict:
        """One REINFORCE step on ``batch_episodes`` freshly played episodes."""
        cfg = self.cfg
        probs = self.players.joint_probs()
        rounds = self.play(env, probs.detach().numpy(), cfg.batch_episodes, seed)
        idx = {k: torch.tensor([r[k] for r in rounds]) for k in ("x", "y", "a", "b")}
        win = torch.tensor([r["win"] for r in rounds], dtype=torch.float64)
        to_go = win.reshape(cfg.batch_episodes, -1).clone()          # [episode, round] reward-to-go
        for t in range(to_go.shape[1] - 2, -1, -1):
            to_go[:, t] += cfg.gamma * to_go[:, t + 1]
        advantage = (to_go - to_go.mean()).reshape(-1)                  # baseline: the batch mean
        log_p = probs[idx["x"], idx["y"], idx["a"], idx["b"]].log()
        loss = -(advantage * log_p).mean()
        self.optimizer.zero_grad()
        loss.backward()
        if cfg.anneal_lr:
            done = max(self.episodes_done / cfg.episodes if cfg.episodes else 0.0,
                       self.env_steps / cfg.total_env_steps if cfg.total_env_steps else 0.0)
            for group, rate in zip(self.optimizer.param_groups, self.base_lr):
                group["lr"] = rate * max(1.0 - done, 0.0)
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.players.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.updates_done += 1
        self.episodes_done += cfg.batch_episodes
        self.env_steps += len(rounds)
        return {"episode": self.episodes_done, "env_steps": self.env_steps,
                "return": float(win.sum()) / cfg.batch_episodes, "win_rate": float(win.mean()),
                "p_win": float(win_probability(probs.detach())), "loss": loss.item()}

    def _budget_left(self) -> bool:
        cfg = self.cfg
        return ((cfg.episodes is None or self.episodes_done < cfg.episodes)
                and (cfg.total_env_steps is None or self.env_steps < cfg.total_env_steps))

    def learn(self, run: RunDir | None = None) -> "CHSHAgent":
        """Train until the episode or round budget is spent."""
        cfg = self.cfg
        env = CHSHGame(**cfg.env_kwargs)
        with LearningSession(run, cfg.checkpoint_every) as session:
            while self._budget_left():
                start = time.perf_counter()
                row = self.update(env, seed=cfg.seed * 1_000_003 + self.episodes_done)
                self.wall_seconds += time.perf_counter() - start
                if run is not None:
                    run.log({**row, "wall_seconds": round(self.wall_seconds, 3)})
                session.step_done(self.updates_done - 1, self.updates_done, self.state_dict,
                                  last=not self._budget_left())
        return self

    def evaluate(self, episodes: int, seed: int | None = None) -> list[dict]:
        """Play ``episodes`` evaluation episodes (referee seeds disjoint from training); one row per round."""
        env = CHSHGame(**self.cfg.env_kwargs)
        with torch.no_grad():
            probs = self.players.joint_probs().numpy()
        seed = 10**9 + self.cfg.seed * 1_000_003 if seed is None else seed
        return self.play(env, probs, episodes, seed)

    def exact_win_probability(self) -> float:
        """The win probability of the current strategy on its backend (exact on statevector backends)."""
        with torch.no_grad():
            return float(win_probability(self.players.joint_probs()))

    # -- persistence -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"config": self.cfg.model_dump(), "players": self.players.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "counters": [self.episodes_done, self.env_steps, self.updates_done, self.wall_seconds],
                "torch_rng": torch.get_rng_state(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.players.load_state_dict(state["players"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.episodes_done, self.env_steps, self.updates_done, self.wall_seconds = state["counters"]
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["rng"]

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> "CHSHAgent":
        """An agent from :meth:`save`'s file, optionally moved to another backend."""
        state = load_checkpoint_file(path)
        cfg = dict(state["config"])
        if backend is not None:
            cfg["backend"] = backend
        agent = cls(Config(**cfg))
        agent.load_state_dict(state)
        return agent


def run(cfg: Config, run: RunDir) -> dict:
    """Train, evaluate ``eval_episodes`` episodes, write ``eval.csv`` (one row per round) and summarise."""
    from scipy.stats import binomtest

    agent = CHSHAgent(cfg, backend=run.backend)
    if run.resume and (state := run.load_checkpoint()) is not None:
        agent.load_state_dict(state)
    agent.learn(run)
    run.plot_curve("episode", "win_rate", title=f"CHSH, {cfg.strategy} players")
    rows = agent.evaluate(cfg.eval_episodes)
    run.write_eval(rows)
    n, k = len(rows), sum(r["win"] for r in rows)
    summary = {"episodes": agent.episodes_done, "env_steps": agent.env_steps,
               "eval_return_mean": k / max(cfg.eval_episodes, 1), "n_params": agent.n_params,
               "wall_seconds": round(agent.wall_seconds, 2), "eval_rounds": n,
               "exact_win_probability": round(agent.exact_win_probability(), 5)}
    if n:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        rate = k / n
        summary |= {"win_rate": round(rate, 4), "win_rate_ci95_low": round(ci.low, 4),
                    "win_rate_ci95_high": round(ci.high, 4)}
        if cfg.strategy == "entangled":
            summary |= {"solved": rate >= 0.84, "solved_criterion": "evaluation win rate >= 0.84 "
                        f"(above the classical bound 0.75; Tsirelson {TSIRELSON:.4f})"}
        else:
            se = math.sqrt(CLASSICAL_BOUND * (1 - CLASSICAL_BOUND) / n)
            summary |= {"solved": rate <= CLASSICAL_BOUND + 3 * se,
                        "solved_criterion": "evaluation win rate <= 0.75 + 3 standard errors (Bell bound)"}
    return summary


def load_agent(run_dir, backend: str | None = None) -> CHSHAgent:
    """The trained players of a run folder, ready to ``predict({player: question})`` (``qrl.load``)."""
    return CHSHAgent.load(Path(run_dir) / "checkpoint.pt", backend)

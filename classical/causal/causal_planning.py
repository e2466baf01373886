"""Planning through a causal world model, and counterfactual data augmentation, on ``CausalShift-v0``.

Two ways to use a causal graph for control on the spurious-shift task of
:mod:`classical.causal.env` (features ``c1, c2, n, s``; the reward pays for matching a
hidden outcome ``y`` whose causes are ``c1, c2``; ``s`` is an *effect* of ``y`` whose
sign flips at test time):

* ``method: plan`` — a model-based agent. A :class:`~classical.causal.world_model.CausalWorldModel`
  is fitted on random-policy transitions with the state ``x_t = (c1, c2, n, s, r_{t−1})``
  and the action one-hot: every feature's next value and the reward ``r_t`` have their own
  mechanism. With ``features: causal`` each mechanism reads only its discovered parents
  (PC between ``x_t`` and ``x_{t+1}`` for the features; the reward's parents by PC on the
  action-signed reward, as in :mod:`classical.causal.agent`); with ``features: all`` every
  mechanism reads every feature. The agent plans by CEM over relaxed binary action
  sequences (``a ∈ [0, 1]`` enters as ``(1 − a, a)``; the first action is rounded),
  scoring them by the model's predicted rewards — actions push ``c2`` and so the next
  outcome, which a horizon above 1 can use.
* ``method: coda`` — a model-free learner: a reward regression ``Q(x, a)`` (the task is a
  bandit at ``γ = 0``, as in :mod:`classical.causal.train`) on the random-policy data, with
  CoDA-style counterfactual augmentation (Pitis et al. 2020): the reward mechanism
  does not read the features outside the reward's discovered parents, so swapping those
  components between transitions gives transitions the same mechanism could have
  produced; ``augment: 0`` trains on the logged transitions only.

Both are evaluated greedily before and after the shift on the same episode seeds.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(episodes=10, fit_epochs=50, n_candidates=20, n_elites=4, eval_episodes=1)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["reward_parents"]
['c1', 'c2']
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from classical.causal.agent import discover_reward_parents
from classical.causal.env import ENV_ID, FEATURES, CausalShiftEnv
from classical.causal.world_model import CausalWorldModel, InterventionalDataset, discover_parents
from classical.common.config import TrainerConfig
from classical.common.rollouts import evaluate_policy
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import episode_seed, seed_everything
from classical.common.training import adam_networks
from classical.rl.models import build_model
from classical.world_models.cem import cem_plan

D = len(FEATURES)


class Config(TrainerConfig):
    """Causal planning / CoDA on CausalShift-v0; ``configs/causal_shift_plan.yaml`` is a preset."""

    env_id: str = Field(ENV_ID, description="the spurious-shift task (CausalShift-v0)")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"horizon": 50},
                                       description="CausalShiftEnv settings (shift and features are set here)")
    method: Literal["plan", "coda"] = Field("plan", description="'plan': CEM through a learned world model; "
                                            "'coda': model-free reward regression with counterfactual augmentation")
    features: Literal["causal", "all"] = Field("causal", description="'causal': discovered parents; 'all': every feature")
    augment: int = Field(1, ge=0, description="coda: augmented copies of the data set (0: none)")
    episodes: int | None = Field(20, gt=0, description="random-policy episodes of data (budget)")
    total_env_steps: int | None = Field(None, gt=0, description="random-policy steps of data (budget)")
    alpha: float = Field(0.05, gt=0, lt=1, description="PC significance level")
    mechanism_hidden: list[int] = Field(default_factory=lambda: [32], description="hidden sizes of each mechanism")
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [32]},
                                  description="coda: the Q-network spec (model registry)")
    backend: str | None = Field(None, description="backends.yaml entry for a circuit Q-network")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.02}, description="Adam learning rates")
    fit_epochs: int = Field(400, gt=0, description="full-batch epochs of the world model or the Q-network")
    plan_horizon: int = Field(3, ge=1, description="CEM horizon")
    n_candidates: int = Field(64, ge=2, description="CEM candidates")
    n_elites: int = Field(8, ge=1, description="CEM elites")
    n_iters: int = Field(3, ge=1, description="CEM iterations")
    gamma: float = Field(0.9, ge=0, le=1, description="discount of predicted rewards in planning")
    eval_episodes: int = Field(20, ge=0, description="greedy episodes before and after the shift")
    seed: int = Field(0, description="seed of data, networks and planner")


def collect(cfg: Config) -> dict[str, np.ndarray]:
    """Random-policy transitions with every feature: ``x, a, r, x_next``."""
    kwargs = {k: v for k, v in cfg.env_kwargs.items() if k not in ("features", "shift")}
    env, rng = CausalShiftEnv(**kwargs), np.random.default_rng(cfg.seed)
    rows: list[tuple] = []
    ep = 0
    while (cfg.episodes is None or ep < cfg.episodes) and \
            (cfg.total_env_steps is None or len(rows) < cfg.total_env_steps):
        obs, _ = env.reset(seed=episode_seed(cfg.seed, ep, stride=100_003))
        done, prev_r = False, 0.0
        while not done and (cfg.total_env_steps is None or len(rows) < cfg.total_env_steps):
            a = int(rng.integers(2))
            nxt, r, term, trunc, _ = env.step(a)
            rows.append((np.append(obs, prev_r), a, r, np.append(nxt, r)))
            obs, prev_r, done = nxt, r, term or trunc
        ep += 1
    x, a, r, xn = (np.asarray([row[i] for row in rows], dtype=np.float32) for i in range(4))
    return {"x": x, "a": a.astype(np.int64), "r": r, "x_next": xn, "episodes": ep}


def reward_parents(data: dict, cfg: Config) -> list[int]:
    """Feature indices the reward depends on (every feature with ``features: all``)."""
    if cfg.features == "all":
        return list(range(D))
    signed = data["r"] * (2 * data["a"] - 1)
    return discover_reward_parents(np.column_stack([data["x"][:, :D], signed]), "pc", cfg.alpha)


def one_hot(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    return np.stack([1 - a, a], 1)


# -- method: plan -----------------------------------------------------------------
def fit_world_model(data: dict, parents_r: list[int], cfg: Config) -> CausalWorldModel:
    """Mechanisms for the four features and the reward, on the causal or the full graph."""
    ds = InterventionalDataset(data["x"], one_hot(data["a"]), data["x_next"])
    parents = np.zeros((D + 1, D + 1), int)
    if cfg.features == "all":
        parents[:D, :] = 1
    else:
        # one action column: the two one-hot columns are collinear, which the partial correlations refuse
        parents[:D, :D] = discover_parents(InterventionalDataset(data["x"][:, :D], data["a"][:, None],
                                                                  data["x_next"][:, :D]), cfg.alpha)
        parents[parents_r, D] = 1
    wm = CausalWorldModel(parents, action_dim=2, hidden=tuple(cfg.mechanism_hidden))
    wm.fit(ds, epochs=cfg.fit_epochs, lr=cfg.lr.get("world_model", cfg.lr.get("default", 0.02)), seed=cfg.seed)
    return wm


class CausalPlanner:
    """Greedy CEM planner through a causal world model; ``predict`` follows SB3 (``(action, None)``)."""

    def __init__(self, wm: CausalWorldModel, cfg: Config):
        self.wm, self.cfg = wm, cfg
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.prev_r = 0.0

    def _step(self, state: torch.Tensor, action: torch.Tensor):
        act = torch.cat([1 - action, action], 1)
        nxt = self.wm(state, act)
        return nxt, nxt[:, D], None

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        single = np.ndim(obs) == 1
        obs = np.asarray(obs, np.float32).reshape(-1, D)
        state = torch.as_tensor(np.column_stack([obs, np.zeros(len(obs), np.float32)]))
        plan, _ = cem_plan(self._step, state, self.cfg.plan_horizon, [0.0], [1.0], self.cfg.n_candidates,
                           self.cfg.n_elites, self.cfg.n_iters, self.cfg.gamma, generator=self.generator)
        actions = (plan[:, 0, 0] > 0.5).numpy().astype(np.int64)
        return (actions[0] if single else actions), None

    def state_dict(self) -> dict:
        return {"config": self.cfg.model_dump(), "parents": self.wm.parents.astype(np.int64),
                "world_model": self.wm.state_dict()}

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, **overrides) -> CausalPlanner:
        """Rebuild a saved planner in a fresh interpreter (``overrides`` change config fields)."""
        state = load_checkpoint_file(path)
        cfg = Config(**{**state["config"], **overrides})
        wm = CausalWorldModel(state["parents"], action_dim=2, hidden=tuple(cfg.mechanism_hidden))
        wm.load_state_dict(state["world_model"])
        return cls(wm, cfg)


# -- method: coda -----------------------------------------------------------------
def coda_augment(x: np.ndarray, parents_r: list[int], copies: int, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``x`` whose non-parent features are swapped in from other random transitions.

    **Example**

    >>> x = np.arange(12, dtype=float).reshape(3, 4)
    >>> out = coda_augment(x, [0, 1], 1, np.random.default_rng(0))
    >>> bool(np.all(out[:, :2] == x[:, :2])), sorted(out[:, 2]) == sorted(x[:, 2])
    (True, True)
    """
    others = [j for j in range(x.shape[1]) if j not in parents_r]
    out = []
    for _ in range(copies):
        cf = x.copy()
        cf[:, others] = x[rng.permutation(len(x))][:, others]   # one donor per row, all its other components
        out.append(cf)
    return np.vstack(out) if out else x[:0]


class RewardRegression:
    """``Q(x, a)`` as two outputs of one network, fitted to immediate rewards; greedy ``predict``."""

    def __init__(self, cfg: Config, backend: Any = None):
        self.cfg = cfg
        self.net = build_model(cfg.model, "q", D, 2, cfg.backend if backend is None else backend)

    def fit(self, x: np.ndarray, a: np.ndarray, r: np.ndarray) -> float:
        xt, at, rt = (torch.as_tensor(v) for v in (x, a, r))
        opt = adam_networks({"model": self.net}, self.cfg.lr)
        loss = torch.tensor(0.0)
        for _ in range(self.cfg.fit_epochs):
            q = self.net(xt).float().gather(1, at[:, None]).squeeze(1)
            loss = ((q - rt) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(loss.detach())

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        x = torch.as_tensor(np.asarray(obs, np.float32).reshape(-1, D))
        actions = self.net(x).float().argmax(1).numpy()
        return (actions[0] if np.ndim(obs) == 1 else actions), None

    def state_dict(self) -> dict:
        return {"config": self.cfg.model_dump(), "model": self.net.state_dict()}

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, **overrides) -> RewardRegression:
        """Rebuild a saved regression in a fresh interpreter (``overrides`` change config fields)."""
        state = load_checkpoint_file(path)
        agent = cls(Config(**{**state["config"], **overrides}))
        agent.net.load_state_dict(state["model"])
        return agent


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Collect random-policy data, discover, fit (model or Q), evaluate before and after the shift."""
    start = time.perf_counter()
    rng = seed_everything(cfg.seed)
    data = collect(cfg)
    parents_r = reward_parents(data, cfg)
    if not parents_r:
        raise ValueError("discovery found no parent of the reward; collect more data (episodes) "
                         "or use features: all.")
    if cfg.method == "plan":
        agent = CausalPlanner(fit_world_model(data, parents_r, cfg), cfg)
        n_params = sum(p.numel() for p in agent.wm.parameters())
    else:
        x, a, r = data["x"][:, :D], data["a"], data["r"]
        if cfg.augment:
            x = np.vstack([x, coda_augment(x, parents_r, cfg.augment, rng)])
            a, r = np.tile(a, cfg.augment + 1), np.tile(r, cfg.augment + 1)
        agent = RewardRegression(cfg, backend=run_dir.backend)
        agent.fit(x, a, r)
        n_params = sum(p.numel() for p in agent.net.parameters())
    run_dir.log({"episode": data["episodes"], "env_steps": len(data["r"]),
                 "reward_parents": " ".join(FEATURES[i] for i in parents_r)})
    run_dir.save_checkpoint(agent.state_dict())
    rows = []
    env_kwargs = {k: v for k, v in cfg.env_kwargs.items() if k not in ("features", "shift")}
    for shifted in (False, True):
        for row in evaluate_policy(cfg.env_id, lambda o: agent.predict(o)[0], cfg.eval_episodes,
                                   seed=10_000 + 1000 * cfg.seed, env_kwargs={**env_kwargs, "shift": shifted}):
            rows.append({**row, "shifted": shifted})
    run_dir.write_eval(rows)
    mean = {s: float(np.mean([r["return"] for r in rows if r["shifted"] is s])) if rows else None
            for s in (False, True)}
    return {"episodes": data["episodes"], "env_steps": len(data["r"]), "eval_return_mean": mean[False],
            "eval_return_shifted_mean": mean[True], "reward_parents": [FEATURES[i] for i in parents_r],
            "n_params": n_params, "wall_seconds": time.perf_counter() - start}


def load_agent(run_dir, backend: str | None = None) -> CausalPlanner | RewardRegression:
    """The planner (``method: plan``) or reward regression (``coda``) of a run folder (``qrl.load``)."""
    overrides = {"backend": backend} if backend is not None else {}
    path = Path(run_dir) / "checkpoint.pt"
    cls = CausalPlanner if "parents" in load_checkpoint_file(path) else RewardRegression
    return cls.load(path, **overrides)

"""Training run: causal policy gradient on the spurious-correlation-shift task.

One run:

1. **discover** — play ``discovery_episodes`` random-policy episodes of the training
   environment (``shift=False``), run PC (or NOTEARS) on the features plus the
   action-signed reward, and keep the reward's (possible) parents
   (:mod:`classical.causal.agent`); ``features: all`` skips this and keeps every feature;
2. **train** — the shared REINFORCE loop (:mod:`classical.rl.reinforce`) with the
   policy reading only the kept features, in the unshifted environment;
3. **evaluate** — greedy episodes with the spurious feature's mechanism as in
   training (``shifted = False``) and flipped (``shifted = True``).

The run directory gets ``config.yaml``, ``metrics.csv`` (episode, return, env_steps,
wall_seconds), ``checkpoint.pt``, ``curve.png``, ``eval.csv`` (episode, return, steps,
shifted) and ``discovery.yaml`` (the features kept and the discovered graph).

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(episodes=20, batch_episodes=10, eval_episodes=2, discovery_episodes=10)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["features"]
['c1', 'c2']
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, model_validator

from classical.causal.agent import collect_discovery_data, discover_reward_parents
from classical.causal.env import ENV_ID, FEATURES
from classical.common.config import TrainerConfig
from classical.common.rollouts import evaluate_policy
from classical.common.rundir import RunDir
from classical.rl import reinforce


ENV_SETTINGS = ("horizon", "target_noise", "spurious_noise")   # what env_kwargs may set


class Config(TrainerConfig):
    """Causal policy gradient on ``CausalShift-v0``; ``configs/causal_shift_pg.yaml`` is a preset."""

    env_id: Literal["classical.causal.env:CausalShift-v0"] = Field(
        ENV_ID, description="the spurious-correlation-shift task (the only environment with a shift)")
    env_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="CausalShift settings: horizon (50), target_noise (0.5), "
                                          "spurious_noise (0.3)")

    features: Literal["causal", "all"] = Field(
        "causal", description="'causal': discovered parents of the reward; 'all': every feature")
    discovery: Literal["pc", "notears"] = Field("pc", description="causal discovery method")
    discovery_episodes: int = Field(20, gt=0, description="random-policy episodes for discovery")
    alpha: float = Field(0.05, gt=0, lt=1, description="PC significance level")
    w_threshold: float = Field(0.3, ge=0, description="NOTEARS weight threshold")
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": []},
                                  description="policy network spec (default: linear logits)")
    backend: str | None = Field(None, description="backends.yaml entry for quantum policies")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.1},
                                 description="Adam learning rate per parameter group (README: lr)")
    max_grad_norm: float | None = Field(None, gt=0, description="clip the gradient norm (None: no clipping)")
    gamma: float = Field(0.0, ge=0, le=1,
                         description="discount; 0 because actions barely move future rewards here")
    batch_episodes: int = Field(10, gt=0, description="episodes per policy update")
    episodes: int | None = Field(300, gt=0, description="training budget in episodes")
    total_env_steps: int | None = Field(None, gt=0, description="training budget in environment steps")
    eval_episodes: int = Field(20, ge=0, description="greedy evaluation episodes per setting")
    seed: int = Field(0, description="seed for discovery, torch, numpy and the environments")

    @model_validator(mode="before")
    @classmethod
    def _settings_live_in_env_kwargs(cls, data):
        moved = [k for k in ENV_SETTINGS if isinstance(data, dict) and k in data]
        if moved:
            raise ValueError(f"key '{moved[0]}' was renamed; use env_kwargs.{moved[0]} "
                             "(README, 'Config vocabulary')")
        return data

    @model_validator(mode="after")
    def _known_env_settings(self):
        unknown = sorted(set(self.env_kwargs) - set(ENV_SETTINGS))
        if unknown:
            raise ValueError(f"env_kwargs {unknown} are not CausalShift settings; use {list(ENV_SETTINGS)}")
        return self

    def env_settings(self, features: list[int] | None = None, shift: bool = False) -> dict:
        """``gym.make`` keyword arguments: ``env_kwargs`` plus the kept features and the shift."""
        return {**self.env_kwargs, "features": features, "shift": shift}


def select_features(cfg: Config) -> tuple[list[int], dict]:
    """Step 1: the feature indices the policy will read, and a record of how they were chosen."""
    if cfg.features == "all":
        return list(range(len(FEATURES))), {"features": list(FEATURES), "method": "none"}
    data, names = collect_discovery_data(cfg.discovery_episodes, cfg.seed, **cfg.env_settings())
    parents = discover_reward_parents(data, cfg.discovery, cfg.alpha, cfg.w_threshold)
    if not parents:
        raise ValueError(f"{cfg.discovery} found no parent of the reward in {len(data)} samples; "
                         "collect more (discovery_episodes) or use discovery: pc.")
    record = {"features": [names[i] for i in parents], "method": cfg.discovery,
              "samples": len(data), "columns": names}
    return parents, record


def reinforce_config(cfg: Config, features: list[int]) -> reinforce.Config:
    return reinforce.Config(env_id=cfg.env_id, env_kwargs=cfg.env_settings(features), model=cfg.model,
                            backend=cfg.backend, lr=cfg.lr, gamma=cfg.gamma, max_grad_norm=cfg.max_grad_norm,
                            batch_episodes=cfg.batch_episodes, episodes=cfg.episodes,
                            total_env_steps=cfg.total_env_steps,
                            normalize_returns=True, eval_episodes=cfg.eval_episodes, seed=cfg.seed)


def evaluate(agent: reinforce.Reinforce, cfg: Config, features: list[int]) -> list[dict]:
    """Greedy episodes before and after the shift; rows carry a ``shifted`` column."""
    rows = []
    for shifted in (False, True):
        for r in evaluate_policy(cfg.env_id, lambda o: agent.predict(o)[0],
                                 cfg.eval_episodes, seed=10_000 + 1000 * cfg.seed,
                                 env_kwargs=cfg.env_settings(features, shift=shifted)):
            rows.append({**r, "shifted": shifted})
    return rows


def load_agent(run_dir, backend: str | None = None, **device_overrides) -> reinforce.Reinforce:
    """The trained policy of a run directory (a REINFORCE agent reading the kept features)."""
    return reinforce.Reinforce.from_run(run_dir, backend, **device_overrides)


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Discover, train, evaluate before and after the shift (entry point of ``qrl train``)."""
    features, record = select_features(cfg)
    (run_dir.path / "discovery.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    agent = reinforce.Reinforce(reinforce_config(cfg, features), backend=run_dir.backend)
    if run_dir.resume and (state := run_dir.load_checkpoint()) is not None:
        agent.load_state_dict(state)
    agent.learn(run_dir, progress=False)
    run_dir.plot_curve("episode", "return",
                       title=f"policy gradient on {cfg.features} features ({record['features']})")
    rows = evaluate(agent, cfg, features)
    run_dir.write_eval(rows)
    mean = {s: float(np.mean([r["return"] for r in rows if r["shifted"] is s])) if rows else None
            for s in (False, True)}
    return {"features": record["features"], "n_params": agent.policy.n_params,
            "episodes": agent.episodes_done, "env_steps": agent.env_steps,
            "eval_return_mean": mean[False], "eval_return_shifted_mean": mean[True],
            "wall_seconds": round(agent.wall_seconds, 3)}

"""Offline policy learning under hidden confounding: naive regression vs an instrument.

Logged data ``(s, a, r, z)`` come from :mod:`classical.causal.confounded_env`, whose
logging policy saw the hidden confounder ``U``. The learner models the reward as

    ``r = g(s) + a · τ(s) + noise``

with two networks, ``g`` (baseline) and ``τ`` (the conditional treatment effect, built
from the config's ``model:`` spec, so it may be a circuit), and acts greedily:
treat when ``τ̂(s) > 0``.

* ``estimator: naive`` fits that model by least squares on the logged ``a``. Since the
  logged ``a`` is correlated with ``U``, which moves ``r``, ``τ̂`` absorbs ``U``'s effect.
* ``estimator: iv`` is two-stage least squares with flexible stages (DeepIV-style
  for a reward linear in the action): stage 1 fits the propensity
  ``p(s, z) = P(a = 1 | s, z)``; stage 2 fits ``r ≈ g(s) + p̂(s, z) · τ(s)``. Because
  ``z`` is independent of ``U`` and moves ``r`` only through ``a``,
  ``E[r | s, z] = g(s) + p(s, z) τ(s)`` holds exactly, so ``τ̂`` is unbiased for
  ``τ``. With a linear ``τ`` (``hidden: []``) it agrees with the classical 2SLS of
  :func:`classical.causal.iv.two_stage_least_squares` with instruments ``[z, z·s]``
  (checked in the tests).

The evaluation plays the learned policy online and, on the same episode seeds, the
oracle (treat iff ``τ(s) > 0``), so the summary reports both policy values.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(total_env_steps=2000, fit_steps=200, eval_episodes=2)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["env_steps"]
2000
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from classical.causal.confounded_env import ENV_ID, collect_logged_data, treatment_effect
from classical.common.config import TrainerConfig
from classical.common.rollouts import evaluate_policy
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import seed_everything
from classical.common.training import adam_networks, rebuild_agent
from classical.rl.models import MLP, build_model


class Config(TrainerConfig):
    """Offline treatment policy from confounded logs; ``configs/confounded_bandit_iv.yaml`` is a preset."""

    env_id: str = Field(ENV_ID, description="the confounded bandit (only this environment logs z and U)")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="ConfoundedBanditEnv settings")
    estimator: Literal["naive", "iv"] = Field("iv", description="'naive': regress on the logged action; "
                                              "'iv': two-stage least squares through the instrument z")
    episodes: int | None = Field(None, gt=0, description="logged episodes (budget; None: no limit)")
    total_env_steps: int | None = Field(5000, gt=0, description="logged steps (budget; None: no limit)")
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [32]},
                                  description="network spec of the treatment effect τ(s)")
    baseline_hidden: list[int] = Field(default_factory=lambda: [32],
                                       description="hidden sizes of the baseline g(s) and the propensity MLP")
    backend: str | None = Field(None, description="backends.yaml entry for a circuit τ")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.02},
                                 description="Adam learning rate per group (networks: tau, baseline, propensity)")
    fit_steps: int = Field(600, gt=0, description="full-batch Adam steps per stage")
    max_grad_norm: float | None = Field(None, gt=0, description="gradient clipping (None: off)")
    eval_episodes: int = Field(20, ge=0, description="online evaluation episodes (policy and oracle)")
    seed: int = Field(0, description="seed for the logged data, torch and evaluation")


class _Effects(nn.Module):
    """``g(s)`` and ``τ(s)`` under one module (one state dict)."""

    def __init__(self, tau: nn.Module, baseline: nn.Module):
        super().__init__()
        self.tau, self.baseline = tau, baseline


def _fit(nets: dict[str, nn.Module], lr: dict[str, float], loss_fn, steps: int,
         max_grad_norm: float | None) -> float:
    opt = adam_networks(nets, lr)
    params = [p for net in nets.values() for p in net.parameters()]
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
    return float(loss.detach())


class OfflineIVAgent:
    """Treat-or-not policy learned from logged data by naive regression or 2SLS.

    **Example**

    >>> agent = OfflineIVAgent(Config(fit_steps=50))
    >>> agent.learn(collect_logged_data(5, seed=0))["n"]
    500
    >>> agent.predict(np.array([[2.0], [-2.0]]))[0].shape
    (2,)
    """

    def __init__(self, cfg: Config, backend: Any = None):
        self.cfg = cfg
        self.rng = seed_everything(cfg.seed)
        backend = cfg.backend if backend is None else backend  # the run's resolved backend (RunDir.backend)
        tau = build_model(cfg.model, "value", 1, 1, backend)
        self.effects = _Effects(tau, MLP(1, 1, cfg.baseline_hidden))
        self.propensity = MLP(2, 1, cfg.baseline_hidden)
        self.episodes_done = self.env_steps = 0

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.effects.tau.parameters())

    def tau(self, s) -> np.ndarray:
        """Estimated treatment effect ``τ̂(s)`` for contexts ``[n]`` or ``[n, 1]``."""
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(s, np.float32).reshape(-1, 1))
            return self.effects.tau(x).reshape(-1).double().numpy()

    def learn(self, data: dict[str, np.ndarray]) -> dict:
        """Fit on logged ``s, a, r, z`` (the ``u`` column, if present, is never read)."""
        cfg = self.cfg
        s = torch.as_tensor(data["s"], dtype=torch.float32)[:, None]
        a = torch.as_tensor(data["a"], dtype=torch.float32)
        r = torch.as_tensor(data["r"], dtype=torch.float32)
        info = {"n": len(r)}
        if cfg.estimator == "iv":
            z = torch.as_tensor(2 * data["z"] - 1, dtype=torch.float32)[:, None]
            sz = torch.cat([s, z], 1)
            bce = nn.BCEWithLogitsLoss()
            info["stage1_loss"] = _fit({"propensity": self.propensity}, cfg.lr,
                                       lambda: bce(self.propensity(sz).squeeze(-1), a), cfg.fit_steps,
                                       cfg.max_grad_norm)
            with torch.no_grad():
                x = torch.sigmoid(self.propensity(sz).squeeze(-1))
        else:
            x = a

        def stage2():
            pred = self.effects.baseline(s).squeeze(-1) + x * self.effects.tau(s).reshape(-1).float()
            return ((pred - r) ** 2).mean()

        info["stage2_loss"] = _fit({"tau": self.effects.tau, "baseline": self.effects.baseline}, cfg.lr,
                                   stage2, cfg.fit_steps, cfg.max_grad_norm)
        self.env_steps = len(r)
        return info

    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Treat (1) where ``τ̂(s) > 0``; the policy is deterministic either way."""
        obs = np.asarray(obs)
        actions = (self.tau(obs.reshape(-1, obs.shape[-1] if obs.ndim else 1)[:, 0]) > 0).astype(np.int64)
        return (actions[0] if obs.ndim <= 1 else actions), None   # one observation gives one action

    def state_dict(self) -> dict:
        return {"config": self.cfg.model_dump(), "effects": self.effects.state_dict(),
                "propensity": self.propensity.state_dict(), "episodes_done": self.episodes_done,
                "env_steps": self.env_steps}

    def load_state_dict(self, state: dict) -> None:
        self.effects.load_state_dict(state["effects"])
        self.propensity.load_state_dict(state["propensity"])
        self.episodes_done, self.env_steps = state["episodes_done"], state["env_steps"]

    def save(self, path: str | Path) -> None:
        save_checkpoint_file(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path, **overrides) -> OfflineIVAgent:
        """Rebuild a saved agent (``overrides`` change config fields, e.g. ``backend``)."""
        return rebuild_agent(load_checkpoint_file(path), lambda c: cls(Config(**{**c, **overrides})))


def policy_value(act, cfg: Config, episodes: int) -> list[dict]:
    """Online episodes of a deterministic ``act(obs) -> actions`` on fixed evaluation seeds."""
    return evaluate_policy(cfg.env_id, act, episodes, seed=10_000 + 1000 * cfg.seed,
                           env_kwargs=cfg.env_kwargs)


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Log data with the confounded policy, learn offline, evaluate the policy and the oracle."""
    start = time.perf_counter()
    agent = OfflineIVAgent(cfg, backend=run_dir.backend)
    horizon = int(cfg.env_kwargs.get("horizon", 100))
    episodes = cfg.episodes if cfg.episodes is not None else -(-cfg.total_env_steps // horizon)
    data = collect_logged_data(episodes, cfg.seed, cfg.total_env_steps, **cfg.env_kwargs)
    agent.episodes_done = -(-len(data["r"]) // horizon)
    info = agent.learn(data)
    grid = np.linspace(-2, 2, 9)
    tau_error = float(np.sqrt(np.mean((agent.tau(grid) - treatment_effect(grid)) ** 2)))
    run_dir.log({"episode": agent.episodes_done, "env_steps": agent.env_steps,
                 "logged_return": float(data["r"].sum() / agent.episodes_done), **info,
                 "tau_rmse": tau_error})
    run_dir.save_checkpoint(agent.state_dict())
    rows = [{**row, "policy": "learned"}
            for row in policy_value(lambda o: agent.predict(o)[0], cfg, cfg.eval_episodes)]
    rows += [{**row, "policy": "oracle"}
             for row in policy_value(lambda o: (treatment_effect(o[:, 0]) > 0).astype(np.int64), cfg,
                                     cfg.eval_episodes)]
    run_dir.write_eval(rows)
    mean = {p: float(np.mean([r["return"] / r["steps"] for r in rows if r["policy"] == p]))
            if rows else None for p in ("learned", "oracle")}
    return {"episodes": agent.episodes_done, "env_steps": agent.env_steps,
            "eval_return_mean": float(np.mean([r["return"] for r in rows if r["policy"] == "learned"]))
            if rows else None,
            "value_per_step": mean["learned"], "oracle_value_per_step": mean["oracle"],
            "tau_rmse": tau_error, "tau_at_0": float(agent.tau([0.0])[0]),
            "n_params": agent.n_params, "wall_seconds": time.perf_counter() - start}


def load_agent(run_dir, backend: str | None = None) -> OfflineIVAgent:
    """The policy a run learned offline, ready to ``predict`` (``qrl.load``)."""
    return OfflineIVAgent.load(Path(run_dir) / "checkpoint.pt",
                                 **({"backend": backend} if backend is not None else {}))

"""The experiment file format of ``qrl compare`` and how its arms resolve to training configs.

An experiment file (``experiments/*.yaml``) names arms. Each arm is a training
config under ``configs/`` (the ``qrl train`` contract: ``algo`` + its Config)
with optional changes — another ``model``, ``backend`` or any ``overrides`` — or
a built-in baseline:

- ``param_matched_mlp``: a one-hidden-layer MLP whose parameter count is closest to
  that of the arm named by ``match`` (a circuit), via :func:`classical.rl.models.mlp_sized_to`;
- ``default_mlp``: the MLP of the algorithm's default size (64, 64);
- ``random``: uniformly random actions; ``heuristic``: a hand-written controller
  where one exists (CartPole: push towards the side the pole falls to).

**Example**

>>> exp = load_experiment("experiments/cartpole_reinforce.yaml")   # doctest: +SKIP
>>> resolve_arms(exp)["vqc"]["params"]   # doctest: +SKIP
94
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from classical.common.config import ConfigError, load_yaml, resolve_algo, validate

BASELINES = ("param_matched_mlp", "default_mlp", "random", "heuristic")
# Environments with a hand-written controller (the ``heuristic`` baseline); the policies live in runner.py.
HEURISTIC_ENVS = ("CartPole-v1", "CartPole-v0")


class SolvedCriterion(BaseModel):
    """When a run counts as solved: the mean of an ``eval.csv`` column over the greedy evaluation episodes.

    A preset states it beside ``algo`` (``solved: {eval: success, at_least: 1.0}``); it is read by
    ``qrl seeds`` and is not a field of the trainer's Config.
    """

    model_config = ConfigDict(extra="forbid")

    eval: str = Field(description="eval.csv column averaged over the greedy evaluation episodes "
                                  "(return, success, fidelity, ...)")
    at_least: float = Field(description="the run is solved when that mean is at least this")

    def describe(self) -> str:
        return f"greedy eval mean {self.eval} >= {self.at_least:g}"

    def value(self, eval_rows: list[dict]) -> float | None:
        """The mean of the column over the rows (``True``/``False`` count as 1/0); None without rows."""
        values = [_as_number(r.get(self.eval)) for r in eval_rows]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None


def _as_number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in ("True", "False"):
        return float(value == "True")
    return float(value)


def read_preset(path: str | Path) -> tuple[dict, SolvedCriterion | None]:
    """A preset's keys (``algo`` and the Config fields) and its solved criterion, if it states one."""
    data = dict(load_yaml(path))
    solved = data.pop("solved", None)
    if solved is not None:
        solved = validate(SolvedCriterion, solved, f"{path}: key 'solved'")
    return data, solved


class ArmSpec(BaseModel):
    """One arm of the grid: a training preset plus changes, or a built-in baseline."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(description="training config (algo + Config fields), e.g. configs/cartpole_vqc_reinforce.yaml")
    baseline: Literal["param_matched_mlp", "default_mlp", "random", "heuristic"] | None = Field(
        None, description="replace the model with a built-in baseline")
    match: str | None = Field(None, description="arm whose parameter count param_matched_mlp matches "
                                                "(default: the first arm with a vqc model)")
    model: dict[str, Any] | None = Field(None, description="replace the config's model: mapping")
    backend: str | None = Field(None, description="backends.yaml entry for quantum models")
    overrides: dict[str, Any] = Field(default_factory=dict, description="other Config fields to change")
    head: Literal["policy", "q", "value"] = Field("policy", description="which network the model is "
                                                                       "(for counting parameters)")


class Experiment(BaseModel):
    """An experiment file: arms × seeds at an equal environment-step budget."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", description="one line shown in the report")
    env_steps: int = Field(gt=0, description="environment steps per seed, the same for every arm")
    seeds: int = Field(10, gt=0, description="seeds per arm (seeds first_seed .. first_seed+seeds-1)")
    first_seed: int = Field(0, description="the first seed")
    workers: int = Field(2, gt=0, description="parallel local processes")
    score_window: int = Field(20, gt=0, description="episodes averaged for a seed's score at the budget")
    curve_points: int = Field(20, gt=1, description="points of the sample-efficiency curves")
    reference: str | None = Field(None, description="arm the others are compared against (default: the first)")
    bootstrap_reps: int = Field(10_000, gt=99, description="bootstrap replicates for the CIs")
    arms: dict[str, ArmSpec] = Field(description="arm name -> arm")


# -- loading and resolving ------------------------------------------------
def load_experiment(path: str | Path, **overrides) -> Experiment:
    """Read and validate an experiment file; ``overrides`` change top-level keys (e.g. ``env_steps=500``)."""
    data = load_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    exp = validate(Experiment, data, str(path))
    if not exp.arms:
        raise ConfigError(f"{path}: 'arms' is empty; add at least one arm.")
    if exp.reference is not None and exp.reference not in exp.arms:
        raise ConfigError(f"{path}: reference '{exp.reference}' is not an arm; use one of {', '.join(exp.arms)}.")
    for name, arm in exp.arms.items():
        if "/" in name or name.startswith("."):
            raise ConfigError(f"{path}: arm name '{name}' is used as a folder name; use letters, digits, _ and -.")
        if arm.match is not None and arm.match not in exp.arms:
            raise ConfigError(f"{path}: arm '{name}': match '{arm.match}' is not an arm.")
    return exp


def _env_dims(env_id: str, env_kwargs: dict) -> tuple[int, int]:
    from classical.common.rollouts import make_env

    env = make_env(env_id, **env_kwargs)
    try:
        return int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    finally:
        env.close()


def count_params(config: dict, head: str = "policy", backends_file: str | None = None) -> int:
    """Trainable parameters of the network a resolved training config builds (its circuits' backend
    read from ``backends_file``, default ``./backends.yaml``)."""
    from qrl.backends import Backend
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}`)
    from classical.rl.models import build_model

    obs_dim, n_actions = _env_dims(config.get("env_id", "CartPole-v1"), config.get("env_kwargs") or {})
    model = build_model(config.get("model") or {"type": "mlp"}, head, obs_dim, n_actions,
                        Backend(config.get("backend"), backends_file))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def resolve_arms(exp: Experiment, root: Path = Path("."), backends_file: str | None = None) -> dict[str, dict]:
    """Each arm as ``{"algo", "config", "params", "baseline"}`` with every change applied (backend
    names read from ``backends_file``, default ``./backends.yaml``)."""
    resolved: dict[str, dict] = {}
    order = sorted(exp.arms, key=lambda n: exp.arms[n].baseline == "param_matched_mlp")  # match targets first
    for name in order:
        arm = exp.arms[name]
        where = f"arm '{name}'"
        data, _ = read_preset(root / arm.config)
        algo = data.pop("algo", None)
        if not algo:
            raise ConfigError(f"{arm.config}: missing key 'algo'; {where} needs a training config.")
        if arm.model is not None:
            data["model"] = dict(arm.model)
        if arm.backend is not None:
            data["backend"] = arm.backend
        data.update(arm.overrides)
        if arm.baseline in ("default_mlp", "param_matched_mlp"):
            if "model" not in resolve_algo(algo).Config.model_fields:
                raise ConfigError(f"{where}: baseline {arm.baseline} needs an algorithm with a 'model' field.")
            data["model"] = {"type": "mlp"}
            data["lr"] = _mlp_learning_rates(data.get("lr"))
        if arm.baseline == "param_matched_mlp":
            target = arm.match or next((n for n in exp.arms if (resolved.get(n, {}).get("config", {})
                                                                .get("model") or {}).get("type") == "vqc"), None)
            if target is None or target not in resolved:
                raise ConfigError(f"{where}: param_matched_mlp needs 'match: <arm with a circuit>'.")
            from classical.rl.models import mlp_sized_to

            obs_dim, n_actions = _env_dims(data.get("env_id", "CartPole-v1"), data.get("env_kwargs") or {})
            hidden = mlp_sized_to(resolved[target]["params"], obs_dim, n_actions)
            data["model"] = {"type": "mlp", "hidden": list(hidden)}
        if arm.baseline in ("random", "heuristic"):
            if arm.baseline == "heuristic" and data.get("env_id", "CartPole-v1") not in HEURISTIC_ENVS:
                raise ConfigError(f"{where}: no heuristic policy for {data.get('env_id')}; "
                                  f"known: {', '.join(HEURISTIC_ENVS)}.")
            resolved[name] = {"algo": arm.baseline, "config": data, "params": 0, "baseline": arm.baseline}
            continue
        module = resolve_algo(algo)
        cfg = validate(module.Config, {**data, "seed": exp.first_seed}, f"{arm.config} ({where})")
        config = cfg.model_dump()
        try:
            params = count_params(config, arm.head, backends_file)
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        resolved[name] = {"algo": algo, "config": config, "params": params, "baseline": arm.baseline}
    return {name: resolved[name] for name in exp.arms}


def _mlp_learning_rates(lr: dict | None) -> dict:
    """An MLP has one parameter group, 'weights'; keep the config's rate for it."""
    lr = dict(lr or {})
    return {"weights": lr.get("weights", lr.get("default", 0.01))}


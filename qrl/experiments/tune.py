"""``qrl tune``: search a preset's hyperparameters with Optuna, judged like ``qrl seeds``.

A search space is a YAML file beside the presets (``configs/tune/<preset>.yaml``)::

    preset: ../cartpole_vqc_reinforce.yaml    # relative to this file
    seeds: [0, 1, 2]                          # tuning seeds (0-9; claims use fresh seeds 1000+)
    objective: success_rate                   # or value (the criterion's column), eval_return_mean
    n_trials: 20
    overrides: {episodes: 300}                # fixed changes for every trial (a smaller budget, ...)
    space:                                    # parameter path -> distribution
      lr.output_scaling: {type: float, low: 0.01, high: 0.3, log: true}
      batch_episodes: {type: int, low: 5, high: 20}
      model.n_layers: {type: categorical, choices: [3, 5]}

A trial trains the preset with the sampled values on each tuning seed in turn, exactly
as ``qrl seeds`` trains and judges a seed (its ``solved`` criterion on the greedy
evaluation), and its value is the mean over the seeds of the objective: the
success rate, the criterion's value, or the evaluation return. After each seed the
running mean is reported to Optuna, whose pruner (median by default) stops trials
that are already worse than the median of earlier trials at the same seed count.

The study lives in an Optuna RDB storage: ``OUT/study.db`` (SQLite) by default, or
any RDB URL (``--storage postgresql://...``) shared by several machines. Running
the same command again continues the study: it runs only the trials still missing
to reach ``n_trials`` (complete and pruned ones count); each trial's runs are in
``OUT/trials/<params digest>/seed<S>/`` and finished seeds are never rerun.
The best values are written as a new preset, ``OUT/<preset>_tuned.yaml``.

A parameter path walks into nested mappings at each dot (``model.n_layers``,
``env_kwargs.max_episode_steps``); below ``lr`` the rest of the path is one key,
since learning-rate keys carry dots themselves (``lr.actor.output_scaling``).

**Example**

>>> space = {"x": {"type": "categorical", "choices": [1, 2]}}
>>> data = apply_params({"lr": {"default": 0.1}, "model": {"n_layers": 2}},
...                     {"lr.actor.weights": 0.01, "model.n_layers": 5})
>>> data["lr"], data["model"]
({'default': 0.1, 'actor.weights': 0.01}, {'n_layers': 5})
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import numpy as np
import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field

from classical.common.config import ConfigError, load_yaml, validate
from qrl.experiments.runner import execute
from qrl.experiments.seeds import TUNING_SEEDS, run_preset_seed
from qrl.experiments.spec import read_preset

OBJECTIVES = ("success_rate", "value", "eval_return_mean")


class FloatDist(BaseModel):
    """A float between ``low`` and ``high`` (log-uniform with ``log: true``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["float"]
    low: float = Field(description="smallest value")
    high: float = Field(description="largest value")
    log: bool = Field(False, description="sample on a log scale")


class IntDist(BaseModel):
    """An integer between ``low`` and ``high`` (inclusive), on a grid of ``step``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["int"]
    low: int = Field(description="smallest value")
    high: int = Field(description="largest value")
    step: int = Field(1, description="grid step")
    log: bool = Field(False, description="sample on a log scale")


class CategoricalDist(BaseModel):
    """One of ``choices``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1, description="the values to choose from")


Distribution = Union[FloatDist, IntDist, CategoricalDist]


class PrunerSpec(BaseModel):
    """Which Optuna pruner stops hopeless trials (``none`` to keep every trial)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["median", "none"] = Field("median", description="median: stop a trial whose running "
                                                                  "mean is below the median of earlier trials")
    n_startup_trials: int = Field(3, ge=0, description="trials that are never pruned")
    n_warmup_steps: int = Field(0, ge=0, description="seeds of a trial that are never pruned")


class TuneSpec(BaseModel):
    """A search space over a preset (``configs/tune/<preset>.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    preset: str = Field(description="the preset to tune, relative to this file")
    space: dict[str, Distribution] = Field(min_length=1, description="parameter path -> distribution")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1,
                             description="tuning seeds each trial trains on (0-9)")
    objective: Literal["success_rate", "value", "eval_return_mean"] = Field(
        "success_rate", description="per-seed quantity averaged over the seeds and maximised")
    n_trials: int = Field(20, ge=1, description="trials the study should have in the end")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="parameter path -> value fixed for every trial")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="grid: every combination "
                                                                         "of categorical choices")
    sampler_seed: int = Field(0, description="seed of the sampler")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)


def load_spec(path: str | Path) -> tuple[TuneSpec, Path]:
    """The search space and the resolved path of its preset."""
    path = Path(path)
    spec = validate(TuneSpec, load_yaml(path), str(path))
    preset = (path.parent / spec.preset).resolve()
    if not preset.exists():
        raise ConfigError(f"{path}: preset {spec.preset} not found (looked for {preset}); the path is "
                          "relative to the search-space file.")
    if spec.sampler == "grid" and not all(isinstance(d, CategoricalDist) for d in spec.space.values()):
        raise ConfigError(f"{path}: sampler 'grid' needs categorical distributions only; use tpe or "
                          "random for float and int ranges.")
    outside = sorted(set(spec.seeds) - set(TUNING_SEEDS))
    if outside:
        raise ConfigError(f"{path}: seeds {outside} are outside the tuning range 0-9; fresh seeds "
                          "(1000 and up) are for claims, never for tuning.")
    return spec, preset


def apply_params(data: dict, params: dict[str, Any]) -> dict:
    """A copy of the preset ``data`` with each parameter path set to its value."""
    data = copy.deepcopy(data)
    for path, value in params.items():
        node, rest = data, path
        while "." in rest:
            head, tail = rest.split(".", 1)
            child = node.get(head)
            if child is None:
                child = node[head] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"parameter path {path}: '{head}' is {child!r}, not a mapping.")
            node, rest = child, tail
            if head == "lr":
                break
        node[rest] = value
    return data


def _suggest(trial, name: str, dist: Distribution) -> Any:
    if isinstance(dist, FloatDist):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, IntDist):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)


def _digest(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _seed_score(result: dict, objective: str) -> float:
    if objective == "success_rate":
        return float(bool(result["solved"]))
    value = result.get(objective)
    return float(value) if value is not None else float("-inf")


def tune(config: str | Path, out: str | Path | None = None, storage: str | None = None,
         n_trials: int | None = None, study_name: str | None = None, backends_file: str | None = None,
         progress: Callable[[str], None] | None = print, tensorboard: bool = True) -> dict:
    """Run (or continue) the study of a search space; write the best values as a new preset.

    Args:
        config: the search-space file.
        out: output folder (default ``runs/tune-<space stem>``).
        storage: an Optuna RDB URL (default ``sqlite:///OUT/study.db``).
        n_trials: trials the study should have in the end (default: the file's ``n_trials``).
        study_name: the study's name in the storage (default: the space file's stem).
        backends_file: a backends file other than ``./backends.yaml``.
        progress: called with one line per seed and per trial (``None``: silent).
        tensorboard: write TensorBoard event files into every seed's run folder.

    Returns:
        ``{"best_value", "best_params", "preset", "trials", "new_trials"}``.
    """
    try:
        import optuna
    except ImportError:
        raise ConfigError("qrl tune needs Optuna: pip install 'qrl-lab[tune]' (or pip install optuna).") from None

    spec, preset_path = load_spec(config)
    data, solved = read_preset(preset_path)
    if solved is None:
        raise ConfigError(f"{preset_path}: no 'solved' criterion, so a seed cannot be judged; add e.g. "
                          "`solved: {eval: return, at_least: 475}` beside algo.")
    base = apply_params(data, spec.overrides)
    out = Path(out or Path("runs") / f"tune-{Path(config).stem}")
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    n_trials = n_trials or spec.n_trials
    say = progress or (lambda line: None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    if spec.sampler == "grid":
        sampler = optuna.samplers.GridSampler({k: d.choices for k, d in spec.space.items()},
                                              seed=spec.sampler_seed)
    elif spec.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=spec.sampler_seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=spec.sampler_seed)
    pruner = (optuna.pruners.NopPruner() if spec.pruner.type == "none" else
              optuna.pruners.MedianPruner(n_startup_trials=spec.pruner.n_startup_trials,
                                          n_warmup_steps=spec.pruner.n_warmup_steps))
    study = optuna.create_study(study_name=study_name or Path(config).stem, storage=storage,
                                sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True)
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    before = len(study.get_trials(deepcopy=False, states=counted))
    missing = max(0, n_trials - before)
    say(f"study {study.study_name} in {storage}: {before} trials done, {missing} to run "
        f"(seeds {spec.seeds}, objective {spec.objective}) -> {out}")
    resolved_backends = str(Path(backends_file).resolve()) if backends_file else None

    def objective(trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in spec.space.items()}
        trial_dir = out / "trials" / _digest(params)
        trial_dir.mkdir(parents=True, exist_ok=True)
        preset_file = trial_dir / "preset.yaml"
        preset_file.write_text(yaml.safe_dump({"solved": solved.model_dump(),
                                               **apply_params(base, params)}, sort_keys=False))
        scores = []
        for step, seed in enumerate(spec.seeds):
            task = {"config": str(preset_file), "seed": seed, "seed_dir": str(trial_dir / f"seed{seed}"),
                    "solved": solved.model_dump(), "backends_file": resolved_backends,
                    "tensorboard": tensorboard}
            (result,) = execute([task], run_preset_seed, workers=1)
            scores.append(_seed_score(result, spec.objective))
            running = float(np.mean(scores))
            say(f"  trial {trial.number} {params} seed {seed}: {spec.objective} "
                f"{scores[-1]:.4g} (mean so far {running:.4g})")
            trial.report(running, step)
            if trial.should_prune():
                say(f"  trial {trial.number} pruned after {step + 1} seeds")
                raise optuna.TrialPruned()
        return running

    if missing:
        study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=counted)],
                       catch=())
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"{config}: no trial completed (all were pruned); lower pruner.n_startup_trials "
                          "or set pruner: {type: none}.")
    best = study.best_trial
    tuned = out / f"{preset_path.stem}_tuned.yaml"
    header = (f"# {preset_path.name} with the best values of `qrl tune --config {config}`: "
              f"mean {spec.objective} {best.value:.4g} over tuning seeds {spec.seeds} "
              f"(study {study.study_name}, trial {best.number}). Check it on fresh seeds with qrl seeds.\n")
    tuned.write_text(header + yaml.safe_dump({"solved": solved.model_dump(),
                                              **apply_params(base, best.params)}, sort_keys=False))
    after = len(study.get_trials(deepcopy=False, states=counted))
    say(f"best {spec.objective} {best.value:.4g} with {best.params} -> {tuned}")
    return {"best_value": best.value, "best_params": best.params, "preset": str(tuned),
            "trials": after, "new_trials": after - before}


def tune_command(
        config: Path = typer.Option(..., "--config", "-c", help="search space (configs/tune/<preset>.yaml)"),
        n_trials: Optional[int] = typer.Option(None, "--n-trials", help="trials the study should have in "
                                                                         "the end (default: the file's)"),
        out: Optional[Path] = typer.Option(None, help="output folder (default runs/tune-<space>)"),
        storage: Optional[str] = typer.Option(None, help="Optuna RDB URL (default sqlite:///OUT/study.db)"),
        study_name: Optional[str] = typer.Option(None, "--study-name", help="study name in the storage"),
        backends: Optional[Path] = typer.Option(None, "--backends", help="backends file"),
        tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard",
                                         help="TensorBoard event files in every run folder (tb/)"),
) -> None:
    """Tune a preset's hyperparameters with Optuna over tuning seeds; write the best as a new preset."""
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"--n-trials must be at least 1, got {n_trials}.")
    tune(config, out, storage, n_trials, study_name, str(backends) if backends else None, tensorboard=tensorboard)

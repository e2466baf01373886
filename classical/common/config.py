"""Loading YAML presets into typed configs, with errors a user can act on.

Every configuration (``backends.yaml``, ``configs/*.yaml``) goes through
:func:`load_yaml` and :func:`validate`, so a bad file is reported the same way
everywhere: the file, the entry, the key, what is wrong and how to fix it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)

# Keys older presets used, and what replaced them (README, "Config vocabulary"). There are
# no silent aliases: a file that still uses one fails with a message naming the new key.
RENAMED = {
    "env": "env_id (and env_kwargs for its settings)",
    "total_steps": "total_env_steps",
    "env_steps": "total_env_steps",
    "total_timesteps": "total_env_steps",
    "rounds": "episodes (episodes each client trains: rounds x local_episodes)",
    "max_steps": "env_kwargs.max_episode_steps",
    "lr_actor": "lr.actor (lr is a mapping: lr: {actor: ..., critic: ...})",
    "lr_critic": "lr.critic (lr is a mapping: lr: {actor: ..., critic: ...})",
    "actor_lr": "lr.actor (lr is a mapping: lr: {actor: ..., critic: ...})",
    "critic_lr": "lr.critic (lr is a mapping: lr: {actor: ..., critic: ...})",
    "wm_lr": "lr.world_model (lr is a mapping: lr: {world_model: ..., actor: ..., critic: ...})",
    "value_lr": "lr.critic (lr is a mapping: lr: {model: ..., critic: ...})",
    "value": "critic (the terminal value network spec)",
    "value_fit_steps": "critic_fit_steps",
    "value_tail": "critic_tail",
    "grad_clip": "max_grad_norm",
    "discount": "gamma",
    "epsilon_start": "epsilon.start (epsilon: {start: 1.0, end: 0.01, decay: 0.99})",
    "epsilon_end": "epsilon.end (epsilon: {start: 1.0, end: 0.01, decay: 0.99})",
    "epsilon_decay": "epsilon.decay (epsilon: {start: 1.0, end: 0.01, decay: 0.99})",
    "eps_fraction": "epsilon.fraction (epsilon: {start: 1.0, end: 0.05, fraction: 0.5})",
    "n_agents": "env_kwargs.n_agents",
    "max_cycles": "env_kwargs.max_cycles",
    "local_ratio": "env_kwargs.local_ratio",
    "mode": "env_kwargs.mode",
    "target_noise": "env_kwargs.target_noise",
    "spurious_noise": "env_kwargs.spurious_noise",
    "n_qubits": "model.n_qubits (circuit settings live in the network spec)",
    "n_layers": "model.n_layers (circuit settings live in the network spec)",
    "qubits_per_agent": "model.qubits_per_agent (circuit settings live in the network spec)",
}


class ConfigError(ValueError):
    """A configuration a user wrote is wrong; the message says where and how to fix it."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first at line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


class TrainerConfig(BaseModel):
    """The base of every trainer's ``Config``: unknown keys are refused and a budget is required.

    Subclasses declare ``episodes`` and ``total_env_steps`` (``int | None`` each, their
    own defaults); training stops at whichever set limit comes first.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _has_budget(self):
        if getattr(self, "episodes", None) is None and getattr(self, "total_env_steps", None) is None:
            raise ValueError("no training budget: set episodes and/or total_env_steps (training stops at "
                             "whichever limit comes first)")
        return self


class ExperimentConfig(BaseModel):
    """The base of the ``Config`` of an experiment: a computation that trains no agent.

    A memory experiment of an error-correcting code, an error-mitigation estimate or a VQE
    run joins ``qrl train --config`` like any trainer (the same checks before the run folder
    is touched, ``config.yaml``, one ``metrics.csv`` row per measured point, TensorBoard,
    exit code 2 on a bad key), but it has no environment, no episode budget and no agent:
    its fields are its own (shots, distances, bond lengths, ...) besides the shared
    ``seed`` (and ``backend``, ``lr`` when it has circuits to run or to optimise). ``run``
    writes its results with :meth:`classical.common.rundir.RunDir.write_results` and returns
    them as the summary; ``qrl.load`` refuses such a run (there is nothing to ``predict`` with).
    """

    model_config = ConfigDict(extra="forbid")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, turning syntax errors and duplicate keys into a message with file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file. Check the path (it is relative to {Path.cwd()}).")
    if not path.is_file():
        raise ConfigError(f"{path}: is a folder, not a YAML file. Give the path of a file such as "
                          "configs/cartpole_mlp_reinforce.yaml.")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read as a text file ({type(err).__name__}: "
                          f"{getattr(err, 'strerror', None) or err}).") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML at {where}: {problem}. Fix the syntax there.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, "
                          f"got {type(data).__name__}.")
    return data


def validate(model: type[M], data: Mapping[str, Any], where: str) -> M:
    """Build ``model`` from ``data``; on failure name ``where`` (file and entry) and each bad key."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where)) from None


def format_validation_error(err: ValidationError, where: str, prefix: str | None = None,
                            overrides: Mapping[str, str] | None = None) -> str:
    """One line per problem: ``where: key 'a.b' = value: what is wrong.``

    Args:
        prefix: a key the validated mapping sits under (``model`` gives ``model.n_layers``).
        overrides: top-level keys that came from elsewhere (a command-line flag) mapped to how
            that source is named (``{"seed": "--seed"}``); their errors name it instead of ``where``.
    """
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if overrides and loc and loc[0] in overrides:
            value = e.get("input")
            lines.append(f"{overrides[loc[0]]} {value!r}: {e['msg']}.")
            continue
        key = ".".join(([prefix] if prefix else []) + loc) or "(entry)"
        if e["type"] == "extra_forbidden" and len(loc) == 1 and key in RENAMED:
            lines.append(f"{where}: key '{key}' was renamed; use {RENAMED[key]} "
                         "(README, 'Config vocabulary').")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'. Remove it or check its spelling.")
        elif e["type"] == "missing":
            lines.append(f"{where}: missing key '{key}'. Add it.")
        elif e["loc"] == ("lr",) and e["type"] == "dict_type":
            lines.append(f"{where}: key 'lr' = {e.get('input')!r}: lr is a mapping of parameter group to "
                         f"rate; write lr: {{default: {e.get('input')}}}.")
        elif not e["loc"]:  # a check across keys: the message names them; the whole entry is noise
            lines.append(f"{where}: {e['msg'].removeprefix('Value error, ').rstrip('.')}.")
        else:
            value = e.get("input")
            lines.append(f"{where}: key '{key}' = {value!r}: {e['msg'].removeprefix('Value error, ').rstrip('.')}.")
    return "\n".join(lines)


def resolve_algo(name: str):
    """Import the training module named by a config's ``algo`` key.

    ``algo`` is a dotted module path (e.g. ``classical.rl.reinforce``) exposing a
    pydantic ``Config`` and ``run(cfg, run_dir)``.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
        raise ConfigError(f"algo '{name}' is not a dotted module path; use one such as 'classical.rl.reinforce'.")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise ConfigError(f"algo '{name}' is not a module of this installation; "
                              "use a dotted module path such as 'classical.rl.reinforce'.") from None
        raise
    if not (hasattr(module, "Config") and hasattr(module, "run")):
        raise ConfigError(f"algo '{name}' has no Config/run pair; it cannot be trained with qrl train.")
    return module

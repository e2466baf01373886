"""One way to train from a config: check everything first, then touch the run folder.

``qrl train``, ``qrl compare`` and the notebooks all go through
:func:`train_from_config`. It loads the YAML, resolves ``algo``, applies
overrides and validates every part of the run (the config's keys, the
environment id, the model specs, the backend entry, the output folder) before
a single file is written, so a typo never costs a finished run. It then
prepares the run folder (refusing a non-empty one unless told to resume or to
overwrite it, and refusing a resume under a different config) and calls the
algorithm's ``run(cfg, run_dir)``.

Every mistake a user can make raises :class:`classical.common.config.ConfigError`
with the file or flag, the key, what is wrong and the fix; the CLI prints it and
exits with code 2.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ValidationError

from classical.common.config import ConfigError, format_validation_error, load_yaml, resolve_algo
from classical.common.rundir import (BUDGET_KEYS, RunDir, check_out_path, check_resume, prepare_run_folder,
                                     read_checkpoint_config, strip_provenance)

#: Config fields that hold a model spec (``{type: mlp, ...}`` / ``{type: vqc, ...}``).
MODEL_FIELDS = ("model", "actor", "critic", "value", "world_model")


@dataclass
class TrainingPlan:
    """A fully validated training run that has not touched the disk yet.

    Attributes:
        algo: the training module's dotted path.
        module: the imported training module.
        cfg: the validated ``module.Config``.
        out: the run folder.
        source: where the config came from (a file name, or ``"<dict>"``).
        resume, overwrite, extend_budget: how to treat an existing run folder.
        budget_changes: ``{key: (old, new)}`` for a resumed run whose budget was extended (or whose
            backend was changed with an explicit ``--backend``).
        backends_file: the backends file backend names are resolved in (``None``: ``./backends.yaml``,
            then the packaged copy).
    """

    algo: str
    module: ModuleType
    cfg: BaseModel
    out: Path
    source: str
    resume: bool = False
    overwrite: bool = False
    extend_budget: bool = False
    budget_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    tensorboard: bool = True
    wandb_project: str | None = None
    backends_file: str | None = None

    @property
    def resolved(self) -> dict:
        """The configuration recorded in ``config.yaml`` and fingerprinted in the checkpoint."""
        return {"algo": self.algo, **self.cfg.model_dump(mode="json")}

    @property
    def backend(self):
        """The run's :class:`qrl.backends.Backend`: the config's entry, the backends file, and the
        job ledger ``<out>/jobs.sqlite`` under the run id ``<out>``'s name."""
        from qrl import backends as B

        return B.Backend.for_run(getattr(self.cfg, "backend", None), self.out, self.backends_file)

    def run(self, on_start: typing.Callable[[], None] | None = None) -> dict:
        """Open the IBM account (on IBM hardware), prepare the run folder and train.

        Args:
            on_start: called once everything that can refuse the run has passed (the account is
                open, the folder is ready), right before the trainer starts; the CLI prints its
                "training ..." line there, so a refused run never says it is training.

        Returns:
            The algorithm's summary.
        """
        from qrl.hardware.ledger import Ledger

        if hasattr(self.cfg, "backend"):
            _connect_ibm(self.backend)  # a rejected account creates nothing
        prepare_run_folder(self.out, resume=self.resume, overwrite=self.overwrite)
        run = RunDir(self.out, resume=self.resume,
                     metrics_name=getattr(self.module, "METRICS_FILE", "metrics.csv"),
                     tensorboard=self.tensorboard, wandb_project=self.wandb_project, config=self.resolved,
                     backend=self.backend)  # trainers build their circuits on it
        notes = [f"{'budget extended' if k in BUDGET_KEYS else 'changed'} on resume: {k} {old} -> {new}"
                 for k, (old, new) in self.budget_changes.items()]
        run.write_config(self.resolved, notes=notes)
        run.add_scalar_source(Ledger.scalar_source(self.out / "jobs.sqlite", self.out.name))
        if on_start is not None:
            on_start()
        _start_progress(run, self.cfg, self.algo)
        hardware = _show_hardware_usage(run, self.backend if hasattr(self.cfg, "backend") else None, self.out)
        try:
            return dict(self.module.run(self.cfg, run) or {})
        finally:
            if hardware is not None and run.progress is not None:
                run.progress.set_fields(**hardware())  # the last line shows the final totals
            run.close()


def plan_training(config: str | Path | Mapping, overrides: Mapping[str, Any] | None = None,
                  out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
                  extend_budget: bool = False, backends_file: str | Path | None = None,
                  flags: Mapping[str, str] | None = None, tensorboard: bool = True,
                  wandb_project: str | None = None) -> TrainingPlan:
    """Validate a training run completely without writing anything; see :func:`train_from_config`.

    Args:
        flags: how each override key was given on the command line (``{"seed": "--seed"}``),
            so an error names the flag rather than the config file.
    """
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}`)

    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; choose one.")
    if backends_file is not None:
        path = Path(backends_file)
        if not path.is_file():
            raise ConfigError(f"{path}: no such backends file. Check the --backends path.")
        backends_file = str(path.resolve())

    if isinstance(config, Mapping):
        data, source, stem = dict(config), "<dict>", None
    else:
        data, source, stem = load_yaml(config), str(config), Path(config).stem
    data = strip_provenance(data)  # a run's config.yaml is a preset too
    data.pop("solved", None)  # the preset's success criterion, read by `qrl seeds`, not a trainer field
    algo = data.pop("algo", None)
    if not algo:
        raise ConfigError(f"{source}: missing key 'algo' (the training module, e.g. classical.rl.reinforce). "
                          "Add it.")
    if not isinstance(algo, str):
        raise ConfigError(f"{source}: key 'algo' = {algo!r}: expected a dotted module path such as "
                          "classical.rl.reinforce.")
    module = resolve_algo(algo)
    fields = module.Config.model_fields
    # ``None`` clears a field (``--episodes`` alone lifts the step limit); a field the trainer lacks
    # may be cleared, never set.
    overrides = {k: v for k, v in (overrides or {}).items() if k in fields or v is not None}
    flags = dict(flags or {})
    for key in overrides:
        if key not in fields:
            name = flags.get(key, f"override '{key}'")
            raise ConfigError(f"{name} does not apply to {algo} (its config has no '{key}'); drop it.")
    data.update(overrides)

    try:
        cfg = module.Config.model_validate(data)
    except ValidationError as err:
        where = {k: flags.get(k, f"override '{k}'") for k in overrides}
        raise ConfigError(format_validation_error(err, source, overrides=where)) from None

    cfg = _check_backend(cfg, source, flags, backends_file)
    _check_model_specs(cfg, source)
    _check_env(cfg, source)

    if out is None:
        out = Path("runs") / f"{stem or algo.rsplit('.', 1)[-1]}-seed{getattr(cfg, 'seed', 0)}"
    out = Path(out)
    check_out_path(out, resume=resume, overwrite=overwrite)
    plan = TrainingPlan(algo=algo, module=module, cfg=cfg, out=out, source=source, resume=resume,
                        overwrite=overwrite, extend_budget=extend_budget, tensorboard=tensorboard,
                        wandb_project=wandb_project, backends_file=backends_file)
    if resume:
        old = read_checkpoint_config(out)
        # a backend given explicitly (``--backend``) may move a resumed run, e.g. onto hardware
        plan.budget_changes = check_resume(out, old, plan.resolved, extend_budget=extend_budget,
                                           allowed=["backend"] if "backend" in overrides else [])
    return plan


def train_from_config(config: str | Path | Mapping, overrides: Mapping[str, Any] | None = None,
                      out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
                      extend_budget: bool = False, backends_file: str | Path | None = None,
                      check_only: bool = False, flags: Mapping[str, str] | None = None,
                      tensorboard: bool = True, wandb_project: str | None = None) -> dict:
    """Train the agent a config describes, after checking every part of the run.

    Args:
        config: a YAML preset (path) or the same mapping in memory; its ``algo`` key names the
            training module.
        overrides: Config fields replacing the config's values (``None`` clears a field; a ``None``
            for a field the trainer does not have is ignored).
        out: the run folder (default ``runs/<config stem>-seed<S>``).
        resume: continue the run in ``out`` from its checkpoint; refused when the config differs
            from the checkpoint's in anything but the budget.
        overwrite: replace the run in ``out``; every artefact of the old run is removed first.
        extend_budget: with ``resume``, allow a larger budget (``episodes``, ``total_env_steps``, ...).
        backends_file: the ``backends.yaml`` to resolve backend names in.
        check_only: validate everything and return without writing anything.
        flags: how override keys were spelled on the command line, for error messages.
        tensorboard: also write TensorBoard event files into ``<out>/tb``.
        wandb_project: also log to this Weights & Biases project.

    Returns:
        The algorithm's summary (``episodes``, ``env_steps``, ``eval_return_mean``, ...); with
        ``check_only``, ``{"checked": True, "algo": ..., "out": ..., "config": ...}``.

    Raises:
        ConfigError: any mistake in the config, overrides, backend or output folder; nothing
            on disk has changed.

    **Example**

    >>> from qrl import train_from_config
    >>> train_from_config("configs/cartpole_mlp_reinforce.yaml", {"episodes": 2},
    ...                   out="/tmp/qrl-doc-run", check_only=True)["algo"]
    'classical.rl.reinforce'
    """
    plan = plan_training(config, overrides, out, resume=resume, overwrite=overwrite,
                         extend_budget=extend_budget, backends_file=backends_file, flags=flags,
                         tensorboard=tensorboard, wandb_project=wandb_project)
    if check_only:
        return {"checked": True, "algo": plan.algo, "out": str(plan.out), "config": plan.resolved}
    return plan.run()


# budget key of a config -> (metrics column giving the position, unit); the first one set is shown.
# Federated rows carry `episode` too (each client's episodes so far), so they count like the rest.
_BUDGETS = (("episodes", "episode", "ep"), ("total_env_steps", "env_steps", "step"))


def _start_progress(run: RunDir, cfg: BaseModel, algo: str) -> None:
    """One progress display for the run, fed by every row the trainer logs."""
    parts = algo.split(".")
    desc = parts[-2] if parts[-1] == "train" and len(parts) > 1 else parts[-1]  # marl, federated, causal
    for budget, key, unit in _BUDGETS:
        total = getattr(cfg, budget, None)
        if isinstance(total, (int, float)) and total > 0:
            run.start_progress(total, key=key, unit=unit, desc=desc)
            return
    run.start_progress(None, unit="row", desc=desc)


def _show_hardware_usage(run: RunDir, backend, out: Path):
    """On a qrl.qiskit backend, add jobs, shots and QPU seconds (against the entry's budget) to the
    progress display, read from the run's ledger every few seconds (a hardware step can take minutes).

    Returns the function giving those fields, or ``None`` on other backends.
    """
    from qrl import backends as B
    from qrl.hardware.budget import Budget
    from qrl.hardware.ledger import Ledger

    if backend is None or run.progress is None or B.entry(backend).device != "qrl.qiskit":
        return None
    budget = Budget.from_option(B.entry(backend).options.get("budget"))
    totals = Ledger.scalar_source(out / "jobs.sqlite", out.name)

    def fields() -> dict:
        used = {k.removeprefix("hardware/"): v for k, v in totals().items()}
        shown = {}
        for name, key, limit in (("jobs", "jobs", budget.jobs), ("shots", "shots", budget.shots),
                                 ("qpu_s", "qpu_seconds", budget.qpu_seconds)):
            value = used.get(key, 0)
            value = round(value, 1) if isinstance(value, float) else value
            shown[name] = f"{value}/{limit:g}" if limit is not None else value
        return shown

    run.progress.poll(fields, every=2.0)
    return fields


# -- checks -----------------------------------------------------------------
def _check_backend(cfg: BaseModel, source: str, flags: Mapping[str, str],
                   backends_file: str | None = None) -> BaseModel:
    """The ``backend`` must be an entry of the backends file; ``null`` becomes the default entry's name."""
    if "backend" not in type(cfg).model_fields:
        return cfg
    from qrl import backends as B

    name = cfg.backend
    if name is None:
        return cfg.model_copy(update={"backend": B.default_name(backends_file)})
    try:
        entry = B.entry(name, backends_file)
    except B.BackendError as err:
        where = flags.get("backend", f"{source}: key 'backend'")
        raise ConfigError(f"{where}: {err}") from None
    if entry.device == "qrl.qiskit" and entry.options.get("target") == "ibm" and not entry.options.get("dry_run"):
        _check_ibm_account(name)
    return cfg


def _connect_ibm(backend) -> None:
    """On real IBM hardware, open the account before the run folder is touched: a token that is
    present but rejected (or an unreachable service) then leaves nothing behind.

    Raises:
        CredentialsError: one line naming the entry, what went wrong and the fix (never the token).
    """
    from qrl import backends as B
    from qrl.hardware.retry import RetryPolicy, call_with_retries
    from qrl.hardware.runtime import account_error, connect_service

    entry = B.entry(backend)
    if entry.device != "qrl.qiskit" or entry.options.get("target") != "ibm" or entry.options.get("dry_run"):
        return
    try:
        call_with_retries(lambda: connect_service(entry.options.get("channel")),
                          RetryPolicy(**(entry.options.get("retry") or {})))
    except Exception as exc:  # noqa: BLE001  (every failure here is the account's or the network's)
        raise account_error(exc, backend.name) from None


def _check_ibm_account(entry: str) -> None:
    """An IBM entry needs a token in the environment or a saved account (checked offline)."""
    from qrl.hardware.runtime import IBM_ACCOUNT_HELP

    if os.environ.get("QISKIT_IBM_TOKEN"):
        return
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        saved = QiskitRuntimeService.saved_accounts()
    except Exception:  # noqa: BLE001  (an unreadable account file is no account)
        saved = {}
    if not saved:
        raise ConfigError(f"backend '{entry}': {IBM_ACCOUNT_HELP}.")


#: Model spec keys ``qrl evaluate`` sets to run a trained circuit elsewhere; in a run they are the run's own.
RUN_OWNED_SPEC_KEYS = ("backends_file", "ledger", "run_id")


def _check_model_specs(cfg: BaseModel, source: str) -> None:
    """Every network spec is valid for its type, and none picks its own backend, backends file or ledger."""
    from classical.rl.models import validate_model_spec

    # a Config whose network keys are not build_model specs says which are (model_spec_fields)
    for name in getattr(type(cfg), "model_spec_fields", MODEL_FIELDS):
        spec = getattr(cfg, name, None)
        # a spec without ``type`` is a trainer's own (e.g. circuit settings of hybrid.marl_quantum)
        if isinstance(spec, Mapping) and "type" in spec:
            validate_model_spec(spec, source, key=name)
            for key in RUN_OWNED_SPEC_KEYS:
                if key in spec:
                    raise ConfigError(f"{source}: key '{name}.{key}': a run's circuits use the run's backends "
                                      "file (--backends) and its job ledger (<out>/jobs.sqlite); drop "
                                      f"'{name}.{key}' and set the top-level `backend:` for where they run.")


def _check_env(cfg: BaseModel, source: str) -> None:
    """The environment id must be one the trainer can make with the given ``env_kwargs``.

    A trainer on other tasks (the multi-agent ones) gives its ``Config`` a static
    ``build_env(env_id, **env_kwargs)``; otherwise gymnasium ids are checked with
    ``gym.make``. Other ids without a ``-vN`` version (a trainer's own env such as
    ``CausalQuiz``, validated by its Config) are left to the trainer.
    """
    import re

    import gymnasium as gym

    env_id = getattr(cfg, "env_id", None)
    if not isinstance(env_id, str):
        return
    field = type(cfg).model_fields.get("env_id")
    if field is not None and typing.get_origin(field.annotation) is Literal:
        return  # a closed set of the trainer's own (e.g. PettingZoo) environments, already checked by pydantic
    from classical.common.rollouts import make_env

    make = getattr(type(cfg), "build_env", None)
    if make is None:
        if env_id not in gym.registry and ":" not in env_id and not re.search(r"-v\d+$", env_id):
            return
        make = make_env
    kwargs = getattr(cfg, "env_kwargs", None) or {}
    try:
        env = make(env_id, **kwargs)
        getattr(env, "close", lambda: None)()
    except Exception as err:  # noqa: BLE001  (any failure to build the env is the config's)
        reason = str(err).removeprefix(f"cannot make environment '{env_id}': ")
        raise ConfigError(f"{source}: key 'env_id' = {env_id!r} (env_kwargs {kwargs}): cannot make the "
                          f"environment ({type(err).__name__}: {reason}). Check the id and its keyword "
                          "arguments.") from None


__all__ = ["BUDGET_KEYS", "TrainingPlan", "plan_training", "train_from_config"]

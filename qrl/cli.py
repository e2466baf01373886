"""The ``qrl`` command line: train agents, inspect backends, evaluate and track hardware jobs.

Every command takes ``--backends FILE`` (default ``./backends.yaml``, then the
copy shipped with the package). Mistakes in files or arguments print one plain
message and exit with code 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Quantum-first reinforcement learning: train, compare and run on IBM Quantum.")
backends_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="List and check the targets of backends.yaml.")
fed_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Federated RL on Flower.")
marl_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Multi-agent RL.")
app.add_typer(backends_app, name="backends")
app.add_typer(fed_app, name="fed")
app.add_typer(marl_app, name="marl")

console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

def _print_version(value: bool) -> None:
    if value:
        from classical.common.provenance import provenance

        info = provenance()
        console.print(f"qrl {info['qrl_version']} (git {info['git_commit']})", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="print the version and git commit, then exit")):
    """Quantum-first reinforcement learning: train, compare and run on IBM Quantum."""


BackendsOpt = typer.Option(None, "--backends", help="backends file (default ./backends.yaml, then the packaged one)")


class UsageProblem(Exception):
    """Raised for mistakes a user can fix; printed without a traceback, exit code 2."""


def _backends_file(path: Optional[Path]) -> Optional[Path]:
    """The ``--backends`` file, checked to exist (``None``: ./backends.yaml, then the packaged one)."""
    if path is not None and not path.exists():
        raise UsageProblem(f"{path}: no such backends file.")
    return path


def _fail(message: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code=2)


def _guard(fn):
    """Run ``fn``; user errors become one message and exit code 2."""
    from classical.common.config import ConfigError
    from qrl.hardware.retry import HardwareError

    from qrl.hardware.secrets import install, redact, redact_exception

    install()  # log records never carry the IBM token
    try:
        return fn()
    except (ConfigError, UsageProblem, ValueError, HardwareError) as err:
        _fail(redact(str(err)))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except BaseException as err:  # an unexpected error still shows its traceback, never the token
        raise redact_exception(err)


# -- backends -------------------------------------------------------------
@backends_app.command("list")
def backends_list(backends: Optional[Path] = BackendsOpt):
    """Print every backend: name, kind, shots, noise source, qubits."""
    from qrl import backends as B

    def body():
        file = _backends_file(backends)
        spec = B.load(file)
        table = Table(title=f"backends ({B.backends_path(file)})")
        for col in ("name", "kind", "device", "shots", "noise source", "qubits"):
            table.add_column(col)
        for name, e in spec.backends.items():
            noise = e.fake_backend or ("shot noise" if e.shots else "none")
            qubits = B.max_wires(e)
            label = f"{name} (default)" if name == spec.default else name
            if qubits is None:
                qubits = "the device's" if e.kind == "ibm hardware" else "memory-bound"
            noise = "device noise" if e.kind == "ibm hardware" else noise
            table.add_row(label, e.kind, e.device, str(e.shots or "exact"), noise, str(qubits))
        console.print(table)

    _guard(body)


@backends_app.command("check")
def backends_check(name: str, backends: Optional[Path] = BackendsOpt):
    """Run a Bell circuit on NAME; print <Z0 Z1> (1 when exact) and the time."""
    from qrl import backends as B

    def body():
        value, seconds = B.bell_check(name, _backends_file(backends))
        console.print(f"{name}: <Z0 Z1> = {value:.4f}  ({seconds * 1000:.1f} ms)")

    _guard(body)


# -- training -------------------------------------------------------------
def budget_overrides(episodes: Optional[int], steps: Optional[int]) -> dict:
    """The config keys ``--episodes`` / ``--steps`` set: the flags replace the preset's budget.

    Given alone, either flag clears the other limit, so ``--episodes 50`` runs 50 episodes
    even for a preset that also sets ``total_env_steps``.
    """
    if episodes is None and steps is None:
        return {}
    return {"episodes": episodes, "total_env_steps": steps}


def _train(config: Path, backend: Optional[str], seed: Optional[int], episodes: Optional[int],
           steps: Optional[int], out: Optional[Path], resume: bool, overwrite: bool, extend_budget: bool,
           check: bool, backends: Optional[Path], tensorboard: bool = True,
           wandb_project: Optional[str] = None) -> None:
    from qrl.training import plan_training

    overrides = {k: v for k, v in (("seed", seed), ("backend", backend)) if v is not None}
    overrides.update(budget_overrides(episodes, steps))
    flags = {"seed": "--seed", "episodes": "--episodes", "total_env_steps": "--steps", "backend": "--backend"}
    plan = plan_training(config, overrides, out, resume=resume, overwrite=overwrite,
                         extend_budget=extend_budget, backends_file=backends, flags=flags,
                         tensorboard=tensorboard, wandb_project=wandb_project)
    if check:
        console.print(f"ok: {config} ({plan.algo}) is valid; the run would go to {plan.out}")
        return

    def announce() -> None:  # once the account is open and the folder ready: a refused run never says it
        for key, (old, new) in plan.budget_changes.items():
            console.print(f"{'extending' if key != 'backend' else 'changing'} {key} from {old} to {new}")
        console.print(f"training {plan.algo} -> {plan.out}")

    try:
        summary = plan.run(on_start=announce)
    except KeyboardInterrupt:
        if (plan.out / "checkpoint.pt").exists():
            err_console.print(f"interrupted; the last checkpoint is in {plan.out}. "
                              f"Continue with the same command and --resume.")
        else:
            err_console.print(f"interrupted before the first checkpoint; nothing in {plan.out} can be resumed. "
                              f"Start again with --overwrite.")
        raise typer.Exit(code=130)
    for k, v in summary.items():
        console.print(f"  {k}: {v}")


_CONFIG = typer.Option(..., "--config", "-c", help="YAML preset under configs/")


def train(config: Path = _CONFIG,
          backend: Optional[str] = typer.Option(None, help="backends.yaml entry for quantum parts"),
          seed: Optional[int] = typer.Option(None, min=0, help="seed (overrides the config)"),
          episodes: Optional[int] = typer.Option(None, min=1, help="training budget in episodes (replaces the "
                                                 "config's budget; with --steps, whichever comes first)"),
          steps: Optional[int] = typer.Option(None, "--steps", min=1, help="training budget in environment "
                                              "steps (replaces the config's budget; with --episodes, "
                                              "whichever comes first)"),
          out: Optional[Path] = typer.Option(None, help="run directory (default runs/<config>-seed<S>)"),
          resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its checkpoint"),
          overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in --out (removes all of it)"),
          extend_budget: bool = typer.Option(False, "--extend-budget",
                                             help="with --resume: allow a larger episodes/steps budget"),
          check: bool = typer.Option(False, "--check", help="validate config, env, model, backend and --out; "
                                                            "train nothing"),
          backends: Optional[Path] = BackendsOpt,
          tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard",
                                           help="write TensorBoard event files into <out>/tb"),
          wandb_project: Optional[str] = typer.Option(None, help="also log to this Weights & Biases "
                                                      "project (needs wandb installed)")):
    """Train the agent a config describes; write metrics.csv, config.yaml, checkpoint, curve.png, eval.csv, tb/."""
    _guard(lambda: _train(config, backend, seed, episodes, steps, out, resume, overwrite, extend_budget,
                          check, backends, tensorboard=tensorboard, wandb_project=wandb_project))


app.command("train")(train)
fed_app.command("train")(train)
marl_app.command("train")(train)


from qrl.experiments.compare import compare_command  # noqa: E402  (light: its heavy imports happen when it runs)
from qrl.experiments.seeds import seeds_command  # noqa: E402

app.command("compare")(functools.wraps(compare_command)(lambda **kw: _guard(lambda: compare_command(**kw))))
app.command("seeds")(functools.wraps(seeds_command)(lambda **kw: _guard(lambda: seeds_command(**kw))))

from qrl.experiments.tune import tune_command  # noqa: E402
app.command("tune")(functools.wraps(tune_command)(lambda **kw: _guard(lambda: tune_command(**kw))))


from qrl.cli_hardware import jobs_app  # noqa: E402


def _guarded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _guard(lambda: fn(*args, **kwargs))
    return wrapper


for _command in jobs_app.registered_commands:
    _command.callback = _guarded(_command.callback)
app.add_typer(jobs_app, name="jobs")


@app.command("evaluate")
def evaluate(run: Path = typer.Option(..., "--run", help="a trained run directory"),
             backend: str = typer.Option(..., help="backends.yaml entry to evaluate on"),
             episodes: int = typer.Option(3, help="evaluation episodes"),
             shots: Optional[int] = typer.Option(None, help="shots per circuit (overrides the entry)"),
             dry_run: bool = typer.Option(False, "--dry-run", help="print what would be submitted; submit nothing"),
             budget_shots: Optional[int] = typer.Option(None, help="refuse to submit more shots than this"),
             budget_qpu_seconds: Optional[float] = typer.Option(None, help="refuse beyond this many QPU seconds"),
             budget_jobs: Optional[int] = typer.Option(None, help="refuse to submit more jobs than this"),
             backends: Optional[Path] = BackendsOpt):
    """Evaluate a trained policy on any target; append returns, jobs and shots to the run directory."""
    from qrl.cli_hardware import evaluate as run_evaluation

    budget = {k: v for k, v in (("shots", budget_shots), ("qpu_seconds", budget_qpu_seconds),
                                ("jobs", budget_jobs)) if v is not None} or None
    _guard(lambda: run_evaluation(run, backend, episodes, shots, dry_run, backends, budget=budget))


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())


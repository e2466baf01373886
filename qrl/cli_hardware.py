"""``qrl jobs ...`` and ``qrl evaluate``: hardware jobs of a run, and evaluating a trained run.

The lead's ``qrl/cli.py`` mounts :data:`jobs_app` as ``qrl jobs`` and wraps
:func:`evaluate` as ``qrl evaluate``. Every job of a ``qrl.qiskit`` backend is in the
run directory's ledger (``<run>/jobs.sqlite``).

**Example**

.. code-block:: console

    $ qrl evaluate --run runs/cartpole --backend ibm.fake.manila --episodes 3
    $ qrl evaluate --run runs/cartpole --backend ibm.least_busy --episodes 3 --dry-run
    $ qrl jobs list --run runs/cartpole
    $ qrl jobs show 3 --run runs/cartpole
"""

from __future__ import annotations

import csv
import importlib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from qrl.hardware.retry import BudgetExceededError

jobs_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                       help="Jobs that qrl.qiskit backends submitted (the run's SQLite ledger).")
console = Console(width=None if sys.stdout.isatty() else 200)
LEDGER_NAME = "jobs.sqlite"

RunOpt = typer.Option(None, "--run", help="run directory (default: every run under ./runs)")


def _ledger_paths(run: Optional[Path]) -> list[Path]:
    if run is not None:
        path = run / LEDGER_NAME if run.is_dir() or run.suffix == "" else run
        if not path.exists():
            raise ValueError(f"{run}: no job ledger ({LEDGER_NAME}) here; only runs on qrl.qiskit "
                             "backends have one.")
        return [path]
    paths = sorted(Path("runs").glob(f"*/{LEDGER_NAME}")) + sorted(Path("runs").glob(f"*/*/{LEDGER_NAME}"))
    if not paths:
        raise ValueError(f"no job ledgers under ./runs; pass --run DIR.")
    return paths


def _find(ident: str, run: Optional[Path]):
    from qrl.hardware.ledger import Ledger

    for path in _ledger_paths(run):
        ledger = Ledger(path)
        record = ledger.get(ident)
        if record is not None:
            return ledger, record, path
        ledger.close()
    raise ValueError(f"no job {ident!r} in {run or './runs'}; `qrl jobs list` shows the ids.")


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else ""


@jobs_app.command("list")
def jobs_list(run: Optional[Path] = RunOpt):
    """Every job of a run: id, backend, status, PUB shapes, shots, QPU seconds."""
    from qrl.hardware.ledger import Ledger

    table = Table("id", "run", "step", "backend", "job id", "status", "PUBs [obs, rows]",
                  "shots", "QPU s (est.)", "tries", "submitted")
    total = 0
    for path in _ledger_paths(run):
        ledger = Ledger(path)
        for r in ledger.jobs():
            qpu = r["qpu_seconds"] if r["qpu_seconds"] is not None else r["qpu_seconds_estimate"]
            table.add_row(str(r["id"]), r["run_id"], str(r["step"]), r["backend"],
                          r["job_id"] or "", r["status"], json.dumps(r["pub_shapes"]),
                          str(r["shots"] or "exact"), f"{qpu or 0:.1f}", str(r["attempts"]),
                          _when(r["created"]))
            total += 1
        ledger.close()
    console.print(table)
    console.print(f"{total} jobs")


@jobs_app.command("show")
def jobs_show(ident: str = typer.Argument(..., help="ledger id, job id or job key"),
              run: Optional[Path] = RunOpt):
    """One job's full record (and a summary of its stored result)."""
    ledger, record, path = _find(ident, run)
    for key, value in record.items():
        if key in ("created", "updated"):
            value = _when(value)
        console.print(f"{key:>22}: {value}", highlight=False)
    result = ledger.result(record["job_key"])
    if result is not None:
        for i, values in enumerate(result):
            console.print(f"{'PUB ' + str(i):>22}: expectation values of shape {list(values.shape)}, "
                          f"mean {values.mean():+.4f}")
    console.print(f"{'ledger':>22}: {path}")
    ledger.close()


@jobs_app.command("fetch")
def jobs_fetch(ident: str = typer.Argument(..., help="ledger id, job id or job key"),
               run: Optional[Path] = RunOpt):
    """Fetch a job's result from IBM Quantum into the ledger (no resubmission)."""
    ledger, record, _ = _find(ident, run)
    if record["status"] == "done":
        console.print(f"job {record['job_id']} is done; its result is already in the ledger.")
        return
    if not record["backend"].startswith("ibm:"):
        raise ValueError(f"job {record['job_id']} ran on {record['backend']}, in this machine's "
                         "process; local jobs cannot be fetched later. Rerun the same command: "
                         "it resubmits only unfinished jobs.")
    from qrl.hardware.runtime import RuntimeTarget, account_error, connect_service

    try:
        service = connect_service()
        job = service.job(record["job_id"])
    except Exception as exc:  # noqa: BLE001  (any failure here is the account's or the network's)
        raise account_error(exc) from None
    target = RuntimeTarget(job.backend(), record["backend"], service=service)
    values = target.result(job)
    ledger.record_done(record["job_key"], values, target.usage(job))
    console.print(f"fetched job {record['job_id']}: {len(values)} PUBs stored in the ledger.")
    ledger.close()


def _devices(agent) -> list:
    """The qrl.qiskit devices (its QNodes' devices) of every network an agent holds: a REINFORCE
    ``policy``, a PPO ``actor`` and ``critic``, DQN's Q-networks, ..."""
    from torch import nn

    found = []
    for network in vars(agent).values():
        if not isinstance(network, nn.Module):
            continue
        for sub in network.modules():
            device = getattr(getattr(sub, "qnode", None), "device", None)
            if device is not None and getattr(device, "name", "") == "qrl.qiskit" and device not in found:
                found.append(device)
    return found


def _backends_with_shots(backend: str, shots: int, out_dir: Path, backends: Optional[Path]) -> Path:
    """A copy of the backends file with ``shots`` for ``backend`` (written to the run dir)."""
    import yaml

    from qrl import backends as B

    source = B.backends_path(backends)
    data = yaml.safe_load(source.read_text())
    data["backends"][backend]["shots"] = shots
    path = out_dir / f"backends.eval_{backend}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def evaluate(run: Path, backend: str, episodes: int = 3, shots: Optional[int] = None,
             dry_run: bool = False, backends: Optional[Path] = None,
             budget: Optional[dict] = None) -> list[dict]:
    """Evaluate a trained run's policy on ``backend``; append returns, jobs and shots to the run.

    Rows go to ``<run>/eval_<backend>.csv`` (one per episode, with the jobs, circuit
    executions, shots and estimated QPU seconds that episode used). A dry run prints what
    the evaluation would submit and writes nothing. ``budget`` (``{shots, qpu_seconds,
    jobs}``) replaces the backend entry's budget (the ``--budget-*`` options). ``backends`` is the
    backends file ``backend`` is read from (default ``./backends.yaml``, then the packaged one).
    """
    import yaml

    from qrl import backends as B

    run = Path(run)
    if not (run / "config.yaml").exists() or not (run / "checkpoint.pt").exists():
        raise ValueError(f"{run} is not a trained run directory (needs config.yaml and "
                         "checkpoint.pt); train one with `qrl train --config FILE --out DIR`.")
    if episodes < 1:
        raise ValueError("--episodes must be at least 1.")
    if backends is not None:
        if not Path(backends).is_file():
            raise ValueError(f"{backends}: no such backends file. Check the --backends path.")
        backends = Path(backends).resolve()
    entry = B.entry(backend, backends)
    on_qiskit = entry.device == "qrl.qiskit"
    if dry_run and not on_qiskit:
        raise ValueError(f"--dry-run applies to qrl.qiskit backends; '{backend}' runs on "
                         f"{entry.device}, which submits nothing anyway.")
    if shots is not None:
        if shots < 1:
            raise ValueError("--shots must be a positive number of shots.")
        backends = _backends_with_shots(backend, shots, run, backends)
    algo = yaml.safe_load((run / "config.yaml").read_text()).get("algo")
    if not algo:
        raise ValueError(f"{run / 'config.yaml'} has no 'algo:' key naming the algorithm module.")
    import qrl.models  # noqa: F401  (registers the quantum models with classical.rl.models)

    module = importlib.import_module(algo)
    if not hasattr(module, "load_agent"):
        raise ValueError(f"algorithm {algo} has no load_agent(run_dir, backend=...) yet; "
                         "qrl evaluate cannot rebuild its agent.")
    # single-agent circuit policies take the device options (load_agent(..., **device_overrides));
    # the other agents load with qrl.load(run) and act with predict
    if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(module.load_agent).parameters.values()):
        raise ValueError(f"qrl evaluate plays single-agent circuit policies episode by episode; a {algo} run "
                         "is loaded with qrl.load(run) and played with its predict instead.")
    # the circuits read `backend` from the file chosen here (a model spec key of qrl.models.VQC)
    overrides = {"backends_file": str(backends)} if backends is not None else {}
    if on_qiskit:
        overrides.update(ledger=str(run / LEDGER_NAME), run_id=f"eval:{backend}", dry_run=dry_run)
        if budget:
            overrides["budget"] = {k: v for k, v in budget.items() if v is not None}
    elif budget:
        raise ValueError(f"budgets apply to qrl.qiskit backends; '{backend}' runs on {entry.device}.")
    bound = _cost_bound(module, run, backend, overrides, episodes) if on_qiskit else None
    if bound is not None and not dry_run and not bound["fits"]:
        raise BudgetExceededError(
            f"evaluate on '{backend}': {bound['line']} Nothing was submitted. Lower --episodes "
            f"({bound['episodes_that_fit']} fit) or raise the budget (--budget-jobs, --budget-shots, "
            "--budget-qpu-seconds, or budget: in the backends.yaml entry).")
    agent = module.load_agent(run, backend=backend, **overrides)
    devices = _devices(agent)

    def usage():
        keys = ("jobs", "ledger_hits", "executions", "shots", "qpu_seconds_estimate")
        return {k: sum(d.stats[k] for d in devices) for k in keys}

    from classical.common.progress import Progress

    rows = []
    progress = Progress(episodes, unit="ep", desc=f"evaluate on {backend}")
    progress.poll(lambda: _usage_fields(usage(), devices), every=2.0)  # an episode can take minutes
    try:
        for episode in range(episodes):
            before = usage()
            row = agent.evaluate(1, seed=10_000 + episode)[0]
            after = usage()
            row.update(episode=episode, backend=backend,
                       shots_per_circuit=entry.shots if shots is None else shots,
                       **{k: after[k] - before[k] for k in after})
            rows.append(row)
            progress.update(1, **_usage_fields(after, devices))
            console.print(f"episode {episode}: return {row['return']:.1f}, jobs {row['jobs']} "
                          f"(+{row['ledger_hits']} from the ledger), shots {row['shots']}")
    finally:
        progress.close()
    if dry_run:
        _print_dry_run(devices, episodes)
        _dry_run_verdict(devices, backend, bound)
        return rows
    path = run / f"eval_{backend}.csv"
    fresh = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if fresh:
            writer.writeheader()
        writer.writerows(rows)
    console.print(f"appended {len(rows)} rows to {path}")
    return rows


def _cost_bound(module, run: Path, backend: str, overrides: dict, episodes: int) -> dict | None:
    """The most an evaluation can cost: episodes x the env's step limit x the cost of one policy call.

    One policy call is made on a dry-run copy of the agent (nothing is submitted, nothing goes to
    the ledger) to learn its jobs, shots and QPU-second estimate; the run's ledger adds what was
    already used. ``None`` when the environment has no step limit (the cost has no bound).
    """
    import torch

    from classical.common.rollouts import make_env
    from qrl.hardware.ledger import Ledger

    probe = module.load_agent(run, backend=backend, **{**overrides, "dry_run": True, "ledger": None})
    devices = _devices(probe)
    if not devices:
        return None
    env = make_env(probe.cfg.env_id, **(probe.cfg.env_kwargs or {}))
    max_steps = env.spec.max_episode_steps if env.spec is not None else None
    obs, _ = env.reset(seed=10_000)
    env.close()
    if not max_steps:
        return None
    with torch.no_grad():
        probe.predict(obs, deterministic=True)
    per_call = {k: sum(d.dry_run_summary()[k] for d in devices) for k in ("jobs", "shots", "qpu_seconds_estimate")}
    calls = episodes * max_steps
    cost = {"jobs": calls * per_call["jobs"], "shots": calls * per_call["shots"],
            "qpu_seconds": calls * per_call["qpu_seconds_estimate"]}
    ledger_path = run / LEDGER_NAME
    used = {"jobs": 0, "shots": 0, "qpu_seconds": 0.0}
    if ledger_path.exists():
        ledger = Ledger(ledger_path)
        used = ledger.totals(overrides.get("run_id", ""))
        ledger.close()
    budget = devices[0].budget
    over = [f"{name} {used[name] + cost[name]:,.0f} > {limit:,.0f}" for name, limit in
            (("jobs", budget.jobs), ("shots", budget.shots), ("qpu_seconds", budget.qpu_seconds))
            if limit is not None and used[name] + cost[name] > limit]
    per_episode = {k: v / episodes for k, v in cost.items()}
    fit = min([int((limit - used[name]) // per_episode[name]) if per_episode[name] else episodes
               for name, limit in (("jobs", budget.jobs), ("shots", budget.shots),
                                   ("qpu_seconds", budget.qpu_seconds)) if limit is not None] or [episodes])
    spent = f" after the {used['jobs']} jobs already in the ledger" if used["jobs"] else ""
    line = (f"{episodes} episodes x {max_steps} steps at most could use {cost['jobs']:,} jobs, "
            f"{cost['shots']:,} shots, about {cost['qpu_seconds']:,.0f} QPU s{spent}; ")
    line += (f"that exceeds the budget ({'; '.join(over)})." if over else
             ("within the budget." if not budget.unlimited else "the entry sets no budget."))
    return {"fits": not over, "line": line, "episodes_that_fit": max(0, min(fit, episodes)), **cost}


def _dry_run_verdict(devices, backend: str, bound: dict | None) -> None:
    """Say in one line whether the run fits the entry's budget; raise when it does not.

    Raises:
        BudgetExceededError: the dry run's totals, or its worst case, exceed the budget
            (the CLI exits with code 2).
    """
    used = {k: sum(d.dry_run_summary()[k] for d in devices) for k in ("jobs", "shots", "qpu_seconds_estimate")}
    budget = devices[0].budget if devices else None
    over = []
    if budget is not None:
        over = [f"{name} {used[key]:,.0f} > {limit:,.0f}" for name, key, limit in
                (("jobs", "jobs", budget.jobs), ("shots", "shots", budget.shots),
                 ("qpu_seconds", "qpu_seconds_estimate", budget.qpu_seconds))
                if limit is not None and used[key] > limit]
    if over:
        raise BudgetExceededError(f"dry run: does not fit the budget of '{backend}': {'; '.join(over)}; a real "
                                  "run would be refused. Lower --episodes or raise the budget.")
    if bound is not None and not bound["fits"]:
        raise BudgetExceededError(f"dry run: does not fit the budget of '{backend}' in the worst case: "
                                  f"{bound['line']} A real run would be refused before the first job; "
                                  f"{bound['episodes_that_fit']} episodes fit.")
    state = f"'{backend}' sets no budget" if budget is None or budget.unlimited \
        else f"fits the budget of '{backend}'"
    console.print(state + (f" (worst case: {bound['line']})" if bound else "."))


def _usage_fields(used: dict, devices) -> dict:
    """Jobs, shots and QPU seconds so far, each against the budget when there is one."""
    budget = devices[0].budget if devices and hasattr(devices[0], "budget") else None
    fields = {}
    for name, key, limit in (("jobs", "jobs", "jobs"), ("shots", "shots", "shots"),
                             ("qpu_s", "qpu_seconds_estimate", "qpu_seconds")):
        value = used.get(key, 0)
        value = round(value, 1) if isinstance(value, float) else value
        cap = getattr(budget, limit, None) if budget is not None else None
        fields[name] = f"{value}/{cap}" if cap is not None else value
    return fields


def _print_dry_run(devices, episodes: int) -> None:
    for device in devices:
        summary = device.dry_run_summary()
        plan = device.dry_run_plan
        console.print(f"dry run on {summary['backend']}: nothing was submitted.")
        if summary["note"]:
            console.print(f"  note: {summary['note']}")
        console.print(f"  {episodes} episodes would submit {summary['jobs']} jobs, "
                      f"{summary['executions']} circuit executions, {summary['shots']} shots, "
                      f"about {summary['qpu_seconds_estimate']:.0f} QPU seconds (estimate).")
        if plan:
            first = plan[0]
            console.print(f"  each job: PUB shapes [observables, rows] {first['pub_shapes']}, "
                          f"{first['shots']} shots per circuit")
            for circuit in first["circuits"]:
                console.print(f"  circuit: {circuit['qubits']} qubits, gates {circuit['gates']}, "
                              f"{circuit['parameters']} parameters")
        budget = device.budget
        if not budget.unlimited:
            console.print(f"  budget of the backend: {budget}")

"""``qrl compare``: a grid of agents × seeds at equal environment steps, and an honest report.

The arms come from an experiment file (:mod:`qrl.experiments.spec`). Every arm
gets the same budget of environment steps per seed (its ``total_env_steps``);
each seed is then scored by the mean return of its last ``score_window`` episodes
that ended within the budget, and its sample-efficiency curve is read on a common
grid of environment steps (:mod:`qrl.experiments.runner`).

Seeds run in parallel in local processes or as Ray tasks on an existing cluster
(``--ray-address``). Each seed lives in ``OUT/<arm>/seed<k>/`` (a normal run
directory plus ``result.json``); seeds with a ``result.json`` are never rerun, and
an interrupted seed resumes from its checkpoint. The report
(:mod:`qrl.experiments.report`): ``summary.csv``, ``comparisons.csv`` and figures.

**Example**

>>> exp = load_experiment("experiments/cartpole_reinforce.yaml")   # doctest: +SKIP
>>> rows, _ = run_experiment(exp, out="runs/compare-cartpole", seeds=10, workers=2)   # doctest: +SKIP
>>> [(r["arm"], round(r["iqm"])) for r in rows]   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from classical.common.config import ConfigError
from qrl.experiments.report import report, verdict
from qrl.experiments.runner import RESULT_FILE, execute, run_seed
from qrl.experiments.spec import Experiment, load_experiment, resolve_arms


def plan(exp: Experiment, out: Path, root: Path = Path("."), backends_file: str | None = None) -> list[dict]:
    """Every (arm, seed) task of the experiment, finished or not."""
    arms = resolve_arms(exp, root, backends_file)
    tasks = []
    for name, arm in arms.items():
        for seed in range(exp.first_seed, exp.first_seed + exp.seeds):
            tasks.append({"arm": name, "seed": seed, "algo": arm["algo"], "config": arm["config"],
                          "params": arm["params"], "env_steps": exp.env_steps, "score_window": exp.score_window,
                          "curve_points": exp.curve_points, "seed_dir": str(out / name / f"seed{seed}"),
                          "backends_file": backends_file})
    return tasks


def run_experiment(experiment: Experiment | str | Path, out: str | Path | None = None, seeds: int | None = None,
                   workers: int | None = None, ray_address: str | None = None, backends_file: str | None = None,
                   root: str | Path = ".", progress: Callable[[str], None] | None = print,
                   tensorboard: bool = True, **overrides) -> tuple[list[dict], list[dict]]:
    """Run (or resume) an experiment and write its report; returns (summary rows, comparison rows).

    Args:
        experiment: an :class:`Experiment` or the path of an experiment file.
        out: output folder (default ``runs/compare-<file stem>``).
        seeds: seeds per arm (overrides the file).
        workers: local processes (overrides the file).
        ray_address: run the seeds as Ray tasks on this cluster (e.g. ``auto`` or ``ray://host:10001``).
        backends_file: a backends file other than ``./backends.yaml``.
        root: folder the arms' config paths are relative to.
        progress: called with one line per finished seed (``None``: silent).
        tensorboard: write TensorBoard event files into every (arm, seed) run folder.
        **overrides: other top-level experiment keys, e.g. ``env_steps=500``.
    """
    stem = "experiment"
    if not isinstance(experiment, Experiment):
        stem = Path(experiment).stem
        experiment = load_experiment(experiment, seeds=seeds, workers=workers, **overrides)
    else:
        experiment = experiment.model_copy(update={k: v for k, v in
                                                   dict(seeds=seeds, workers=workers, **overrides).items()
                                                   if v is not None})
    out = Path(out or Path("runs") / f"compare-{stem}")
    out.mkdir(parents=True, exist_ok=True)
    if backends_file:  # every worker gets the file through its task, as an absolute path
        backends_file = str(Path(backends_file).resolve())
    tasks = plan(experiment, out, Path(root), backends_file)
    for task in tasks:
        task["tensorboard"] = tensorboard
    done = sum((Path(t["seed_dir"]) / RESULT_FILE).exists() for t in tasks)
    if progress:
        progress(f"{len(tasks)} seeds in {len(experiment.arms)} arms; {done} already finished, "
                 f"{len(tasks) - done} to run -> {out}")

    def say(res: dict) -> None:
        if progress:
            progress(f"  {res['arm']} seed {res['seed']}: score {res['score']} after {res['env_steps']} steps "
                     f"({res['wall_seconds']:.0f} s)")

    results_list = execute(tasks, run_seed, experiment.workers, ray_address, say)
    results: dict[str, list[dict]] = {}
    for res in results_list:
        results.setdefault(res["arm"], []).append(res)
    return report(results, out, experiment.reference, experiment.bootstrap_reps, experiment.description)


def compare(config: Path, seeds: int | None = None, out: Path | None = None, workers: int | None = None,
            ray_address: str | None = None, backends: Path | None = None, tensorboard: bool = True) -> None:
    """Run the arms × seeds of an experiment file at equal environment steps; write summary.csv and figures.

    Raises:
        ConfigError: the experiment file, an arm's config or an argument is wrong.
    """
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}.")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    if backends is not None and not Path(backends).exists():
        raise ConfigError(f"{backends}: no such backends file.")
    summary, comparisons = run_experiment(config, out, seeds, workers, ray_address,
                                          str(backends) if backends else None, tensorboard=tensorboard)
    cols = ("arm", "params", "env_steps", "seeds", "iqm", "ci_low", "ci_high", "mean", "wall_seconds")
    print("  ".join(f"{c:>12}" for c in cols))
    for row in summary:
        print("  ".join(f"{row[c]:>12.1f}" if isinstance(row[c], float) else f"{row[c]:>12}" for c in cols))
    text = verdict(summary, comparisons)
    if text:
        print(text)


def compare_command(
        config: Path = typer.Option(..., "--config", "-c",
                                    help="experiment file, e.g. experiments/cartpole_reinforce.yaml"),
        seeds: Optional[int] = typer.Option(None, help="seeds per arm (overrides the file)"),
        out: Optional[Path] = typer.Option(None, help="output folder (default runs/compare-<file>)"),
        workers: Optional[int] = typer.Option(None, help="parallel local processes (overrides the file)"),
        ray_address: Optional[str] = typer.Option(
            None, "--ray-address", help="run seeds as Ray tasks on this cluster (auto, ray://host:10001; "
                                        "local starts one here)"),
        backends: Optional[Path] = typer.Option(None, "--backends", help="backends file"),
        tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard",
                                         help="TensorBoard event files in every run folder (tb/)"),
) -> None:
    """Compare agents over seeds at equal environment steps: summary.csv (IQM, 95% CI) and figures."""
    compare(config, seeds, out, workers, ray_address, backends, tensorboard)

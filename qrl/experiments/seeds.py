"""``qrl seeds``: how often a preset solves its task on seeds nobody tuned it on.

For a preset that states a solved criterion (``solved: {eval: success, at_least: 1.0}``
beside ``algo``), train it on N seeds (default 1000 … 1000+N−1, disjoint from the
tuning seeds 0–9), each an ordinary run directory ``OUT/seed<S>/``, in parallel
local processes or as Ray tasks. Each seed is judged by its greedy evaluation
(``eval.csv``) against the criterion. Finished seeds (those with ``result.json``)
are never rerun; an interrupted seed resumes from its checkpoint.

Output: ``seeds.csv`` (one row per seed: solved, the criterion's value, training
episodes and environment steps, training wall time) and ``summary.csv`` (the
success rate with its Wilson 95% interval, and medians over the seeds), also
printed.

**Example**

>>> row = run_seeds("configs/frozenlake_vqc_qlearning.yaml", n=20, workers=2)   # doctest: +SKIP
>>> row["solved"], row["rate_low"], row["rate_high"]   # doctest: +SKIP
(19, 0.7639, 0.9911)
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import typer

from classical.common.config import ConfigError
from qrl.experiments.report import write_csv
from qrl.experiments.runner import execute, finished, prepare_process, train_preset, write_result
from qrl.experiments.spec import SolvedCriterion, read_preset

TUNING_SEEDS = range(0, 10)
SEED_COLUMNS = ("seed", "solved", "value", "eval_return_mean", "episodes", "env_steps", "wall_seconds")
SUMMARY_COLUMNS = ("config", "criterion", "seeds", "n", "solved", "rate", "rate_low", "rate_high",
                   "median_episodes", "median_env_steps", "median_wall_seconds")


def plan_seeds(config: str | Path, n: int, first_seed: int, out: Path,
               backends_file: str | None = None) -> list[dict]:
    """One task per seed; refuses a preset without a solved criterion."""
    data, solved = read_preset(config)
    if solved is None:
        raise ConfigError(f"{config}: no 'solved' criterion, so a seed cannot be judged; add e.g. "
                          "`solved: {eval: return, at_least: 475}` (an eval.csv column and a threshold).")
    return [{"config": str(config), "seed": seed, "seed_dir": str(Path(out) / f"seed{seed}"),
             "solved": solved.model_dump(), "backends_file": backends_file}
            for seed in range(first_seed, first_seed + n)]


def run_preset_seed(task: dict) -> dict:
    """Train the preset with one seed (resuming an interrupted run), judge its greedy evaluation."""
    prepare_process(task)

    if (done := finished(task)) is not None:
        return done
    seed_dir = Path(task["seed_dir"])
    seed_dir.mkdir(parents=True, exist_ok=True)
    resume = (seed_dir / "checkpoint.pt").exists()
    start = time.perf_counter()
    summary = train_preset(task["config"], seed_dir, resume=resume, tensorboard=task.get("tensorboard", True),
                           backends_file=task.get("backends_file"), seed=task["seed"])
    criterion = SolvedCriterion(**task["solved"])
    eval_rows, metrics = _read_csv(seed_dir / "eval.csv"), _read_csv(seed_dir / "metrics.csv")
    value = criterion.value(eval_rows)
    wall = float(metrics[-1].get("wall_seconds") or 0.0) if metrics else 0.0
    returns = [float(r["return"]) for r in eval_rows if r.get("return") not in (None, "")]
    return write_result(seed_dir, {
        "seed": task["seed"], "solved": value is not None and value >= criterion.at_least,
        "value": value, "eval_return_mean": float(np.mean(returns)) if returns else None,
        "episodes": summary.get("episodes"), "env_steps": summary.get("env_steps"),
        "wall_seconds": wall or time.perf_counter() - start})


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summarize(results: list[dict], config: str = "", criterion: str = "") -> dict:
    """The success rate with its Wilson 95% interval and the medians over the seeds."""
    from classical.common import stats

    n = len(results)
    solved = sum(bool(r["solved"]) for r in results)
    rate = stats.success_rate(solved, n)
    seeds = sorted(r["seed"] for r in results)

    def median(key: str) -> float | None:
        values = [r[key] for r in results if r.get(key) is not None]
        return float(np.median(values)) if values else None

    return {"config": config, "criterion": criterion, "seeds": f"{seeds[0]}-{seeds[-1]}" if seeds else "",
            "n": n, "solved": solved, "rate": rate.point, "rate_low": rate.low, "rate_high": rate.high,
            "median_episodes": median("episodes"), "median_env_steps": median("env_steps"),
            "median_wall_seconds": median("wall_seconds")}


def run_seeds(config: str | Path, n: int = 20, first_seed: int = 1000, out: str | Path | None = None,
              workers: int = 1, ray_address: str | None = None, backends_file: str | None = None,
              progress: Callable[[str], None] | None = print, tensorboard: bool = True) -> dict:
    """Train the preset on ``n`` seeds (skipping finished ones), write seeds.csv and summary.csv.

    Args:
        config: a preset with a ``solved`` criterion.
        n: number of seeds, ``first_seed`` … ``first_seed + n − 1``.
        first_seed: the first seed (1000 by default, outside the tuning seeds 0–9).
        out: output folder (default ``runs/seeds-<preset stem>``).
        workers: local processes.
        ray_address: run the seeds as Ray tasks on this cluster.
        backends_file: a backends file other than ``./backends.yaml``.
        progress: called with one line per finished seed (``None``: silent).
        tensorboard: write TensorBoard event files into every seed's folder.

    Returns:
        The summary row (see :func:`summarize`).
    """
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}.")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    if backends_file is not None and not Path(backends_file).exists():
        raise ConfigError(f"{backends_file}: no such backends file.")
    if not Path(config).exists():
        raise ConfigError(f"{config}: no such file.")
    out = Path(out or Path("runs") / f"seeds-{Path(config).stem}")
    out.mkdir(parents=True, exist_ok=True)
    tasks = plan_seeds(config, n, first_seed, out, str(Path(backends_file).resolve()) if backends_file else None)
    for task in tasks:
        task["tensorboard"] = tensorboard
    say = progress or (lambda line: None)
    overlap = sorted(set(range(first_seed, first_seed + n)) & set(TUNING_SEEDS))
    if overlap:
        say(f"note: seeds {overlap[0]}-{overlap[-1]} are tuning seeds; a claim needs fresh seeds (1000 and up).")
    done = sum(finished(t) is not None for t in tasks)
    say(f"{n} seeds ({first_seed}-{first_seed + n - 1}); {done} already finished, {n - done} to run -> {out}")

    def report_seed(res: dict) -> None:
        say(f"  seed {res['seed']}: {'solved' if res['solved'] else 'NOT solved'} (value {res['value']}) after "
            f"{res['episodes']} episodes, {res['env_steps']} steps ({res['wall_seconds']:.0f} s)")

    results = execute(tasks, run_preset_seed, workers, ray_address, report_seed)
    criterion = read_preset(config)[1]
    row = summarize(results, str(config), criterion.describe())
    write_csv(out / "seeds.csv", sorted(results, key=lambda r: r["seed"]), SEED_COLUMNS)
    write_csv(out / "summary.csv", [row], SUMMARY_COLUMNS)
    say(format_summary(row))
    return row


def format_summary(row: dict) -> str:
    """One sentence: solved k of n, the rate with its Wilson interval, the medians."""
    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    return (f"{row['config']}: solved {row['solved']} of {row['n']} seeds ({row['seeds']}; {row['criterion']}): "
            f"rate {row['rate']:.2f}, Wilson 95% [{row['rate_low']:.2f}, {row['rate_high']:.2f}]; median "
            f"{num(row['median_episodes'], '.0f')} episodes, {num(row['median_env_steps'], '.0f')} env steps, "
            f"{num(row['median_wall_seconds'], '.0f')} s of training per seed")


def seeds_command(
        config: Path = typer.Option(..., "--config", "-c", help="preset with a 'solved' criterion"),
        n: int = typer.Option(20, "--n", help="number of seeds"),
        first_seed: int = typer.Option(1000, "--first-seed", help="first seed (tuning uses 0-9)"),
        workers: int = typer.Option(1, help="parallel local processes"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                                  help="run seeds as Ray tasks on this cluster"),
        out: Optional[Path] = typer.Option(None, help="output folder (default runs/seeds-<preset>)"),
        backends: Optional[Path] = typer.Option(None, "--backends", help="backends file"),
        tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard",
                                         help="TensorBoard event files in every run folder (tb/)"),
) -> None:
    """Success rate of a preset on fresh seeds, with its Wilson 95% interval: seeds.csv and summary.csv."""
    run_seeds(config, n, first_seed, out, workers, ray_address, str(backends) if backends else None,
              tensorboard=tensorboard)

"""Training jobs and the executor behind ``qrl compare`` and ``qrl seeds``.

A job is one (arm, seed) or one (preset, seed): a plain dict with a ``seed_dir``.
The job function trains (or resumes) it and writes ``seed_dir/result.json``;
:func:`execute` runs the jobs without that file in local processes
(``concurrent.futures``, spawn) or as Ray tasks on an existing cluster
(``ray_address``), so a repeated command skips finished seeds and an interrupted
seed resumes from its checkpoint.

**Example**

>>> summary = train_preset("configs/cartpole_mlp_reinforce.yaml", "runs/x", episodes=20)   # doctest: +SKIP
>>> results = execute(tasks, run_seed, workers=2)   # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from classical.common.config import ConfigError, resolve_algo
from qrl.experiments.spec import read_preset

RESULT_FILE = "result.json"



def train_preset(config: str | Path | None, out: str | Path, algo: str | None = None, resume: bool = False,
                 tensorboard: bool = True, backends_file: str | None = None, **overrides) -> dict:
    """Train a ``configs/`` preset as ``qrl train`` would, with Config fields overridden; returns its summary.

    ``algo`` replaces the preset's training module (e.g. a hybrid that extends the preset's Config);
    with ``config=None`` the module's defaults are the preset. ``resume`` continues from the
    checkpoint in ``out``; ``tensorboard`` writes event files into ``out/tb``; ``backends_file`` is the
    backends file (default ``./backends.yaml``, then the packaged one).

    The run directory ``out`` gets config.yaml, the metrics file, checkpoint, curve.png and eval.csv.

    **Example**

    >>> train_preset("configs/cartpole_mlp_reinforce.yaml", "runs/nb-mlp", episodes=20)   # doctest: +SKIP
    {'episodes': 20, 'env_steps': ..., ...}
    """
    from qrl.training import plan_training

    data = read_preset(config)[0] if config is not None else {}
    data["algo"] = algo or data.get("algo")
    plan = plan_training(data, overrides, out, resume=resume, overwrite=not resume, extend_budget=resume,
                         tensorboard=tensorboard, backends_file=backends_file)
    plan.out.mkdir(parents=True, exist_ok=True)
    with open(plan.out / "train.log", "a") as log, contextlib.redirect_stderr(log):
        return plan.run()


# -- baselines without training -------------------------------------------
def _cartpole_heuristic(obs: np.ndarray) -> int:
    """Push towards the side the pole is falling to (angle plus angular velocity)."""
    return int(obs[2] + obs[3] > 0)


HEURISTICS: dict[str, Callable[[np.ndarray], int]] = {"CartPole-v1": _cartpole_heuristic,
                                                       "CartPole-v0": _cartpole_heuristic}


def play_fixed_policy(kind: str, config: dict, seed: int, env_steps: int, run) -> dict:
    """Play a random or heuristic policy for ``env_steps`` steps, logging episodes like a training run."""
    from classical.common.rollouts import make_env

    env_id = config.get("env_id", "CartPole-v1")
    env = make_env(env_id, **(config.get("env_kwargs") or {}))
    env.action_space.seed(seed)
    start, steps, episode = time.perf_counter(), 0, 0
    while steps < env_steps:
        obs, _ = env.reset(seed=seed * 1_000_003 + episode)
        total, done = 0.0, False
        while not done:
            action = env.action_space.sample() if kind == "random" else HEURISTICS[env_id](np.asarray(obs))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
        episode += 1
        run.log({"episode": episode, "return": total, "env_steps": steps,
                 "wall_seconds": round(time.perf_counter() - start, 3)})
    env.close()
    return {"episodes": episode, "env_steps": steps}



# -- one seed --------------------------------------------------------------
def _metrics(seed_dir: Path) -> tuple[np.ndarray, np.ndarray, float]:
    path = seed_dir / "metrics.csv"
    if not path.exists():
        return np.zeros(0), np.zeros(0), 0.0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    steps = np.array([float(r["env_steps"]) for r in rows])
    rets = np.array([float(r["return"]) for r in rows])
    wall = float(rows[-1].get("wall_seconds") or 0.0) if rows else 0.0
    return steps, rets, wall


def _train_to_budget(algo: str, config: dict, seed_dir: Path, env_steps: int, tensorboard: bool = True,
                     backends_file: str | None = None) -> None:
    """Train with the algorithm's own run() for exactly ``env_steps`` environment steps (resuming an
    interrupted seed from its checkpoint).

    Every trainer honours the vocabulary's ``total_env_steps`` (README, "Config vocabulary"), so the
    step budget alone decides: the preset's episode limit is lifted, or it would stop some arms early.
    """
    from qrl.training import train_from_config

    if "total_env_steps" not in resolve_algo(algo).Config.model_fields:
        raise ConfigError(f"{algo}: its Config has no 'total_env_steps', so qrl compare cannot give it an "
                          "environment-step budget; compare trainers that follow the config vocabulary.")
    resume = (seed_dir / "checkpoint.pt").exists()
    train_from_config({"algo": algo, **config}, {"total_env_steps": env_steps, "episodes": None}, out=seed_dir,
                      resume=resume, overwrite=not resume, extend_budget=True, tensorboard=tensorboard,
                      backends_file=backends_file)


def prepare_process(task: dict) -> None:
    """One thread per job (the job's backends file travels in ``task["backends_file"]``)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}` in this process)


def finished(task: dict) -> dict | None:
    """The task's ``result.json`` if it has one."""
    path = Path(task["seed_dir"]) / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else None


def write_result(seed_dir: Path, result: dict) -> dict:
    """Write ``result.json`` atomically (a killed job never leaves half a file that would mark it finished)."""
    path = Path(seed_dir) / RESULT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)
    return result


def run_seed(task: dict) -> dict:
    """Train (or play) one arm of ``qrl compare`` for one seed to the step budget; write ``result.json``."""
    prepare_process(task)
    from classical.common import stats
    from classical.common.rundir import RunDir

    if (done := finished(task)) is not None:
        return done
    seed_dir = Path(task["seed_dir"])
    seed_dir.mkdir(parents=True, exist_ok=True)
    config = {**task["config"], "seed": task["seed"]}
    budget = task["env_steps"]
    start = time.perf_counter()
    # Progress bars of many parallel seeds would interleave; each seed's go to its own log.
    with open(seed_dir / "train.log", "a") as log, contextlib.redirect_stderr(log):
        if task["algo"] in ("random", "heuristic"):
            run = RunDir(seed_dir, tensorboard=task.get("tensorboard", True))
            run.write_config({"algo": task["algo"], **config})
            play_fixed_policy(task["algo"], config, task["seed"], budget, run)
        else:
            _train_to_budget(task["algo"], config, seed_dir, budget, task.get("tensorboard", True),
                             task.get("backends_file"))
    steps, rets, wall = _metrics(seed_dir)
    within = steps <= budget
    grid = np.linspace(budget / task["curve_points"], budget, task["curve_points"])
    score = stats.value_at_steps(steps[within], rets[within], [budget], task["score_window"])[0]
    return write_result(seed_dir, {
        "arm": task["arm"], "seed": task["seed"], "score": None if np.isnan(score) else float(score),
        "env_steps": int(steps[within][-1]) if within.any() else 0,
        "env_steps_run": int(steps[-1]) if len(steps) else 0,
        "episodes": int(within.sum()), "params": task["params"],
        "wall_seconds": wall or time.perf_counter() - start,
        "curve_steps": grid.tolist(),
        "curve": [None if np.isnan(v) else float(v) for v in stats.value_at_steps(steps, rets, grid,
                                                                                   task["score_window"])]})


# -- the executor ----------------------------------------------------------
def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def execute(tasks: list[dict], job: Callable[[dict], dict] = run_seed, workers: int = 2,
            ray_address: str | None = None, on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run ``job`` on the unfinished tasks in local processes or on Ray; return every task's result.

    Args:
        tasks: dicts with a ``seed_dir``; a task whose ``seed_dir/result.json`` exists is skipped.
        job: a module-level function (it is pickled into the workers) that writes the result file.
        workers: local processes (1: run here, one after another).
        ray_address: run the jobs as Ray tasks on this cluster (``auto``, ``ray://host:10001``, ``local``).
        on_result: called with each new result as it arrives.
    """
    todo = [t for t in tasks if not (Path(t["seed_dir"]) / RESULT_FILE).exists()]
    say = on_result or (lambda res: None)
    if todo and ray_address:
        import ray

        ray.init(address=ray_address, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(num_cpus=1)(job)
        pending = [remote.remote(t) for t in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            say(ray.get(ready[0]))
    elif todo and workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                    initializer=_init_worker) as pool:
            for fut in cf.as_completed([pool.submit(job, t) for t in todo]):
                say(fut.result())
    else:
        for t in todo:
            say(job(t))
    return [finished(t) for t in tasks]

"""``qrl compare``: a grid of agents × seeds at equal environment steps, and an honest report.

An experiment file (``experiments/*.yaml``) names arms. Each arm is a training
config under ``configs/`` (the ``qrl train`` contract: ``algo`` + its Config)
with optional changes — another ``model``, ``backend`` or any ``overrides`` — or
a built-in baseline:

- ``param_matched_mlp``: a one-hidden-layer MLP whose parameter count is closest to
  that of the arm named by ``match`` (a circuit), via :func:`classical.rl.models.mlp_sized_to`;
- ``default_mlp``: the MLP of the algorithm's default size (64, 64);
- ``random``: uniformly random actions; ``heuristic``: a hand-written controller
  where one exists (CartPole: push towards the side the pole falls to).

Every arm gets the same budget of environment steps per seed. Runs that count
episodes are trained in chunks (resuming from their checkpoint) until the budget
is spent; each seed is then scored by the mean return of its last
``score_window`` episodes that ended within the budget, and its sample-efficiency
curve is read on a common grid of environment steps.

Seeds run in parallel in local processes (``concurrent.futures``) or as Ray
tasks on an existing cluster (``--ray-address``). Each seed lives in
``OUT/<arm>/seed<k>/`` (a normal run directory plus ``result.json``); seeds with
a ``result.json`` are never rerun, and an interrupted seed resumes from its
checkpoint. The report: ``summary.csv`` (one row per arm), ``comparisons.csv``
(every arm against the reference arm: probability of improvement with CI and
Welch's t-test) and figures ``iqm.png``, ``sample_efficiency.png``,
``performance_profile.png``.

**Example**

>>> exp = load_experiment("experiments/cartpole_reinforce.yaml")   # doctest: +SKIP
>>> rows = run_experiment(exp, out="runs/compare-cartpole", seeds=10, workers=2)   # doctest: +SKIP
>>> [(r["arm"], round(r["iqm"])) for r in rows]   # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import json
import math
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import numpy as np
import typer
from pydantic import BaseModel, ConfigDict, Field

from classical.common.config import ConfigError, load_yaml, resolve_algo, validate

RESULT_FILE = "result.json"
BASELINES = ("param_matched_mlp", "default_mlp", "random", "heuristic")
SUMMARY_COLUMNS = ("arm", "params", "env_steps", "seeds", "iqm", "ci_low", "ci_high", "mean", "mean_ci_low",
                   "mean_ci_high", "median", "wall_seconds")
# Config fields that count environment steps directly; otherwise the budget is met in episode chunks.
STEP_BUDGET_FIELDS = ("env_steps", "total_steps", "total_timesteps")
MAX_CHUNK_EPISODES = 50  # episode-budgeted runs are resumed in chunks of at most this many episodes


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


def count_params(config: dict, head: str = "policy") -> int:
    """Trainable parameters of the network a resolved training config builds."""
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}`)
    from classical.rl.models import build_model

    obs_dim, n_actions = _env_dims(config.get("env_id", "CartPole-v1"), config.get("env_kwargs") or {})
    model = build_model(config.get("model") or {"type": "mlp"}, head, obs_dim, n_actions, config.get("backend"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def resolve_arms(exp: Experiment, root: Path = Path(".")) -> dict[str, dict]:
    """Each arm as ``{"algo", "config", "params", "baseline"}`` with every change applied."""
    resolved: dict[str, dict] = {}
    order = sorted(exp.arms, key=lambda n: exp.arms[n].baseline == "param_matched_mlp")  # match targets first
    for name in order:
        arm = exp.arms[name]
        where = f"arm '{name}'"
        data = load_yaml(root / arm.config)
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
            if arm.baseline == "heuristic" and data.get("env_id", "CartPole-v1") not in HEURISTICS:
                raise ConfigError(f"{where}: no heuristic policy for {data.get('env_id')}; "
                                  f"known: {', '.join(HEURISTICS)}.")
            resolved[name] = {"algo": arm.baseline, "config": data, "params": 0, "baseline": arm.baseline}
            continue
        module = resolve_algo(algo)
        cfg = validate(module.Config, {**data, "seed": exp.first_seed}, f"{arm.config} ({where})")
        config = cfg.model_dump()
        try:
            params = count_params(config, arm.head)
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        resolved[name] = {"algo": algo, "config": config, "params": params, "baseline": arm.baseline}
    return {name: resolved[name] for name in exp.arms}


def _mlp_learning_rates(lr: dict | None) -> dict:
    """An MLP has one parameter group, 'weights'; keep the config's rate for it."""
    lr = dict(lr or {})
    return {"weights": lr.get("weights", lr.get("default", 0.01))}


def train_preset(config: str | Path | None, out: str | Path, algo: str | None = None, **overrides) -> dict:
    """Train a ``configs/`` preset as ``qrl train`` would, with Config fields overridden; returns its summary.

    ``algo`` replaces the preset's training module (e.g. a hybrid that extends the preset's Config);
    with ``config=None`` the module's defaults are the preset.

    The run directory ``out`` gets config.yaml, the metrics file, checkpoint, curve.png and eval.csv.

    **Example**

    >>> train_preset("configs/cartpole_mlp_reinforce.yaml", "runs/nb-mlp", episodes=20)   # doctest: +SKIP
    {'episodes': 20, 'env_steps': ..., ...}
    """
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}`)
    from classical.common.rundir import RunDir

    data = load_yaml(config) if config is not None else {}
    algo = algo or data.pop("algo", None)
    data.pop("algo", None)
    if not algo:
        raise ConfigError(f"{config}: missing key 'algo' (the training module).")
    module = resolve_algo(algo)
    cfg = validate(module.Config, {**data, **overrides}, str(config or algo))
    run = RunDir(out, metrics_name=getattr(module, "METRICS_FILE", "metrics.csv"))
    run.write_config({"algo": algo, **cfg.model_dump()})
    with open(Path(out) / "train.log", "a") as log, contextlib.redirect_stderr(log):
        summary = module.run(cfg, run)
    return dict(summary or {})


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


def _train_to_budget(algo: str, config: dict, seed_dir: Path, env_steps: int) -> None:
    """Train with the algorithm's own run() until ``env_steps`` are spent, resuming between chunks."""
    from classical.common.rundir import RunDir

    module = resolve_algo(algo)
    fields = module.Config.model_fields
    resume = (seed_dir / "checkpoint.pt").exists()
    step_field = next((f for f in STEP_BUDGET_FIELDS if f in fields), None)
    if step_field is not None:
        cfg = module.Config(**{**config, step_field: env_steps})
        run = RunDir(seed_dir, resume=resume)
        run.write_config({"algo": algo, **cfg.model_dump()})
        module.run(cfg, run)
        return
    if "episodes" not in fields:
        raise ConfigError(f"{algo}: its Config has neither 'episodes' nor one of {STEP_BUDGET_FIELDS}; "
                          "qrl compare cannot give it an environment-step budget.")
    batch = int(config.get("batch_episodes", 1) or 1)
    last_episodes = -1
    while True:
        steps, _, _ = _metrics(seed_dir)
        done_steps, done_episodes = (int(steps[-1]) if len(steps) else 0), len(steps)
        if done_steps >= env_steps or done_episodes == last_episodes:  # budget spent, or the run stopped itself
            return
        last_episodes = done_episodes
        recent = np.diff(np.concatenate([[0.0], steps]))[-10:] if len(steps) else np.array([20.0])
        # Episodes lengthen as an agent learns, so spend at most half the estimated remainder per chunk.
        more = math.ceil((env_steps - done_steps) / max(float(np.mean(recent)), 1.0) / 2)
        more = min(more, max(MAX_CHUNK_EPISODES, batch))
        target = done_episodes + max(batch, math.ceil(more / batch) * batch)
        cfg = module.Config(**{**config, "episodes": target})
        run = RunDir(seed_dir, resume=resume)
        run.write_config({"algo": algo, **cfg.model_dump()})
        module.run(cfg, run)
        resume = True


def run_seed(task: dict) -> dict:
    """Train (or play) one arm for one seed and write ``result.json``; the unit of parallel work."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if task.get("backends_file"):
        os.environ["QRL_BACKENDS"] = task["backends_file"]
    import torch

    torch.set_num_threads(1)
    import qrl.models  # noqa: F401  (registers `model: {type: vqc}` in this process)
    from classical.common import stats
    from classical.common.rundir import RunDir

    seed_dir = Path(task["seed_dir"])
    result_path = seed_dir / RESULT_FILE
    if result_path.exists():
        return json.loads(result_path.read_text())
    seed_dir.mkdir(parents=True, exist_ok=True)
    config = {**task["config"], "seed": task["seed"]}
    budget = task["env_steps"]
    start = time.perf_counter()
    # Progress bars of many parallel seeds would interleave; each seed's go to its own log.
    with open(seed_dir / "train.log", "a") as log, contextlib.redirect_stderr(log):
        if task["algo"] in ("random", "heuristic"):
            run = RunDir(seed_dir)
            run.write_config({"algo": task["algo"], **config})
            play_fixed_policy(task["algo"], config, task["seed"], budget, run)
        else:
            _train_to_budget(task["algo"], config, seed_dir, budget)
    steps, rets, wall = _metrics(seed_dir)
    within = steps <= budget
    grid = np.linspace(budget / task["curve_points"], budget, task["curve_points"])
    score = stats.value_at_steps(steps[within], rets[within], [budget], task["score_window"])[0]
    result = {"arm": task["arm"], "seed": task["seed"], "score": None if np.isnan(score) else float(score),
              "env_steps": int(steps[within][-1]) if within.any() else 0,
              "env_steps_run": int(steps[-1]) if len(steps) else 0,
              "episodes": int(within.sum()), "params": task["params"],
              "wall_seconds": wall or time.perf_counter() - start,
              "curve_steps": grid.tolist(),
              "curve": [None if np.isnan(v) else float(v)
                        for v in stats.value_at_steps(steps, rets, grid, task["score_window"])]}
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, result_path)
    return result


# -- the grid --------------------------------------------------------------
def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def plan(exp: Experiment, out: Path, root: Path = Path("."), backends_file: str | None = None) -> list[dict]:
    """Every (arm, seed) task of the experiment, finished or not."""
    arms = resolve_arms(exp, root)
    tasks = []
    for name, arm in arms.items():
        for seed in range(exp.first_seed, exp.first_seed + exp.seeds):
            tasks.append({"arm": name, "seed": seed, "algo": arm["algo"], "config": arm["config"],
                          "params": arm["params"], "env_steps": exp.env_steps, "score_window": exp.score_window,
                          "curve_points": exp.curve_points, "seed_dir": str(out / name / f"seed{seed}"),
                          "backends_file": backends_file})
    return tasks


def execute(tasks: list[dict], workers: int = 2, ray_address: str | None = None,
            on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the unfinished tasks in local processes or on Ray; return every task's result."""
    todo = [t for t in tasks if not (Path(t["seed_dir"]) / RESULT_FILE).exists()]
    if todo and ray_address:
        import ray

        ray.init(address=ray_address, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(num_cpus=1)(run_seed)
        pending = {remote.remote(t): t for t in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                pending.pop(ref)
                res = ray.get(ref)
                if on_result:
                    on_result(res)
    elif todo and workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                    initializer=_init_worker) as pool:
            futures = [pool.submit(run_seed, t) for t in todo]
            for fut in cf.as_completed(futures):
                res = fut.result()
                if on_result:
                    on_result(res)
    else:
        for t in todo:
            res = run_seed(t)
            if on_result:
                on_result(res)
    return [json.loads((Path(t["seed_dir"]) / RESULT_FILE).read_text()) for t in tasks]


# -- the report ------------------------------------------------------------
def load_results(out: str | Path) -> dict[str, list[dict]]:
    """Every finished seed under ``out``, by arm (the arm order of ``summary.csv`` when it exists)."""
    out = Path(out)
    by_arm: dict[str, list[dict]] = {}
    for path in sorted(out.glob(f"*/seed*/{RESULT_FILE}")):
        res = json.loads(path.read_text())
        by_arm.setdefault(res["arm"], []).append(res)
    for rows in by_arm.values():
        rows.sort(key=lambda r: r["seed"])
    return by_arm


def report(results: dict[str, list[dict]], out: str | Path, reference: str | None = None,
           reps: int = 10_000, title: str = "") -> tuple[list[dict], list[dict]]:
    """Write ``summary.csv``, ``comparisons.csv`` and the figures; return (summary rows, comparison rows)."""
    from classical.common import plotting, stats

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores = {arm: np.array([r["score"] for r in rs if r["score"] is not None]) for arm, rs in results.items()}
    summary = []
    for arm, rs in results.items():
        s = scores[arm]
        i = stats.interval_estimate(s, stats.iqm, reps) if len(s) else stats.Estimate(*[float("nan")] * 3)
        m = stats.interval_estimate(s, stats.mean, reps) if len(s) else stats.Estimate(*[float("nan")] * 3)
        summary.append({"arm": arm, "params": rs[0]["params"], "env_steps": max(r["env_steps"] for r in rs),
                        "seeds": len(s), "iqm": i.point, "ci_low": i.low, "ci_high": i.high, "mean": m.point,
                        "mean_ci_low": m.low, "mean_ci_high": m.high,
                        "median": stats.median(s) if len(s) else float("nan"),
                        "wall_seconds": float(np.median([r["wall_seconds"] for r in rs]))})
    _write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS)

    reference = reference or next(iter(results))
    comparisons = []
    for arm in results:
        if arm == reference or len(scores[arm]) < 2 or len(scores[reference]) < 2:
            continue
        poi = stats.probability_of_improvement_ci(scores[reference], scores[arm], reps=min(reps, 2000))
        welch = stats.welch_t_test(scores[reference], scores[arm])
        comparisons.append({"reference": reference, "arm": arm, "p_reference_better": poi.point,
                            "p_low": poi.low, "p_high": poi.high, "mean_difference": welch.difference,
                            "welch_t": welch.t, "welch_p": welch.p_value})
    if comparisons:
        _write_csv(out / "comparisons.csv", comparisons, tuple(comparisons[0]))

    plotting.iqm_bars(summary, out / "iqm.png", title=title or "IQM return at equal environment steps")
    curves = {}
    for arm, rs in results.items():
        grid = np.asarray(rs[0]["curve_steps"], dtype=float)
        values = np.array([[np.nan if v is None else v for v in r["curve"]] for r in rs], dtype=float)
        curves[arm] = (grid, *stats.curve_with_ci(values, stats.iqm, reps=min(reps, 1000)))
    plotting.sample_efficiency_curves(curves, out / "sample_efficiency.png")
    finite = [s for s in scores.values() if len(s)]
    if finite:
        everything = np.concatenate(finite)
        taus = np.linspace(min(0.0, everything.min()), everything.max(), 60)
        profiles = {arm: (taus, *stats.performance_profile_with_ci(s, taus, reps=min(reps, 2000)))
                    for arm, s in scores.items() if len(s)}
        plotting.performance_profiles(profiles, out / "performance_profile.png")
    return summary, comparisons


def _write_csv(path: Path, rows: list[dict], columns) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                             if k in columns})


def verdict(summary: list[dict], comparisons: list[dict]) -> str:
    """Plain sentences: each arm against the reference, with IQMs, CIs and P(reference better)."""
    by_arm = {r["arm"]: r for r in summary}
    lines = []
    for c in comparisons:
        ref, other = by_arm[c["reference"]], by_arm[c["arm"]]
        if ref["ci_low"] > other["ci_high"]:
            word = "BETTER than"
        elif ref["ci_high"] < other["ci_low"]:
            word = "WORSE than"
        else:
            word = "not distinguishable (overlapping 95% CIs) from"
        lines.append(f"{c['reference']} (IQM {ref['iqm']:.1f}, 95% CI [{ref['ci_low']:.1f}, {ref['ci_high']:.1f}]) "
                     f"is {word} {c['arm']} (IQM {other['iqm']:.1f} [{other['ci_low']:.1f}, "
                     f"{other['ci_high']:.1f}]); P({c['reference']} > {c['arm']}) = {c['p_reference_better']:.2f} "
                     f"[{c['p_low']:.2f}, {c['p_high']:.2f}], Welch p = {c['welch_p']:.3g}.")
        if word.startswith("not") and c["p_high"] < 0.5:
            lines[-1] += (f" But P({c['reference']} > {c['arm']}) is below 0.5 with 95% confidence: "
                          f"{c['arm']} tends to do better.")
        elif word.startswith("not") and c["p_low"] > 0.5:
            lines[-1] += (f" But P({c['reference']} > {c['arm']}) is above 0.5 with 95% confidence: "
                          f"{c['reference']} tends to do better.")
    return "\n".join(lines)


def markdown_table(rows: list[dict], columns: tuple[str, ...] | None = None, digits: int = 1) -> str:
    """Rows as a Markdown table (for notebooks and BENCHMARKS.md)."""
    columns = columns or tuple(rows[0]) if rows else ()
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


RESULTS_DIR = Path("notebooks/results")
QUICK_RESULTS_DIR = Path("runs/notebook_results")


def record_measurements(name: str, measurements: dict, quick: bool) -> Path:
    """Save a notebook's measured numbers (full mode: notebooks/results, quick: runs/notebook_results)."""
    folder = QUICK_RESULTS_DIR if quick else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**measurements, "mode": "quick" if quick else "full"}, indent=1, default=str))
    return path


def load_measurements(name: str) -> dict | None:
    """A notebook's recorded numbers: the full-mode file if there is one, else the quick-mode one."""
    for folder in (RESULTS_DIR, QUICK_RESULTS_DIR):
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    return None


def _cell(template: str, *sources) -> str:
    """Fill ``template`` from nested dicts (``a.b`` paths); 'not measured' if a value is missing."""
    import string

    values = {}
    for _, field, spec, _ in string.Formatter().parse(template):
        if not field:
            continue
        value: Any = sources[0] if sources else None
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return "not measured"
        values[field] = value
    flat = template
    for i, field in enumerate(values):
        flat = flat.replace("{" + field, "{v" + str(i), 1)
    return flat.format(**{f"v{i}": v for i, v in enumerate(values.values())})


def paradigm_matrix() -> list[dict]:
    """The course's paradigm matrix, filled from what notebooks 01–06 recorded (:func:`record_measurements`)."""
    def by_arm(m, key="summary"):
        return {r["arm"]: r for r in (m or {}).get(key, [])} if m else {}

    rows = []
    q, noise = load_measurements("01_reinforce"), load_measurements("02_noise")
    arms = by_arm(q)
    info = {"arms": arms, "seeds": (q or {}).get("seeds"), "steps": (q or {}).get("env_steps")}
    if noise:
        errs = {r["backend"]: r for r in noise.get("backend_errors", [])}
        bp = sorted(noise.get("gradient_variance", []), key=lambda r: (r["n_layers"], r["n_qubits"]))
        info["noise"] = errs
        if bp:
            info["bp"] = {"small": bp[0], "large": max((r for r in bp if r["n_layers"] == bp[0]["n_layers"]),
                                                       key=lambda r: r["n_qubits"])}
    rows.append({
        "paradigm": "quantum (VQC REINFORCE, CartPole)",
        "sample efficiency": _cell("IQM return {arms.vqc.iqm:.0f} [{arms.vqc.ci_low:.0f}, {arms.vqc.ci_high:.0f}] vs "
                                   "param-matched MLP {arms.mlp_matched.iqm:.0f} and default MLP "
                                   "{arms.mlp_default.iqm:.0f} at {steps} env steps ({seeds} seeds)", info),
        "interpretability": _cell("{arms.vqc.params} parameters (default MLP: {arms.mlp_default.params})", info),
        "scalability": _cell("{arms.vqc.wall_seconds:.0f} s/seed simulated vs {arms.mlp_matched.wall_seconds:.1f} s "
                             "for the MLP; gradient variance {bp.small.grad_variance:.2g} at {bp.small.n_qubits} "
                             "qubits -> {bp.large.grad_variance:.2g} at {bp.large.n_qubits}", info),
        "robustness": _noise_cell(info.get("noise")),
        "source": ", ".join(m.get("mode", "?") for m in (q, noise) if m) or "none"})

    wm = load_measurements("03_world_models")
    runs = (wm or {}).get("runs", {})
    rows.append({"paradigm": "world models (CEM-MPC on Pendulum; Dreamer on FourDControl)",
                 "sample efficiency": _join(
                     _cell("CEM-MPC eval return {cem_mpc.eval_mean_return:.0f} after {cem_mpc.env_steps} real "
                           "steps", runs),
                     _cell("Dreamer MLP actor {dreamer_mlp.eval_mean_return:.0f}, circuit actor "
                           "{dreamer_vqc.eval_mean_return:.0f} after {dreamer_mlp.env_steps} steps", runs)),
                 "interpretability": "not measured",
                 "scalability": _cell("{cem_mpc.plan_ms:.0f} ms per planning step", runs),
                 "robustness": "not measured", "source": (wm or {}).get("mode", "none")})

    ma = load_measurements("04_multi_agent")
    runs = (ma or {}).get("runs", {})
    rows.append({"paradigm": "multi-agent (QMIX, simple_spread)",
                 "sample efficiency": _cell("eval return MLP agents {qmix_mlp.eval_return_mean:.1f}, circuit agents "
                                            "{qmix_vqc.eval_return_mean:.1f} after {qmix_mlp.env_steps} joint steps",
                                            runs),
                 "interpretability": "not measured",
                 "scalability": _cell("{qmix_mlp.n_params} parameters (MLP) vs {qmix_vqc.n_params} (circuits)", runs),
                 "robustness": "not measured", "source": (ma or {}).get("mode", "none")})

    ca = load_measurements("05_causal")
    runs = (ca or {}).get("runs", {})
    rows.append({"paradigm": "causal (CausalShift-v0)",
                 "sample efficiency": _cell("eval return MLP {causal_mlp.eval_return:.1f}, circuit "
                                            "{causal_vqc.eval_return:.1f} after {causal_mlp.episodes} episodes", runs),
                 "interpretability": _cell("discovered reward parents {causal_vqc.features} -> "
                                           "{causal_vqc.qubits} qubits", runs),
                 "scalability": _cell("{causal_mlp.params} parameters (MLP) vs {causal_vqc.params} (circuit)", runs),
                 "robustness": _cell("after the spurious feature flips: MLP {causal_mlp.eval_return_shifted:.1f}, "
                                     "circuit {causal_vqc.eval_return_shifted:.1f}", runs),
                 "source": (ca or {}).get("mode", "none")})

    fe = load_measurements("06_federated")
    runs = (fe or {}).get("runs", {})
    rows.append({"paradigm": "federated (FedAvg + DP + secure aggregation, CartPole)",
                 "sample efficiency": _cell("mean client return MLP {fed_mlp.final_mean_return:.0f}, circuit "
                                            "{fed_vqc.final_mean_return:.0f} after {fed_mlp.rounds} rounds", runs),
                 "interpretability": "not measured",
                 "scalability": _cell("bytes uploaded MLP {fed_mlp.bytes_up_total}, circuit {fed_vqc.bytes_up_total}",
                                      runs),
                 "robustness": _cell("held-out physics return MLP {fed_mlp.final_held_out_return:.0f}, circuit "
                                     "{fed_vqc.final_held_out_return:.0f}; privacy ε {fed_mlp.epsilon:.2f} / "
                                     "{fed_vqc.epsilon:.2f}", runs),
                 "source": (fe or {}).get("mode", "none")})
    return rows


def _join(*cells: str) -> str:
    measured = [c for c in cells if c != "not measured"]
    return "; ".join(measured) if measured else "not measured"


def _noise_cell(errors: dict | None) -> str:
    if not errors:
        return "not measured"
    parts = [f"{name}: {row['mean_abs_error']:.3f}" for name, row in errors.items() if row["mean_abs_error"] > 0]
    return "mean output error vs exact — " + ", ".join(parts) if parts else "not measured"


def run_experiment(experiment: Experiment | str | Path, out: str | Path | None = None, seeds: int | None = None,
                   workers: int | None = None, ray_address: str | None = None, backends_file: str | None = None,
                   root: str | Path = ".", progress: Callable[[str], None] | None = print,
                   **overrides) -> tuple[list[dict], list[dict]]:
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
    if backends_file:
        os.environ["QRL_BACKENDS"] = str(Path(backends_file).resolve())
        backends_file = os.environ["QRL_BACKENDS"]
    tasks = plan(experiment, out, Path(root), backends_file)
    done = sum((Path(t["seed_dir"]) / RESULT_FILE).exists() for t in tasks)
    if progress:
        progress(f"{len(tasks)} seeds in {len(experiment.arms)} arms; {done} already finished, "
                 f"{len(tasks) - done} to run -> {out}")

    def say(res: dict) -> None:
        if progress:
            progress(f"  {res['arm']} seed {res['seed']}: score {res['score']} after {res['env_steps']} steps "
                     f"({res['wall_seconds']:.0f} s)")

    results_list = execute(tasks, experiment.workers, ray_address, say)
    results: dict[str, list[dict]] = {}
    for res in results_list:
        results.setdefault(res["arm"], []).append(res)
    return report(results, out, experiment.reference, experiment.bootstrap_reps, experiment.description)


def compare(config: Path, seeds: int | None = None, out: Path | None = None, workers: int | None = None,
            ray_address: str | None = None, backends: Path | None = None) -> None:
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
                                          str(backends) if backends else None)
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
        backends: Optional[Path] = typer.Option(None, "--backends", help="backends file")) -> None:
    """Compare agents over seeds at equal environment steps: summary.csv (IQM, 95% CI) and figures."""
    compare(config, seeds, out, workers, ray_address, backends)

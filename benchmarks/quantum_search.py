"""Benchmarks of issue 22 (part B): quantum policy iteration, Grover action search, quantum replay, kernel LSTD.

Parts (``--parts``), each printing JSON rows and writing ``<out>/<part>.json``:

- ``policy_iteration``: MLAE vs Monte Carlo error against oracle calls for the optimal policy of
  the 3×3 slippery FrozenLake (horizon 5), log-log slopes; Dürr–Høyer Grover search over the
  16,384 stationary policies on fresh seeds vs value iteration.
- ``grover_actions``: Grover action search (Dong et al. 2008) vs ε-greedy tabular Q-learning,
  via their presets, on fresh seeds.
- ``replay``: the MLP DQN on CartPole with uniform, prioritized and quantum-inspired replay.
- ``kernels``: kernel LSTD with the fidelity and the RBF kernel on a random-walk chain.

Usage::

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/quantum_search.py --parts policy_iteration
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def bench_policy_iteration(seeds, out: Path, quick: bool = False) -> dict:
    from qrl.algorithms.amplitude_estimation import loglog_slope
    from qrl.algorithms.policy_iteration import (
        ReturnTask,
        evaluation_error_vs_calls,
        frozen_lake,
        grover_policy_search,
        value_iteration,
    )

    mdp = frozen_lake(["SFF", "FHF", "FFG"], horizon=5)
    v_star, policies = value_iteration(mdp)
    task = ReturnTask(mdp, policies[0])
    start = time.perf_counter()
    shots = 100
    rows = evaluation_error_vs_calls(task, repeats=20 if quick else 200, shots=shots,
                                     max_powers=4 if quick else 9, seed=seeds[0])
    # the whole range, and the budgets where the largest Grover power dominates (k >= 4: 18 x shots calls)
    slopes = {m: loglog_slope(rows, m) for m in ("mlae", "monte_carlo", "cramer_rao")}
    slopes |= {f"{m}_k>=4": loglog_slope(rows, m, min_calls=18 * shots) for m in ("mlae", "monte_carlo", "cramer_rao")}
    ae_seconds = time.perf_counter() - start
    searches = [grover_policy_search(mdp, seed=s) for s in seeds]
    result = {"value": task.value, "v_star": v_star, "n_qubits": task.n_qubits, "error_rows": rows,
              "slopes": slopes, "ae_seconds": round(ae_seconds, 1),
              "search": [{"seed": s, "value": r["value"], "queries_to_best": r["queries_to_best"],
                          "queries": r["queries"], "n_policies": r["n_policies"],
                          "optimal": bool(abs(r["value"] - v_star) < 1e-12)} for s, r in zip(seeds, searches)]}
    q = np.array([r["queries_to_best"] for r in result["search"]])
    result["search_summary"] = {"optimal": int(sum(r["optimal"] for r in result["search"])), "runs": len(seeds),
                                "queries_to_best_mean": float(q.mean()), "queries_to_best_max": int(q.max()),
                                "n_policies": searches[0]["n_policies"]}
    return result


def _train_preset(path: str, seed: int, out: Path, **overrides) -> dict:
    from classical.common.config import load_yaml, resolve_algo
    from classical.common.rundir import RunDir

    spec = load_yaml(path)
    module = resolve_algo(spec.pop("algo"))
    spec.update(seed=seed, **overrides)
    return module.run(module.Config(**spec), RunDir(out / f"{Path(path).stem}_{seed}"))


SLIPPERY = {"env_kwargs": {"is_slippery": True}, "episodes": 3000, "eval_every": 250, "solve_episodes": 100,
            "solved_return": 0.7}


def bench_grover_actions(seeds, out: Path, quick: bool = False, tasks=None) -> dict:
    from classical.common.stats import success_rate

    tasks = tasks or {"frozenlake4x4": ({}, "frozenlake"), "gridworld8x8": ({}, "gridworld8x8"),
                      "frozenlake4x4_slippery": (SLIPPERY, "frozenlake")}
    result = {}
    for task, (overrides, stem) in tasks.items():
        for algo in ("grover_search", "qlearning_tabular"):
            runs = [_train_preset(f"configs/{stem}_{algo}.yaml", s, out / task, **overrides) for s in seeds]
            solved = [r for r in runs if r["solved"]]
            est = success_rate(len(solved), len(runs))
            to_solve = np.array([r["episodes_to_solve"] for r in solved])
            result[f"{task}/{algo}"] = {
                "solved": len(solved), "runs": len(runs), "rate": est.point, "wilson_low": est.low,
                "wilson_high": est.high, "criterion": runs[0].get("solved_criterion"),
                "episodes_to_solve_median": float(np.median(to_solve)) if len(to_solve) else None,
                "episodes_to_solve_iqr": [float(np.percentile(to_solve, 25)), float(np.percentile(to_solve, 75))]
                if len(to_solve) else None,
                "final_eval_return_mean": float(np.mean([r["eval_return_mean"] for r in runs]))}
            print(json.dumps({task + "/" + algo: result[f"{task}/{algo}"]}), flush=True)
    return {"results": result}


def bench_kernels(seeds, out: Path, quick: bool = False) -> dict:
    from classical.common.stats import interval_estimate, mean, probability_of_improvement
    from qrl.algorithms.kernel_td import compare

    errors = compare(seeds, n_episodes=20, n_states=19)
    summary = {}
    for name, values in errors.items():
        est = interval_estimate(values, mean, reps=5000)
        summary[name] = {"rmse_mean": est.point, "ci_low": est.low, "ci_high": est.high}
    # P(quantum error < RBF error) on the same transitions
    summary["p_quantum_better"] = probability_of_improvement(-np.array(errors["quantum_fidelity"]),
                                                             -np.array(errors["classical_rbf"]))
    return {"errors": errors, "summary": summary}


def bench_replay(seeds, out: Path, quick: bool = False) -> dict:
    """CartPole MLP DQN (configs/cartpole_mlp_dqn.yaml) at a fixed step budget, per replay type, seeds interleaved."""
    import qrl.models  # noqa: F401  (registers replay type quantum)
    from classical.common.stats import interval_estimate, iqm

    steps = 2_000 if quick else 5_000
    replays = {"uniform": {"type": "uniform"}, "prioritized": {"type": "prioritized"},
               "quantum": {"type": "quantum", "p0": 0.01, "depreciation": 0.1}}
    scores: dict[str, list[float]] = {k: [] for k in replays}
    for seed in seeds:
        for name, replay in replays.items():
            summary = _train_preset("configs/cartpole_mlp_dqn.yaml", seed, out / name, replay=replay,
                                    total_env_steps=steps, episodes=None, solved_return=None, solved_window=20)
            scores[name].append(summary["train_return_mean_recent"])
            print(json.dumps({"replay": name, "seed": seed, "recent_mean_return": scores[name][-1],
                              "eval_return_mean": summary["eval_return_mean"]}), flush=True)
    summary = {}
    for name, values in scores.items():
        est = interval_estimate(values, iqm, reps=5000)
        summary[name] = {"iqm": est.point, "ci_low": est.low, "ci_high": est.high, "runs": len(values)}
    return {"steps": steps, "scores": scores, "summary": summary}


def bench_grover_slippery(seeds, out: Path, quick: bool = False) -> dict:
    return bench_grover_actions(seeds, out, quick, {"frozenlake4x4_slippery": (SLIPPERY, "frozenlake")})


PARTS = {"replay": bench_replay, "grover_slippery": bench_grover_slippery, "policy_iteration": bench_policy_iteration, "grover_actions": bench_grover_actions,
         "kernels": bench_kernels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=sorted(PARTS), default=sorted(PARTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1000, 1020)))
    parser.add_argument("--out", type=Path, default=Path("/tmp/qsearch-runs/bench"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        start = time.perf_counter()
        result = PARTS[part](args.seeds, args.out / part, args.quick)
        result = {"part": part, "seeds": args.seeds, "seconds": round(time.perf_counter() - start, 1), **result}
        (args.out / f"{part}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k not in ("error_rows", "search", "runs")}), flush=True)


if __name__ == "__main__":
    main()

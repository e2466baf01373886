"""Benchmarks of issue 4 (quantum agents and algorithms); prints Markdown tables.

Parts (``--parts``):

- ``agents``: trains the configs of issue 4 (FrozenLake, quantum control 1-3 qubits,
  optionally VQ-DQN CartPole) for ``--seeds`` and reports eval success / fidelity;
- ``ae``: amplitude estimation RMSE vs oracle calls (MLAE, QPE-AE, Monte Carlo);
- ``kernels``: held-out R² of the fidelity-kernel and RBF critics;
- ``barren``: gradient variance vs qubits and layers (writes ``barren_plateaus.png``);
- ``noise``: a trained control agent on ideal / shots / noisy fake-IBM / ZNE / readout-mitigated targets.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quantum_agents_suite.py --parts ae kernels barren --quick
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quantum_agents_suite.py --parts agents --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import qrl.envs  # noqa: F401
import qrl.models  # noqa: F401
from classical.common.config import load_yaml
from classical.common.rundir import RunDir

AGENT_CONFIGS = ["configs/frozenlake_vqc_qlearning.yaml", "configs/quantum_control_1q.yaml",
                 "configs/quantum_control_2q.yaml", "configs/quantum_control_3q.yaml"]


def bench_agents(seeds, out: Path, configs) -> list[dict]:
    from classical.common.config import resolve_algo

    rows = []
    for path in configs:
        for seed in seeds:
            spec = load_yaml(path)
            spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
            module = resolve_algo(spec.pop("algo"))
            spec["seed"] = seed
            start = time.perf_counter()
            summary = module.run(module.Config(**spec), RunDir(out / f"{Path(path).stem}_s{seed}"))
            rows.append({"config": path, "seed": seed, "seconds": round(time.perf_counter() - start, 1), **summary})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_ae(quick: bool) -> list[dict]:
    from qrl.algorithms.amplitude_estimation import BanditTask, error_vs_calls, loglog_slope

    task = BanditTask(policy=[0.4, 0.3, 0.2, 0.1], rewards=[0.9, 0.5, 0.2, 0.6])
    rows = error_vs_calls(task, repeats=30 if quick else 200, shots=100, max_powers=6 if quick else 8,
                          max_qpe_bits=5 if quick else 7, seed=0)
    print("| method | setting | oracle calls (A applications) | RMSE |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['setting']} | {r['calls']} | {r['rmse']:.4g} |")
    for m in ("mlae", "monte_carlo", "qpe"):
        print(f"log-log slope {m}: {loglog_slope(rows, m):.2f}")
    return rows


def bench_kernels(seeds) -> list[dict]:
    from qrl.algorithms.kernels import compare_critics

    rows = [{"seed": s, **compare_critics(seed=s)} for s in seeds]
    print("| seed | fidelity-kernel R² | RBF R² |\n|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['quantum_fidelity']:.3f} | {r['classical_rbf']:.3f} |")
    return rows


def bench_barren(quick: bool, out: Path) -> list[dict]:
    from qrl.diagnostics import gradient_variance, plot_gradient_variance

    rows = gradient_variance([2, 4, 6] if quick else [2, 4, 6, 8, 10], [1, 4] if quick else [1, 2, 4, 8],
                             samples=20 if quick else 100, costs=("global", "local"))
    plot_gradient_variance(rows, out / "barren_plateaus.png")
    print("| qubits | layers | cost | Var[dC/dθ] |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['n_qubits']} | {r['n_layers']} | {r['cost']} | {r['grad_variance']:.3g} |")
    return rows


def bench_noise(run_dir: str) -> list[dict]:
    from qrl.noise_studies import evaluate_under_noise

    rows = evaluate_under_noise(run_dir, n_states=12, episodes=3)
    print("| target | mean abs error of <O> | greedy-action agreement | episode success |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['mean_abs_error']:.3f} | {r['action_agreement']:.2f} | {r['success']:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["ae", "kernels", "barren"],
                        choices=["agents", "ae", "kernels", "barren", "noise"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--configs", nargs="+", default=AGENT_CONFIGS)
    parser.add_argument("--noise-run", default=None, help="run directory of a trained control agent")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller grids")
    parser.add_argument("--out", default="runs/bench_quantum_agents")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    if "agents" in args.parts:
        results["agents"] = bench_agents(args.seeds, out, args.configs)
        for path in args.configs:
            mine = [r for r in results["agents"] if r["config"] == path]
            for key in ("eval_success_mean", "eval_fidelity_mean"):
                vals = [r[key] for r in mine if r.get(key) is not None]
                if vals:
                    print(f"{path}: median {key} {statistics.median(vals):.3f} over {len(vals)} seeds")
    if "ae" in args.parts:
        results["ae"] = bench_ae(args.quick)
    if "kernels" in args.parts:
        results["kernels"] = bench_kernels(args.seeds)
    if "barren" in args.parts:
        results["barren"] = bench_barren(args.quick, out)
    if "noise" in args.parts:
        if not args.noise_run:
            parser.error("--parts noise needs --noise-run RUN_DIR (a trained quantum_control_2q run)")
        results["noise"] = bench_noise(args.noise_run)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()

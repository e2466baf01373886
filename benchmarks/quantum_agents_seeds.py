"""Train one ``configs/*.yaml`` preset over several seeds and tabulate the learning curves.

Every seed is an ordinary ``qrl train`` run (the config's ``algo`` module, its
``Config`` and ``run``) in ``<out>/<config stem>/seed<S>``; an interrupted seed
resumes from its checkpoint when the command is repeated. For each seed the table
gives the episodes (and environment steps) until the mean of the last ``window``
returns first reached ``--target``, the best such mean, the greedy evaluation
mean and the training wall time. Seeds run one after another in this process.

    OMP_NUM_THREADS=1 python benchmarks/quantum_agents_seeds.py --config configs/cartpole_vqdqn.yaml \\
        --seeds 0 1 2 3 4 --target 475

``--set key=value`` overrides config entries (YAML values, e.g. ``--set total_steps=20000``);
``--quick`` trains 20 episodes (or 2,048 steps) per seed to check the plumbing.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import platform
import time
from pathlib import Path

import numpy as np
import yaml


def curve_stats(returns: list[float], steps: list[int], window: int, target: float | None) -> dict:
    """Best trailing-``window`` mean and the first episode (and env step) at which it reached ``target``.

    >>> s = curve_stats([1, 3, 5, 7], [1, 2, 3, 4], window=2, target=5.5)
    >>> s["best_avg"], s["episodes_to_target"], s["steps_to_target"]
    (6.0, 4, 4)
    """
    r = np.asarray(returns, dtype=float)
    if len(r) < window:
        return {"best_avg": float("nan"), "episodes_to_target": None, "steps_to_target": None}
    means = np.convolve(r, np.ones(window) / window, mode="valid")  # means[i]: episodes i .. i+window-1
    hit = np.flatnonzero(means >= target) if target is not None else np.array([], dtype=int)
    first = int(hit[0]) + window if len(hit) else None
    return {"best_avg": float(means.max()), "episodes_to_target": first,
            "steps_to_target": int(steps[first - 1]) if first else None}


def run_seed(config: str, seed: int, out: Path, overrides: dict, quick: bool) -> dict:
    import torch

    torch.set_num_threads(1)
    import qrl.models  # noqa: F401  (registers the vqc model type)
    from classical.common.config import load_yaml, resolve_algo
    from classical.common.rundir import RunDir

    data = load_yaml(config)
    data.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    module = resolve_algo(data.pop("algo"))
    data.update(overrides, seed=seed)
    if quick:
        data.update({"episodes": 20} if "episodes" in module.Config.model_fields else {"total_steps": 2048})
    cfg = module.Config(**data)
    path = out / Path(config).stem / f"seed{seed}"
    run = RunDir(path, resume=(path / "checkpoint.pt").exists())
    run.write_config({"algo": module.__name__, **cfg.model_dump()})
    start = time.perf_counter()
    summary = module.run(cfg, run)
    rows = list(csv.DictReader(open(path / "metrics.csv")))
    return {"seed": seed, "summary": summary, "process_seconds": time.perf_counter() - start,
            "returns": [float(r["return"]) for r in rows], "steps": [int(float(r["env_steps"])) for r in rows],
            "wall": float(rows[-1]["wall_seconds"]) if rows and "wall_seconds" in rows[-1] else float("nan")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--target", type=float, default=None, help="return threshold for the trailing mean")
    p.add_argument("--window", type=int, default=100, help="episodes in the trailing mean")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--out", default="runs/bench_quantum_agents_seeds")
    p.add_argument("--quick", action="store_true", help="20 episodes / 2,048 steps per seed")
    args = p.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}

    import torch

    print(f"{datetime.date.today()}  python {platform.python_version()}  torch {torch.__version__}  "
          f"config {args.config}  overrides {overrides}")
    print("| seed | episodes | env steps | episodes to target | best avg | eval mean | train wall s |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for seed in args.seeds:
        res = run_seed(args.config, seed, Path(args.out), overrides, args.quick)
        stats = curve_stats(res["returns"], res["steps"], args.window, args.target)
        results.append(stats)
        hit = stats["episodes_to_target"]
        print(f"| {seed} | {len(res['returns'])} | {res['steps'][-1] if res['steps'] else 0} | "
              f"{hit if hit else 'missed'} | {stats['best_avg']:.1f} | "
              f"{res['summary'].get('eval_return_mean', float('nan')):.1f} | {res['wall']:.0f} |", flush=True)
    best = [r["best_avg"] for r in results]
    reached = sum(r["episodes_to_target"] is not None for r in results)
    print(f"\nreached target in {reached} of {len(results)} seeds; best-avg median {np.median(best):.1f} "
          f"(min {np.min(best):.1f}, max {np.max(best):.1f})")


if __name__ == "__main__":
    main()

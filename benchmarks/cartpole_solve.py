"""Episodes and wall time until REINFORCE solves CartPole-v1 (100-episode mean ≥ 475).

Runs the shipped presets (VQC: 94-parameter softmax-PQC; MLP) over several seeds,
one seed per process, and prints a markdown table of medians and spreads.

    OMP_NUM_THREADS=1 python benchmarks/cartpole_solve.py --seeds 0 1 2 3 4 --backend qrl.torch \
        --max-episodes 2000 --workers 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def solve_one(config: str, seed: int, backend: str | None, max_episodes: int, out: str) -> dict:
    import torch

    torch.set_num_threads(1)
    import qrl.models  # noqa: F401  (registers the vqc model type)
    from classical.common.config import load_yaml
    from classical.common.rundir import RunDir
    from classical.rl.reinforce import Config, Reinforce

    data = load_yaml(config)
    data.pop("algo")
    data.update(seed=seed, episodes=max_episodes, eval_episodes=0)
    if backend and data["model"].get("type") == "vqc":
        data["backend"] = backend
    cfg = Config(**data)
    agent = Reinforce(cfg)
    start = time.perf_counter()
    agent.learn(RunDir(Path(out) / f"{Path(config).stem}-{backend}-seed{seed}"), progress=False)
    return {"config": Path(config).stem, "seed": seed, "backend": backend if data["model"]["type"] == "vqc" else "-",
            "solved": agent.solved, "episodes": agent.episodes_done, "env_steps": agent.env_steps,
            "wall_seconds": time.perf_counter() - start, "params": agent.policy.n_params}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configs", nargs="+", default=["configs/cartpole_vqc_reinforce.yaml",
                                                      "configs/cartpole_mlp_reinforce.yaml"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--backend", default=None, help="backend for the VQC runs")
    p.add_argument("--max-episodes", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="runs/bench_cartpole")
    p.add_argument("--json", default=None, help="also write the raw results here")
    args = p.parse_args()

    jobs = [(c, s) for c in args.configs for s in args.seeds]
    with cf.ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(solve_one, c, s, args.backend, args.max_episodes, args.out) for c, s in jobs]
        results = [f.result() for f in futures]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))

    import pennylane
    import torch

    print(f"date: {datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads 1, {args.workers} workers")
    print(f"versions: torch {torch.__version__}, pennylane {pennylane.__version__}")
    print("\n| config | backend | params | seeds solved | episodes to solve (median [min, max]) "
          "| wall s (median [min, max]) | env steps/s (median) |")
    print("|---|---|---|---|---|---|---|")
    for c in args.configs:
        rs = [r for r in results if r["config"] == Path(c).stem]
        eps = [r["episodes"] for r in rs]
        wall = [r["wall_seconds"] for r in rs]
        sps = [r["env_steps"] / r["wall_seconds"] for r in rs]
        print(f"| {Path(c).stem} | {rs[0]['backend']} | {rs[0]['params']} | {sum(r['solved'] for r in rs)}/{len(rs)} "
              f"| {np.median(eps):.0f} [{min(eps)}, {max(eps)}] | {np.median(wall):.0f} [{min(wall):.0f}, "
              f"{max(wall):.0f}] | {np.median(sps):.0f} |")
    print("\nper seed:", ", ".join(f"{r['config']}/s{r['seed']}: {r['episodes']} ep "
                                   f"{'solved' if r['solved'] else 'not solved'}" for r in results))


if __name__ == "__main__":
    main()

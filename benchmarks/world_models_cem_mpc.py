"""CEM-MPC with learned models on Pendulum-v1 and the 4-D task, over seeds; planning latency.

Each run goes through ``classical.world_models.cem_mpc.run`` (the same code as
``qrl train --config configs/pendulum_cem_mpc.yaml``) and appends one JSON line to
``--out``. Usage::

    OMP_NUM_THREADS=1 python benchmarks/world_models_cem_mpc.py --seeds 0 1 2 3 4 \
        --cases pendulum_learned pendulum_known four_d_learned --out runs/wm_bench.jsonl
    python benchmarks/world_models_cem_mpc.py --latency      # ms per planning step
    python benchmarks/world_models_cem_mpc.py --quick        # one seed, tiny budget
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from classical.common.rundir import RunDir
from classical.world_models import cem_mpc
from classical.world_models.cem import cem_plan
from classical.world_models.dynamics import DynamicsModel

CASES = {
    # the targets: learned dynamics + reward >= -250 within 2,000 steps;
    # learned dynamics + known reward (PETS-style) >= -200 within 1,000 steps
    "pendulum_learned": dict(env_id="Pendulum-v1", reward="learned", total_steps=2000),
    "pendulum_known": dict(env_id="Pendulum-v1", reward="known", total_steps=1000),
    "four_d_learned": dict(env_id="qrl/FourDControl-v0", reward="learned", total_steps=1000,
                           random_steps=100, refit_every=100, horizon=10),
    "four_d_known": dict(env_id="qrl/FourDControl-v0", reward="known", total_steps=1000,
                         random_steps=100, refit_every=100, horizon=10),
}


def latency(repeats: int = 15) -> dict:
    """Median ms per planning step: 500 candidates x horizon 12, 5 CEM iterations, Pendulum-sized model."""
    torch.set_num_threads(1)
    out = {}
    for hidden in (64, 200):
        step = DynamicsModel(3, 1, hidden=hidden).step_fn()
        state = torch.zeros(1, 3)
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            cem_plan(step, state, 12, [-2.0], [2.0], n_candidates=500, n_elites=50, n_iters=5)
            times.append(1000 * (time.perf_counter() - t0))
            cpu.append(1000 * (time.process_time() - c0))
        # CPU time is what one uncontended core would need; wall time includes waiting for a core
        out[f"hidden{hidden}"] = {"median_wall_ms": statistics.median(times), "min_wall_ms": min(times),
                                  "median_cpu_ms": statistics.median(cpu)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default="runs/wm_cem_mpc.jsonl")
    parser.add_argument("--latency", action="store_true", help="only measure planning latency")
    parser.add_argument("--quick", action="store_true", help="one seed, 300 steps, 2 eval episodes")
    args = parser.parse_args()
    if args.latency:
        print(json.dumps(latency(), indent=1))
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for case in args.cases:
        for seed in args.seeds[:1] if args.quick else args.seeds:
            kw = dict(CASES[case], seed=seed)
            if args.quick:
                kw.update(total_steps=300, random_steps=100, refit_every=100, eval_episodes=2)
            t0 = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                summary = cem_mpc.run(cem_mpc.Config(**kw), RunDir(tmp))
            row = {"case": case, "seed": seed, **summary, "wall_s": round(time.time() - t0, 1)}
            print(json.dumps(row), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

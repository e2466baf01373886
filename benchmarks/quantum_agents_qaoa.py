"""QAOA-RL benchmark (issue 4): PPO agents (MLP or VQC actor) that set QAOA angles layer by layer for
MaxCut on 6-node 3-regular graphs, against COBYLA given the same number of circuit evaluations.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quantum_agents_qaoa.py --steps 600 --actors mlp vqc
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import qrl.models  # noqa: F401
from classical.common.rundir import RunDir
from classical.rl.ppo import PPO, Config
from qrl.algorithms.qaoa_rl import optimiser_baseline, policy_ratio

ACTORS = {"mlp": {"type": "mlp", "hidden": [32]},
          "vqc": {"type": "vqc", "n_qubits": 4, "n_layers": 2, "observables": ["Z0", "Z1"]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="training circuit evaluations (env steps)")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--actors", nargs="+", default=["mlp", "vqc"], choices=list(ACTORS))
    p.add_argument("--test-graphs", nargs="+", type=int, default=[100, 101, 102, 103])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench_qaoa")
    args = p.parse_args()
    torch.set_num_threads(1)
    env_kwargs = {"n_nodes": 6, "depth": args.depth, "graph_seeds": list(range(8))}
    rows = []
    for name in args.actors:
        cfg = Config(env_id="qrl.algorithms.qaoa_rl:qrl/QAOAAngles-v0", env_kwargs=env_kwargs, actor=ACTORS[name],
                     critic={"type": "mlp", "hidden": [32]}, lr={"actor": 0.01, "critic": 0.003},
                     gamma=1.0, gae_lambda=0.95, n_envs=4, n_steps=3 * args.depth, epochs=4,
                     minibatch_size=12 * args.depth, init_log_std=-0.5, total_env_steps=args.steps,
                     eval_episodes=0, seed=args.seed)
        start = time.perf_counter()
        agent = PPO(cfg).learn(RunDir(f"{args.out}/{name}_s{args.seed}"), progress=False)
        ratio = policy_ratio(lambda o: agent.predict(o)[0], 6, args.depth, args.test_graphs)
        rows.append({"method": f"PPO {name} actor", "train_evals": agent.env_steps,
                     "evals_per_test_graph": args.depth, "test_ratio": ratio,
                     "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps(rows[-1]), flush=True)
    for evals in (args.depth, args.steps):
        r = np.mean([optimiser_baseline(6, args.depth, g, evals, seed=args.seed) for g in args.test_graphs])
        rows.append({"method": "COBYLA per graph", "train_evals": 0, "evals_per_test_graph": evals,
                     "test_ratio": float(r)})
        print(json.dumps(rows[-1]), flush=True)
    print("| method | training evals | evals per test graph | mean approx. ratio (4 unseen graphs) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['train_evals']} | {r['evals_per_test_graph']} | {r['test_ratio']:.3f} |")


if __name__ == "__main__":
    main()

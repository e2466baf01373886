"""Quantum multi-agent variants beside their classical twins on the 2-agent particle task.

    python benchmarks/marl_quantum.py --seeds 0,1,2,3,4 --episodes 300 --json runs/marl_quantum.jsonl
    python benchmarks/marl_quantum.py --runs vqc_agents:qmix --seeds 0 --backend default.qubit --episodes 8
    python benchmarks/marl_quantum.py --quick

Each run goes through ``hybrid.marl_quantum.run``; a run is ``variant:algo`` —
``mlp:qmix`` (classical MLP agents under the QMIX mixer), ``vqc_agents:qmix``
(``qrl.models.VQC`` agents under the same mixer), ``entangled:qmix`` / ``product:qmix``
(one multi-agent circuit with / without the inter-agent CZ layer), ``mlp:maddpg`` and
``vqc_actor:maddpg`` (MLP or VQC actors, the same centralised classical critic).
Every row prints the greedy evaluation, parameters of the agents' network and of
the mixer/critic, and env-steps/s of the training loop (updates included).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from classical.common.rundir import RunDir  # noqa: E402
from hybrid import marl_quantum  # noqa: E402
from marl_spread import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RUNS = "mlp:qmix,vqc_agents:qmix,entangled:qmix,product:qmix,mlp:maddpg,vqc_actor:maddpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=RUNS, help="comma-separated variant:algo pairs")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--backend", default="qrl.torch")
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup-steps", type=int, default=500)
    parser.add_argument("--eval-episodes", type=int, default=30)
    parser.add_argument("--out", default="runs/bench_marl_quantum")
    parser.add_argument("--json", default=None, help="append result rows to this JSON-lines file")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    episodes = 3 if args.quick else args.episodes
    for seed in [int(s) for s in args.seeds.split(",")]:
        for pair in args.runs.split(","):
            variant, algo = pair.split(":")
            cfg = marl_quantum.Config(
                algo_name=algo, variant=variant, env_id="particle", env_kwargs={"n_agents": 2}, episodes=episodes, seed=seed,
                eval_episodes=2 if args.quick else args.eval_episodes,
                warmup_steps=20 if args.quick else args.warmup_steps, batch_size=args.batch_size,
                model={"n_qubits": 4, "qubits_per_agent": 3, "n_layers": args.n_layers}, backend=args.backend)
            counts = marl_quantum.parameter_counts(cfg)
            started = time.time()
            summary = marl_quantum.run(cfg, RunDir(Path(args.out) / f"{variant}_{algo}_s{seed}"))
            emit({"variant": variant, "algo": algo, "backend": args.backend, "episodes": episodes, "seed": seed,
                  "params_agents": counts["agents"], "params_central": counts["central"]},
                 summary, started, args.json)


if __name__ == "__main__":
    main()

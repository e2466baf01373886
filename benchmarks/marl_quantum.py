"""Quantum multi-agent variants beside their classical twins on the 2-agent particle task.

    python benchmarks/marl_quantum.py --variants classical,vqc_agents,entangled,product --episodes 60
    python benchmarks/marl_quantum.py --quick

Each run goes through ``hybrid.marl_quantum.run`` (QMIX learner; ``classical`` is
``classical.marl.train.run`` with the MLP body) and prints the greedy evaluation,
parameter count (agent networks + mixer) and env-steps/s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from classical.common.rundir import RunDir  # noqa: E402
from classical.marl import train as marl_train  # noqa: E402
from hybrid import marl_quantum  # noqa: E402
from marl_spread import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="classical,vqc_agents,entangled,product")
    parser.add_argument("--algo", default="qmix")
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=30)
    parser.add_argument("--out", default="runs/bench_marl_quantum")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    episodes = 3 if args.quick else args.episodes
    common = dict(algo_name=args.algo, env="particle", n_agents=2, episodes=episodes, seed=args.seed,
                  eval_episodes=2 if args.quick else args.eval_episodes, warmup_steps=20 if args.quick else 500,
                  batch_size=32)
    for variant in args.variants.split(","):
        t = time.time()
        out = RunDir(Path(args.out) / f"{variant}_s{args.seed}")
        if variant == "classical":
            summary = marl_train.run(marl_train.Config(**common), out)
        else:
            summary = marl_quantum.run(marl_quantum.Config(variant=variant, n_qubits=4, qubits_per_agent=3,
                                                           n_layers=2, **common), out)
        emit({"variant": variant, "algo": args.algo, "episodes": episodes, "seed": args.seed}, summary, t, args.json)


if __name__ == "__main__":
    main()

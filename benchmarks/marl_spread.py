"""Multi-agent benchmark: learners on mpe2 simple_spread (and speaker-listener), over seeds.

Each (algorithm, seed) trains through ``classical.marl.train.run`` (the same path as
``qrl train``) into ``--out/<label>_s<seed>`` and reports the greedy evaluation's
team return (sum over agents), coverage, collisions, parameters and env-steps/s.
Reference policies (random, no-op, greedy assignment) are evaluated on the same
evaluation layouts.

    python benchmarks/marl_spread.py --algos qmix,maddpg --seeds 0,1,2 --episodes 3000
    python benchmarks/marl_spread.py --quick          # a few episodes, checks the pipeline
    python benchmarks/marl_spread.py --algos maddpg --episodes 3000 --resume   # extend finished runs
    python benchmarks/marl_spread.py --env simple_speaker_listener --algos maddpg \
        --variants none,discrete --episodes 2000       # communication vs no communication
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from classical.common.rundir import RunDir  # noqa: E402
from classical.marl.baselines import GreedyAssignmentPolicy, NoOpPolicy, RandomPolicy  # noqa: E402
from classical.marl.loop import evaluate  # noqa: E402
from classical.marl.train import Config, build_env, evaluate_checkpoint, run  # noqa: E402


def references(cfg: Config) -> dict:
    env = build_env(cfg)
    out = {}
    policies = [("random", RandomPolicy), ("no-op", NoOpPolicy)]
    if cfg.env_id in ("simple_spread", "particle"):
        policies.append(("greedy assignment", GreedyAssignmentPolicy))
    for name, policy in policies:
        rows = evaluate(env, policy(env), cfg.eval_episodes, seed=0)
        out[name] = statistics.mean(r["return"] for r in rows)
    return out


def emit(row: dict, summary: dict, started: float, json_path: str | None) -> None:
    """Print one result row (summary floats rounded, wall time) and append it to a JSON-lines file."""
    row = {**row, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()},
           "wall_s": round(time.time() - started, 1)}
    print(json.dumps(row), flush=True)
    if json_path:
        with open(json_path, "a") as f:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="qmix,maddpg,vdn,iql,maac,coma")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--variants", default="none", help="comm variants: none,continuous,discrete")
    parser.add_argument("--set", action="append", default=[], help="extra Config key=value (repeatable)")
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--out", default="runs/bench_marl")
    parser.add_argument("--json", default=None, help="append result rows to this JSON-lines file")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--resume", action="store_true",
                        help="continue each run from its checkpoint under --out (e.g. with a larger --episodes)")
    parser.add_argument("--from-checkpoints", action="store_true",
                        help="do not train: evaluate the latest checkpoint of each run under --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    episodes = 20 if args.quick else args.episodes
    extra = dict(kv.split("=", 1) for kv in args.set)
    seeds = [int(s) for s in args.seeds.split(",")]
    base = Config(env_id=args.env, episodes=episodes, eval_episodes=args.eval_episodes,
                  warmup_steps=100 if args.quick else 1000, **extra)
    print("references", json.dumps({k: round(v, 1) for k, v in references(base).items()}), flush=True)
    for algo in args.algos.split(","):
        for comm in args.variants.split(","):
            for seed in seeds:
                cfg = base.model_copy(update={"algo_name": algo, "comm": comm, "seed": seed})
                label = f"{args.env}_{algo}_{comm}_s{seed}"
                t = time.time()
                if args.from_checkpoints:
                    summary = evaluate_checkpoint(cfg, RunDir(Path(args.out) / label, resume=True))
                else:
                    summary = run(Config(**cfg.model_dump()), RunDir(Path(args.out) / label, resume=args.resume))
                emit({"label": label, "algo": algo, "comm": comm, "seed": seed, "episodes": episodes, **extra},
                     summary, t, args.json)


if __name__ == "__main__":
    main()

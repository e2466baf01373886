"""Learning numbers for the I2A and Dreamer-style agents on the 4-D task, beside fixed baselines.

Each run trains one agent from its preset (``configs/four_d_dreamer.yaml``,
``configs/four_d_i2a.yaml``, the same ``run`` as ``qrl train``) for ``--steps`` real
environment steps (default: the preset's own budget) and appends one JSON line to
``--out``. ``--baselines`` scores the zero action and a uniform random policy on the
same evaluation starts the agents use (``10_000 + 1000·seed + i``). Usage::

    OMP_NUM_THREADS=1 python benchmarks/world_models_agents.py --agents dreamer i2a --seeds 0 1 2 3 4
    python benchmarks/world_models_agents.py --baselines --seeds 0 1 2 3 4
    python benchmarks/world_models_agents.py --quick      # one seed, tiny budget
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from classical.common.config import load_yaml, validate
from classical.common.rundir import RunDir
from classical.world_models import dreamer, i2a
from classical.world_models.envs import FOUR_D_ID, fixed_policy_return

AGENTS = {"dreamer": (dreamer, "configs/four_d_dreamer.yaml"), "i2a": (i2a, "configs/four_d_i2a.yaml")}
QUICK = {"dreamer": dict(total_steps=200, prefill_steps=100, train_every=50, updates_per_round=2),
         "i2a": dict(total_steps=300, model_warmup_steps=100, refit_every=100, model_fit_steps=20)}


def agent_config(name: str, seed: int, **overrides):
    """The agent's preset with ``seed`` and ``overrides`` applied (``algo`` removed)."""
    module, path = AGENTS[name]
    data = load_yaml(path)
    data.pop("algo")
    data.update(seed=seed, **overrides)
    return validate(module.Config, data, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=None, help="real-step budget (default: the preset's)")
    parser.add_argument("--baselines", action="store_true", help="only score zero and random actions")
    parser.add_argument("--out", default="runs/wm_agents.jsonl")
    parser.add_argument("--quick", action="store_true", help="one seed, tiny budget, 2 eval episodes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.baselines:
        rows = [{"case": "baselines", "seed": s, **{p: fixed_policy_return(FOUR_D_ID, p, s) for p in ("zero", "random")}}
                for s in args.seeds]
    for name in [] if args.baselines else args.agents:
        for seed in args.seeds[:1] if args.quick else args.seeds:
            overrides = dict(QUICK[name], eval_episodes=2) if args.quick else {}
            if args.steps:
                overrides["total_steps"] = args.steps
            cfg = agent_config(name, seed, **overrides)
            t0, c0 = time.time(), time.process_time()
            with tempfile.TemporaryDirectory() as tmp:
                summary = AGENTS[name][0].run(cfg, RunDir(tmp))
            rows.append({"case": name, "seed": seed, **summary, "wall_s": round(time.time() - t0, 1),
                         "cpu_s": round(time.process_time() - c0, 1)})
            print(json.dumps(rows[-1]), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(rows[-1]) + "\n")
    if args.baselines:
        for row in rows:
            print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()

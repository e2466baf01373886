"""Issue 22 items 4-6 measurements: CHSH seeds, repetition-code tables, PEC vs ZNE, VQE, value VQE.

Each part prints a markdown table (the rows of BENCHMARKS.md, "Issue 22") and writes JSON::

    python benchmarks/quantum_methods.py chsh --seeds 1000-1019 --strategy entangled
    python benchmarks/quantum_methods.py qec
    python benchmarks/quantum_methods.py pec --seeds 1000-1002
    python benchmarks/quantum_methods.py vqe --seeds 1000-1002
    python benchmarks/quantum_methods.py value --seeds 1000-1004
    python benchmarks/quantum_methods.py qas --episodes 30

Settings are the presets' and the library defaults; seeds 0-9 were used while choosing them.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _wilson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(method="wilson")
    return round(float(ci.low), 3), round(float(ci.high), 3)


def chsh(args) -> list[dict]:
    from qrl.algorithms.chsh import CHSHAgent, Config

    rows = []
    for seed in _seeds(args.seeds):
        start = time.perf_counter()
        agent = CHSHAgent(Config(strategy=args.strategy, seed=seed, backend=args.backend))
        agent.learn()
        ev = agent.evaluate(agent.cfg.eval_episodes)
        rows.append({"seed": seed, "eval_win_rate": sum(r["win"] for r in ev) / len(ev), "rounds": len(ev),
                     "exact_win_probability": agent.exact_win_probability(),
                     "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def qec(args) -> list[dict]:
    from qrl.qec import protected_policy_returns, threshold_table

    rows = threshold_table(shots=args.shots, seed=1000)
    for r in rows:
        print(f"| {r['distance']} | {r['p']} | {r['measured']:.4f} | {r['exact']:.4f} |", flush=True)
    policy = [protected_policy_returns(p, distance=3, episodes=500, seed=1000) for p in (0.05, 0.1, 0.2)]
    for r in policy:
        print(json.dumps(r), flush=True)
    return rows + policy


def pec(args) -> list[dict]:
    from qrl.pec import compare, depolarizing_probs

    models = {"depolarizing p=0.08": depolarizing_probs(0.08),
              "biased {XI:.03, IZ:.03, ZZ:.02, YY:.02}": {"II": 0.9, "XI": 0.03, "IZ": 0.03, "ZZ": 0.02, "YY": 0.02}}
    rows = []
    for name, probs in models.items():
        for seed in _seeds(args.seeds):
            out = compare(probs, n_layers=4, shots=args.shots, seed=seed)
            row = {"noise": name, "seed": seed, "ideal": out["ideal"], "noisy_exact": out["noisy_exact"]}
            for key in ("plain", "pec", "zne"):
                row[f"{key}_mean"], row[f"{key}_stderr"] = out[key]["mean"], out[key]["stderr"]
            row["pec_gamma2"] = out["pec"]["overhead"]
            row["pec_variance_ratio"] = out["pec"]["per_shot_variance"] / out["plain"]["per_shot_variance"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def vqe(args) -> list[dict]:
    from qrl.algorithms.vqe import vqe as run_vqe

    rows = []
    for name, lengths in (("H2", (0.5, 0.74, 1.5)), ("LiH", (1.2, 1.6, 2.4))):
        for length in lengths:
            for seed in _seeds(args.seeds):
                start = time.perf_counter()
                out = run_vqe(name, length, n_layers=3, steps=300, seed=seed, backend="qrl.torch")
                out.pop("trace")
                out["seconds"] = round(time.perf_counter() - start, 1)
                rows.append(out)
                print(json.dumps(out), flush=True)
    return rows


def value(args) -> list[dict]:
    import numpy as np

    from qrl.algorithms.value_vqe import frozen_lake_policy_mdp, value_vqe

    rows = []
    for label, slippery in (("slippery", True), ("deterministic", False)):
        P, r = frozen_lake_policy_mdp(is_slippery=slippery)
        for seed in _seeds(args.seeds):
            out = value_vqe(P, r, gamma=0.9, n_layers=6, steps=300, seed=seed)
            row = {"mdp": f"FrozenLake 4x4 {label}, uniform policy, gamma 0.9", "seed": seed,
                   "max_abs_error": out["max_abs_error"], "max_value": float(np.max(np.abs(out["exact"]))),
                   "energy": out["energy"], "overlap": out["overlap"], "n_terms": out["n_terms"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def qas(args) -> list[dict]:
    """Random gate choices in the architecture-search env: the baseline the DQN preset is compared with."""
    import numpy as np

    from classical.common.config import load_yaml
    from qrl.algorithms.qas import AnsatzBuildingEnv

    env = AnsatzBuildingEnv(**load_yaml("configs/qas_h2_dqn.yaml")["env_kwargs"])   # the preset's reward
    rng = np.random.default_rng(1000)
    rows = []
    for e in range(args.episodes):
        _, info = env.reset(seed=10**6 + e)
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
            total += r
            done = term or trunc
        rows.append({"episode": e, "return": total, "error_mha": info["error_mha"],
                     "chemical_accuracy": info["chemical_accuracy"], "n_gates": info["n_gates"]})
    acc = sum(r["chemical_accuracy"] for r in rows)
    print(f"random policy: mean return {np.mean([r['return'] for r in rows]):.2f}, chemical accuracy "
          f"{acc}/{len(rows)} {_wilson(acc, len(rows))}, mean gates {np.mean([r['n_gates'] for r in rows]):.1f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("chsh", "qec", "pec", "vqe", "value", "qas"))
    parser.add_argument("--seeds", default="1000-1002")
    parser.add_argument("--strategy", default="entangled")
    parser.add_argument("--backend", default="default.qubit")
    parser.add_argument("--shots", type=int, default=20000)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--out", default="/tmp/quantum_methods")
    args = parser.parse_args()
    rows = globals()[args.part](args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, f"{args.part}.json").write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()

"""Hybrid: a re-uploading circuit policy on causal features (2 qubits) vs all features (4 qubits).

Runs :func:`hybrid.causal_vqc.compare` on ``CausalShift-v0``: per seed, PC picks the
reward's causal parents from 1,000 random-policy steps, then REINFORCE trains a
``n_layers``-layer re-uploading circuit (default.qubit, backprop) on those features,
and the same circuit family on every feature; greedy returns before and after the
spurious feature flips. Threads: one.

**Example**

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/causal_vqc.py --seeds 3 --episodes 200
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hybrid.causal_vqc import compare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)

    def show(r: dict) -> None:
        print(f"seed {r['seed']} {r['features']}: {r['qubits']} qubits, {r['n_params']} params, "
              f"return {r['eval_return_mean']:.1f} -> shifted {r['eval_return_shifted_mean']:.1f} "
              f"({r['seconds']:.0f}s)", flush=True)

    rows = compare(args.seeds, on_row=show, episodes=args.episodes, model={"type": "vqc", "n_layers": args.n_layers},
                   eval_episodes=args.eval_episodes)
    print("\n| circuit input | qubits | params | return before shift | return after shift | seconds/run |")
    print("|---|---|---|---|---|---|")
    for kind, label in (("causal", "causal features (PC)"), ("all", "all features")):
        g = [r for r in rows if (len(r["features"]) < 4) == (kind == "causal")]
        b = np.array([r["eval_return_mean"] for r in g])
        a = np.array([r["eval_return_shifted_mean"] for r in g])
        print(f"| {label} | {g[0]['qubits']} | {g[0]['n_params']} | {b.mean():.1f} ± {b.std():.1f} | "
              f"{a.mean():.1f} ± {a.std():.1f} | {np.mean([r['seconds'] for r in g]):.0f} |")


if __name__ == "__main__":
    main()

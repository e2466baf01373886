"""Federated RL benchmarks (issue 9): heterogeneity, privacy, robustness, compression, VQC.

Every run uses the same ClientApp/ServerApp code on the in-process grid (Flower's Ray
engine adds ~60 s of start-up per run here and nothing else). Results are appended as
JSON lines to ``--out/results.jsonl``; ``--report`` prints markdown tables of medians
over seeds with min-max spreads.

    OMP_NUM_THREADS=1 python benchmarks/federated_rl.py --experiments hetero privacy robust compression \
        --seeds 0 1 2 3 4 --workers 2 --out runs/bench_federated
    OMP_NUM_THREADS=1 python benchmarks/federated_rl.py --experiments vqc --seeds 0 1 2 3 4 --workers 2 --out runs/bench_federated_vqc
    python benchmarks/federated_rl.py --report --out runs/bench_federated
    python benchmarks/federated_rl.py --quick      # one seed, few rounds, to check the script
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import time
from pathlib import Path

import numpy as np

ROUNDS, LOCAL_EPISODES, EVAL_EPISODES = 15, 5, 10


def evaluate_everywhere(policy, cfg, episodes: int = EVAL_EPISODES) -> dict:
    """Greedy return of ``policy`` on every client's CartPole and on the held-out one."""
    from classical.federated.task import client_dynamics, evaluate, held_out_dynamics, make_env

    clients = [evaluate(policy, make_env(client_dynamics(i, cfg.num_clients, cfg.heterogeneity), 0, cfg.max_steps),
                        episodes, seed=10_000 + i) for i in range(cfg.num_clients)]
    held = evaluate(policy, make_env(held_out_dynamics(cfg.heterogeneity), 0, cfg.max_steps), episodes, 20_000)
    return {"client_returns": clients, "mean_return": float(np.mean(clients)),
            "min_client_return": float(np.min(clients)), "held_out_return": held}


def federated(cfg, policy_factory=None, final_eval_episodes: int = EVAL_EPISODES) -> dict:
    from classical.federated.simulation import run_federation
    from classical.federated.task import mlp_policy_factory, set_weights

    rows = []
    factory = policy_factory or mlp_policy_factory(cfg.model)
    weights = run_federation(cfg, lambda row, w: rows.append(row), policy_factory=factory)
    policy = factory(4, 2)
    set_weights(policy, weights)
    out = evaluate_everywhere(policy, cfg, final_eval_episodes)
    out["bytes_up_total"] = int(sum(r["bytes_up"] for r in rows))
    out["epsilon"] = rows[-1]["epsilon"]
    out["curve"] = [r["mean_return"] for r in rows]
    return out


def isolated(cfg) -> dict:
    """Each client trains alone for the same episodes; returns on its own env (and held-out, averaged)."""
    import torch

    from classical.federated.task import client_dynamics, make_env, mlp_policy, train_reinforce

    own, held, everywhere = [], [], []
    for i in range(cfg.num_clients):
        torch.manual_seed(cfg.seed)
        policy = mlp_policy(4, 2, cfg.model["hidden"])
        env = make_env(client_dynamics(i, cfg.num_clients, cfg.heterogeneity), cfg.seed, cfg.max_steps)
        train_reinforce(policy, env, cfg.episodes, cfg.lr["default"], seed=cfg.seed * 100 + i, gamma=cfg.gamma)
        res = evaluate_everywhere(policy, cfg)
        own.append(res["client_returns"][i])
        held.append(res["held_out_return"])
        everywhere.append(res["mean_return"])
    return {"client_returns": own, "mean_return": float(np.mean(own)), "min_client_return": float(np.min(own)),
            "held_out_return": float(np.mean(held)), "mean_return_all_envs": float(np.mean(everywhere))}


def centralised(cfg) -> dict:
    """One agent that sees every client's env in turn (all data pooled), same number of episodes."""
    import torch

    from classical.federated.task import client_dynamics, make_env, mlp_policy, train_reinforce

    torch.manual_seed(cfg.seed)
    policy = mlp_policy(4, 2, cfg.model["hidden"])
    envs = [make_env(client_dynamics(i, cfg.num_clients, cfg.heterogeneity), cfg.seed, cfg.max_steps)
            for i in range(cfg.num_clients)]
    opt_free_lr = cfg.lr
    for r in range(cfg.rounds):
        for i, env in enumerate(envs):
            train_reinforce(policy, env, cfg.local_episodes, opt_free_lr, seed=(cfg.seed * 1000 + r) * 10 + i,
                            gamma=cfg.gamma)
    return evaluate_everywhere(policy, cfg)


def job(spec: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from classical.federated.server_app import FederationConfig

    kind, params = spec["kind"], dict(spec["params"])
    base = dict(episodes=ROUNDS * LOCAL_EPISODES, local_episodes=LOCAL_EPISODES, eval_episodes=5, engine="inprocess")
    t0 = time.perf_counter()
    if kind == "vqc":
        from hybrid.federated_vqc import vqc_policy_factory

        q = {k: params.pop(k) for k in ("n_qubits", "n_layers", "backend")}
        cfg = FederationConfig(**{**base, **params})
        result = federated(cfg, vqc_policy_factory(**q), final_eval_episodes=5)
    else:
        cfg = FederationConfig(**{**base, **params})
        result = {"federated": federated, "isolated": isolated, "centralised": centralised}[kind](cfg)
    return {**spec, **result, "seconds": round(time.perf_counter() - t0, 1)}


def specs(experiments: list[str], seeds: list[int], quick: bool) -> list[dict]:
    out = []
    for seed in seeds:
        s = {"seed": seed}
        if "hetero" in experiments:
            h = {**s, "num_clients": 3, "heterogeneity": 0.6}
            out += [{"exp": "hetero", "label": "FedAvg", "kind": "federated", "params": {**h, "strategy": "fedavg"}},
                    {"exp": "hetero", "label": "FedProx (mu=0.1)", "kind": "federated",
                     "params": {**h, "strategy": "fedprox", "proximal_mu": 0.1}},
                    {"exp": "hetero", "label": "isolated", "kind": "isolated", "params": h},
                    {"exp": "hetero", "label": "centralised", "kind": "centralised", "params": h}]
        if "privacy" in experiments:
            for z in (0.0, 0.1, 0.3, 1.0):
                p = {**s, "num_clients": 5, "clipping_norm": 0.5}
                p.update({"dp": True, "noise_multiplier": z} if z > 0 else {})
                out.append({"exp": "privacy", "label": f"z={z}" if z else "no DP", "kind": "federated", "params": p})
        if "robust" in experiments:
            cases = [(f, "sign_flip", 3.0) for f in (0.0, 0.2, 0.4)] + [(0.2, "scale", 10.0)]
            for frac, attack, scale in cases:
                for rule in ("fedavg", "trimmed_mean", "krum"):
                    p = {**s, "num_clients": 5, "malicious_fraction": frac, "attack": attack, "attack_scale": scale,
                         "strategy": rule, "trim_beta": 0.4 if frac > 0.2 else 0.2}
                    out.append({"exp": "robust", "label": f"{rule} | {attack} x{scale:g} | {frac:.0%} malicious",
                                "kind": "federated", "params": p})
        if "compression" in experiments:
            for label, c in [("dense float32", {}), ("top-k 30% + EF", {"compression": "topk", "topk_ratio": 0.3}),
                             ("top-k 10% + EF", {"compression": "topk", "topk_ratio": 0.1}),
                             ("int8", {"compression": "int8"})]:
                out.append({"exp": "compression", "label": label, "kind": "federated",
                            "params": {**s, "num_clients": 3, **c}})
        if "vqc" in experiments:
            backend = "qrl.torch"  # the batched torch statevector device; default.qubit is ~3x slower here
            # small budget: circuit rollouts cost ~30-70 ms per step on the shared machine
            v = {**s, "num_clients": 3, "episodes": 18, "local_episodes": 3, "eval_episodes": 2,
                 "env_kwargs": {"max_episode_steps": 100}}
            priv = {"dp": True, "noise_multiplier": 0.3, "clipping_norm": 0.5, "secure_aggregation": True}
            vqc = {"n_qubits": 4, "n_layers": 5, "backend": backend}
            out += [{"exp": "vqc", "label": "VQC 94 params (DP+SecAgg)", "kind": "vqc", "params": {**v, **priv, **vqc}},
                    {"exp": "vqc", "label": "MLP 114 params (DP+SecAgg)", "kind": "federated",
                     "params": {**v, **priv, "model": {"type": "mlp", "hidden": [16]}}},
                    {"exp": "vqc", "label": "VQC 94 params (no DP/SecAgg)", "kind": "vqc", "params": {**v, **vqc}},
                    {"exp": "vqc", "label": "MLP 114 params (no DP/SecAgg)", "kind": "federated",
                     "params": {**v, "model": {"type": "mlp", "hidden": [16]}}}]
    if quick:
        for sp in out:
            sp["params"]["episodes"] = 2 * sp["params"].get("local_episodes", LOCAL_EPISODES)
    return out


def report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for exp in dict.fromkeys(r["exp"] for r in rows):
        print(f"\n### {exp}\n")
        extra = {"privacy": ["epsilon"], "compression": ["bytes_up_total"], "vqc": ["epsilon"]}.get(exp, [])
        print("| setting | seeds | mean client return | min client return | held-out return | "
              + " | ".join(extra) + (" | " if extra else "") + "s/run |")
        print("|---" * (6 + len(extra)) + "|")
        for label in dict.fromkeys(r["label"] for r in rows if r["exp"] == exp):
            rs = [r for r in rows if r["exp"] == exp and r["label"] == label]

            def cell(key, fmt="{:.0f}"):
                v = np.array([float(r[key]) for r in rs if r.get(key) not in (None, "")])
                if v.size == 0:
                    return "-"
                return f"{fmt.format(np.median(v))} [{fmt.format(v.min())}, {fmt.format(v.max())}]"
            ex = [cell("epsilon", "{:.2f}") if k == "epsilon" else cell(k, "{:.0f}") for k in extra]
            print(f"| {label} | {len(rs)} | {cell('mean_return')} | {cell('min_client_return')} | "
                  f"{cell('held_out_return')} | " + " | ".join(ex) + (" | " if ex else "")
                  + f"{np.median([r['seconds'] for r in rs]):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", nargs="+", default=["hetero", "privacy", "robust", "compression"],
                    choices=["hetero", "privacy", "robust", "compression", "vqc"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_federated")
    ap.add_argument("--quick", action="store_true", help="one seed, two rounds")
    ap.add_argument("--report", action="store_true", help="only print tables from --out/results.jsonl")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    if not args.report:
        todo = specs(args.experiments, args.seeds[:1] if args.quick else args.seeds, args.quick)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with cf.ProcessPoolExecutor(args.workers) as pool:
            for res in pool.map(job, todo):
                with open(results, "a") as f:
                    f.write(json.dumps(res) + "\n")
                print(res["exp"], res["label"], res["params"].get("seed"), f"{res['mean_return']:.0f}",
                      f"{res['seconds']}s", flush=True)
    report(results)


if __name__ == "__main__":
    main()

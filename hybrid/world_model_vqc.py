"""Quantum components inside learned world models, each beside its classical twin.

Two compositions, both run by the classical training loops with a circuit in a
network slot (``qrl.models`` registers ``type: vqc`` with ``classical.rl.models``):

- **VQC policy trained in imagination**: the Dreamer-style agent
  (:mod:`classical.world_models.dreamer`) with a re-uploading circuit as its actor.
  The actor reads observations (real ones when acting, decoded ones in imagination),
  so a 4-qubit circuit sees the 4-D task's 4 numbers; gradients of the λ-returns flow
  through the learned dynamics into the circuit's parameters.
- **CEM-MPC with a VQC terminal value**: :mod:`classical.world_models.cem_mpc` with a
  re-uploading value circuit fitted to discounted returns-to-go, added as ``γ^H V(s_H)``
  at the end of every planned sequence.

Each classical twin is the same configuration with an MLP of (about) the same
parameter count in the slot, trained on the same number of real environment steps.

Run ``python -m hybrid.world_model_vqc --part cem --seeds 0`` (or ``--part dreamer``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import qrl.models  # noqa: F401  (registers `type: vqc` with classical.rl.models)
from classical.common.rundir import RunDir
from classical.rl.models import build_model, mlp_sized_to
from classical.world_models import cem_mpc, dreamer


def matched_mlp_spec(vqc_spec: dict, head: str, in_dim: int, out_dim: int, backend: str | None) -> dict:
    """An MLP spec with (about) the parameter count of the circuit ``vqc_spec``."""
    n_params = build_model(vqc_spec, head, in_dim, out_dim, backend=backend).n_params
    return {"type": "mlp", "hidden": list(mlp_sized_to(n_params, in_dim, out_dim, n_hidden_layers=1))}


def cem_value_configs(seed: int = 0, backend: str = "qrl.torch", total_env_steps: int = 1000,
                      **overrides) -> dict[str, cem_mpc.Config]:
    """CEM-MPC on Pendulum-v1 with a short horizon and a VQC / matched-MLP terminal value,
    and the same planner without a terminal value."""
    vqc = {"type": "vqc", "n_qubits": 3, "n_layers": 3}
    base = dict(env_id="Pendulum-v1", seed=seed, total_env_steps=total_env_steps, horizon=10, gamma=0.95,
                n_candidates=300, n_elites=30, n_iters=3, backend=backend)
    base.update(overrides)
    return {"vqc_value": cem_mpc.Config(critic=vqc, **base),
            "mlp_value": cem_mpc.Config(critic=matched_mlp_spec(vqc, "value", 3, 1, backend), **base),
            "no_value": cem_mpc.Config(**base)}


def dreamer_configs(seed: int = 0, backend: str = "qrl.torch", total_env_steps: int = 1500,
                    **overrides) -> dict[str, dreamer.Config]:
    """Dreamer-style agents on the 4-D task with a VQC actor and its matched-MLP twin."""
    vqc = {"type": "vqc", "n_qubits": 4, "n_layers": 3}
    base = dict(env_id="qrl/FourDControl-v0", seed=seed, total_env_steps=total_env_steps, prefill_steps=500,
                batch_size=8, seq_len=16, imag_horizon=10, updates_per_round=10, actor_input="obs",
                lr={"world_model": 1e-3, "actor": 3e-3, "critic": 3e-4}, backend=backend)
    base.update(overrides)
    return {"vqc_actor": dreamer.Config(actor=vqc, **base),
            "mlp_actor": dreamer.Config(actor=matched_mlp_spec(vqc, "policy", 4, 4, backend), **base)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["cem", "dreamer"], required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--backend", default="qrl.torch")
    parser.add_argument("--total-env-steps", type=int, default=None)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--variants", nargs="*", default=None, help="subset of variants to run")
    parser.add_argument("--out", default="runs/wm_hybrid.jsonl")
    args = parser.parse_args()
    make = cem_value_configs if args.part == "cem" else dreamer_configs
    module = cem_mpc if args.part == "cem" else dreamer
    for seed in args.seeds:
        kw = {"eval_episodes": args.eval_episodes}
        if args.total_env_steps:
            kw["total_env_steps"] = args.total_env_steps
        for name, cfg in make(seed, args.backend, **kw).items():
            if args.variants and name not in args.variants:
                continue
            t0 = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                summary = module.run(cfg, RunDir(tmp))
            row = {"part": args.part, "variant": name, "seed": seed, **summary,
                   "wall_s": round(time.time() - t0, 1)}
            print(json.dumps(row), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

"""Episodes and wall time until REINFORCE solves CartPole-v1 (100-episode mean ≥ 475).

Runs the shipped presets (VQC: 94-parameter softmax-PQC; MLP) over several seeds and
circuit backends, one seed per process, and prints a markdown table of medians,
spreads and per-seed speed-ups against the first backend listed.

Besides the names of ``backends.yaml``, ``--backends`` accepts ``handwritten``: the
same policy circuit simulated by a hand-written torch statevector (single-qubit
gates of a layer fused per qubit, the CZ ring as one sign vector), with the agent's
initial parameters, so it follows the same training as the PennyLane backends. It
is the reference that the issue-5 target (≤ 2x its median) is measured against.

    OMP_NUM_THREADS=1 python benchmarks/cartpole_solve.py --configs configs/cartpole_vqc_reinforce.yaml \
        --backends handwritten qrl.torch default.qubit --seeds 0 1 2 3 4 --workers 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


class HandwrittenPolicy(nn.Module):
    """The softmax-PQC policy of ``qrl.models.ReuploadingPolicy`` (4 qubits, ``xyz`` rotations,
    CZ ring, RX encoding, ±⟨Z0Z1Z2Z3⟩ readout) written directly in torch."""

    def __init__(self, policy):
        super().__init__()
        vqc = policy.vqc
        assert vqc.n_qubits == vqc.n_inputs and list(vqc.observables) == ["".join(f"Z{q}" for q in range(vqc.n_qubits))]
        self.beta, self.n = policy.beta, vqc.n_qubits
        self.input_scaling = nn.Parameter(vqc.input_scaling.detach().clone())
        self.weights = nn.Parameter(vqc.weights.detach().clone())
        self.output_scaling = nn.Parameter(vqc.output_scaling.detach().clone())
        self.register_buffer("readout", vqc.readout.clone())
        x = np.arange(2**self.n)
        bits = [(x >> (self.n - 1 - q)) & 1 for q in range(self.n)]
        ring = sum(bits[i] & bits[(i + 1) % self.n] for i in range(self.n)) % 2
        self.register_buffer("cz_ring", torch.as_tensor(1 - 2 * ring).to(torch.complex64))
        parity = sum(bits) % 2
        self.register_buffer("z_all", torch.as_tensor(1 - 2 * parity).to(torch.float32))

    n_params = property(lambda self: sum(p.numel() for p in self.parameters()))

    def parameter_groups(self):
        return {"input_scaling": [self.input_scaling], "weights": [self.weights],
                "output_scaling": [self.output_scaling]}

    @staticmethod
    def _rot(axis: str, theta):
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        z = torch.zeros_like(c)
        re = {"x": [c, z, z, c], "y": [c, -s, s, c], "z": [c, z, z, c]}[axis]
        im = {"x": [z, -s, -s, z], "y": [z, z, z, z], "z": [-s, z, z, s]}[axis]
        return torch.complex(torch.stack(re, -1), torch.stack(im, -1)).unflatten(-1, (2, 2))

    def _layer(self, layer):  # RZ RY RX of every qubit, [n, 2, 2]
        w = self.weights[layer]
        return self._rot("z", w[:, 2]) @ self._rot("y", w[:, 1]) @ self._rot("x", w[:, 0])

    def _apply(self, state, u, q):
        rows = state.shape[0]
        view = state.view(rows, 2**q, 2, 2 ** (self.n - q - 1))
        return torch.matmul(u.unsqueeze(1) if u.dim() == 3 else u, view).reshape(rows, 2**self.n)

    def forward(self, x):
        batch, n = x.shape[0], self.n
        state = torch.zeros(batch, 2**n, dtype=torch.complex64)
        state[:, 0] = 1
        first = self._layer(0)
        for q in range(n):
            state = self._apply(state, first[q], q)
        for layer in range(self.input_scaling.shape[0]):
            state = state * self.cz_ring
            enc = self._rot("x", self.input_scaling[layer] * x)  # [batch, n, 2, 2]
            u = self._layer(layer + 1) @ enc
            for q in range(n):
                state = self._apply(state, u[:, q], q)
        expval = (state.real**2 + state.imag**2) @ self.z_all
        return self.beta * (expval.unsqueeze(-1) @ self.readout.T) * self.output_scaling


def solve_one(config: str, seed: int, backend: str | None, max_episodes: int, out: str) -> dict:
    torch.set_num_threads(1)
    import qrl.models  # noqa: F401  (registers the vqc model type)
    from classical.common.config import load_yaml
    from classical.common.rundir import RunDir
    from classical.common.training import adam_per_group
    from classical.rl.reinforce import Config, Reinforce

    data = load_yaml(config)
    data.pop("algo")
    data.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    data.update(seed=seed, episodes=max_episodes, eval_episodes=0)
    quantum = data["model"].get("type") == "vqc"
    if backend and quantum:
        data["backend"] = "qrl.torch" if backend == "handwritten" else backend
    agent = Reinforce(Config(**data))
    if backend == "handwritten" and quantum:
        reference = HandwrittenPolicy(agent.policy)
        probe = torch.rand(8, agent.obs_dim)
        with torch.no_grad():
            torch.testing.assert_close(reference(probe), agent.policy(probe), atol=1e-5, rtol=0)
        agent.policy = reference
        agent.optimizer = adam_per_group(reference, agent.cfg.lr)
    start = time.perf_counter()
    agent.learn(RunDir(Path(out) / f"{Path(config).stem}-{backend}-seed{seed}"), progress=False)
    return {"config": Path(config).stem, "seed": seed, "backend": backend if quantum else "-",
            "solved": agent.solved, "episodes": agent.episodes_done, "env_steps": agent.env_steps,
            "wall_seconds": time.perf_counter() - start, "params": agent.policy.n_params}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configs", nargs="+", default=["configs/cartpole_vqc_reinforce.yaml",
                                                      "configs/cartpole_mlp_reinforce.yaml"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--backends", nargs="+", default=[None],
                   help="backends for the VQC runs (backends.yaml names or 'handwritten')")
    p.add_argument("--max-episodes", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="runs/bench_cartpole")
    p.add_argument("--json", default=None, help="also write the raw results here")
    args = p.parse_args()

    # seed-major order: the arms of one seed run at about the same time (same machine load)
    jobs = [(c, s, b) for s in args.seeds for c in args.configs for b in args.backends]
    start = time.time()
    with cf.ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(solve_one, c, s, b, args.max_episodes, args.out) for c, s, b in jobs]
        results = [f.result() for f in futures]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))

    import pennylane

    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.time() - start:.0f} s; "
          f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads 1, {args.workers} workers")
    print(f"versions: torch {torch.__version__}, pennylane {pennylane.__version__}")
    print("\n| config | backend | params | seeds solved | episodes to solve (median [min, max]) "
          "| wall s (median [min, max]) | env steps/s (median) |")
    print("|---|---|---|---|---|---|---|")
    arms = list(dict.fromkeys((r["config"], r["backend"]) for r in results))
    for config, backend in arms:
        rs = [r for r in results if (r["config"], r["backend"]) == (config, backend)]
        eps = [r["episodes"] for r in rs]
        wall = [r["wall_seconds"] for r in rs]
        sps = [r["env_steps"] / r["wall_seconds"] for r in rs]
        print(f"| {config} | {backend} | {rs[0]['params']} | {sum(r['solved'] for r in rs)}/{len(rs)} "
              f"| {np.median(eps):.0f} [{min(eps)}, {max(eps)}] | {np.median(wall):.1f} [{min(wall):.1f}, "
              f"{max(wall):.1f}] | {np.median(sps):.0f} |")
    if len(args.backends) > 1:
        base = args.backends[0]
        print(f"\nper seed (episodes, wall s; ratio = wall / wall of {base}):\n")
        print("| config | seed | " + " | ".join(str(b) for b in args.backends) + " |")
        print("|---|---|" + "---|" * len(args.backends))
        for c in args.configs:
            for s in args.seeds:
                row = {r["backend"]: r for r in results if r["config"] == Path(c).stem and r["seed"] == s}
                if base not in row:
                    continue
                cells = [f"{row[b]['episodes']}{'' if row[b]['solved'] else ' (not solved)'}, "
                         f"{row[b]['wall_seconds']:.1f} s ({row[b]['wall_seconds'] / row[base]['wall_seconds']:.2f}x)"
                         for b in args.backends if b in row]
                print(f"| {Path(c).stem} | {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

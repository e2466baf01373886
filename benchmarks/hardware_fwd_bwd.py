"""Forward+backward of the 4-qubit, 5-layer re-uploading policy: qrl.qiskit vs pennylane-qiskit.

For each batch size, one forward pass of a batch of CartPole-like states through the
Jerbi et al. policy circuit (RX/RY/RZ layers, CZ ring, RX re-uploading with trainable
input scaling; 92 circuit parameters) and one backward pass (parameter-shift), on:

- ``qrl.qiskit`` Aer exact (``target=aer``, shots=None)
- ``qrl.qiskit`` Aer with 1024 shots
- ``qrl.qiskit`` Runtime local testing mode on FakeManilaV2 (``target=fake``, 1024 shots)
- pennylane-qiskit ``qiskit.aer`` (statevector, analytic), parameter-shift
- pennylane-qiskit ``qiskit.remote`` on FakeManilaV2 (Runtime local testing mode, 1024 shots)

pennylane-qiskit cannot differentiate broadcast tapes with respect to broadcast
parameters, so its QNodes get ``broadcast_expand`` (one tape per state), as
``qrl.backends.qnode`` does. Jobs are counted as primitive ``run`` calls (Aer and Runtime
primitives, and ``AerSimulator.run``); transpile calls as preset pass-manager runs.
pennylane-qiskit is measured at one batch size (``--baseline-batch``) and predicted
linearly for the others (it runs one tape per state, so its time is linear in the batch);
our cases whose predicted time (from a smaller batch) exceeds ``--cap-seconds`` are not
run either. Every predicted entry is marked as such.

    OMP_NUM_THREADS=1 python benchmarks/hardware_fwd_bwd.py --batches 8 32 256 --baseline-batch 1
    OMP_NUM_THREADS=1 python benchmarks/hardware_fwd_bwd.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pennylane as qml
import torch

from qrl.circuits import reuploading_circuit

N_QUBITS, N_LAYERS = 4, 5
COUNTS: Counter = Counter()


def policy_circuit(x, input_scaling, weights):
    return reuploading_circuit(x, input_scaling, weights, n_qubits=N_QUBITS, rotations="xyz",
                               entangler="cz_ring", encoding="rx", observables=["Z0Z1Z2Z3"])


def install_counters() -> None:
    """Counts primitive runs (jobs) and preset pass-manager runs (transpile calls)."""
    from qiskit.transpiler.passmanager import StagedPassManager
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator
    from qiskit_aer.primitives import SamplerV2 as AerSampler
    from qiskit_ibm_runtime import EstimatorV2 as RuntimeEstimator
    from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

    def counting(cls, name, key):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            COUNTS[key] += 1
            return original(self, *args, **kwargs)

        setattr(cls, name, wrapper)

    for cls in (AerEstimator, AerSampler, RuntimeEstimator, RuntimeSampler):
        counting(cls, "run", "jobs")
    counting(AerSimulator, "run", "aer_runs")
    counting(StagedPassManager, "run", "transpiles")


def make_qnode(kind: str, shots: int | None):
    if kind == "qrl.aer":
        dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="aer", seed=1)
    elif kind == "qrl.fake":
        dev = qml.device("qrl.qiskit", wires=N_QUBITS, target="fake",
                         fake_backend="FakeManilaV2", seed=1)
    elif kind == "pl-qiskit.aer":
        dev = qml.device("qiskit.aer", wires=N_QUBITS, method="statevector")
    elif kind == "pl-qiskit.remote":
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        dev = qml.device("qiskit.remote", wires=N_QUBITS, backend=FakeManilaV2())
    else:
        raise ValueError(kind)
    node = qml.QNode(policy_circuit, dev, interface="torch", diff_method="parameter-shift")
    if kind.startswith("pl-qiskit"):
        node = qml.transforms.broadcast_expand(node)
    if shots:
        node = qml.set_shots(node, shots)
    return node, dev


def inputs(batch: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, N_QUBITS, generator=gen) * 2 - 1).double()
    scaling = torch.ones(N_LAYERS, N_QUBITS, dtype=torch.float64, requires_grad=True)
    weights = (torch.rand(N_LAYERS + 1, N_QUBITS, 3, generator=gen) * np.pi).double()
    return x, scaling, weights.requires_grad_()


def one_step(node, batch, seed):
    x, scaling, weights = inputs(batch, seed)
    out = node(x, scaling, weights)
    out = torch.stack(list(out)) if isinstance(out, (list, tuple)) else out
    out.sum().backward()
    return out.detach()


def measure(kind: str, shots: int | None, batch: int, reps: int) -> dict:
    node, dev = make_qnode(kind, shots)
    times, jobs, transpiles = [], [], []
    for rep in range(reps):
        before = Counter(COUNTS)
        start = time.perf_counter()
        one_step(node, batch, rep)
        times.append(time.perf_counter() - start)
        primitive_runs = COUNTS["jobs"] - before["jobs"]
        # a primitive job runs Aer inside it; count direct AerSimulator runs only without one
        jobs.append(primitive_runs or COUNTS["aer_runs"] - before["aer_runs"])
        transpiles.append(COUNTS["transpiles"] - before["transpiles"])
    return {"kind": kind, "shots": shots, "batch": batch, "reps": reps,
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "first_s": times[0], "jobs": jobs, "transpiles": transpiles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 256])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per qrl case")
    parser.add_argument("--baseline-reps", type=int, default=1,
                        help="repetitions per pennylane-qiskit case")
    parser.add_argument("--cap-seconds", type=float, default=120.0,
                        help="skip a case predicted (from a smaller batch) to take longer")
    parser.add_argument("--baseline-batch", type=int, default=1,
                        help="the one batch size measured for pennylane-qiskit; larger batches "
                             "are predicted from its per-state time (it runs one tape per state)")
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="batches 2 and 8, one repetition")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.reps, args.cap_seconds = [2, 8], 1, 30.0
    torch.set_num_threads(1)
    install_counters()
    import qiskit
    import qiskit_aer
    import qiskit_ibm_runtime
    import pennylane_qiskit

    print(f"# torch {torch.__version__}, pennylane {qml.__version__}, pennylane-qiskit "
          f"{pennylane_qiskit.__version__}, qiskit {qiskit.__version__}, qiskit-aer "
          f"{qiskit_aer.__version__}, qiskit-ibm-runtime {qiskit_ibm_runtime.__version__}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads 1; "
          f"load average {os.getloadavg()[0]:.1f}")
    cases = [("qrl.aer", None), ("qrl.aer", args.shots), ("qrl.fake", args.shots),
             ("pl-qiskit.aer", None), ("pl-qiskit.remote", args.shots)]
    per_state: dict = {}
    print("| device | shots | batch | median s (min–max) | first call s | jobs per fwd+bwd | "
          "transpile calls per fwd+bwd |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for kind, shots in cases:
        baseline = kind.startswith("pl-qiskit")
        batches = sorted(set(args.batches) | ({args.baseline_batch} if baseline else set()))
        for batch in batches:
            if (kind, shots) in per_state:
                predicted = per_state[(kind, shots)] * batch
                if baseline or predicted > args.cap_seconds:
                    why = "baseline measured at one batch" if baseline else "over the cap"
                    print(f"| {kind} | {shots or 'exact'} | {batch} | not run ({why}): predicted "
                          f"{predicted:.0f} s from batch {per_state[(kind, shots, 'b')]} | | | |",
                          flush=True)
                    results.append({"kind": kind, "shots": shots, "batch": batch,
                                    "predicted_s": predicted})
                    continue
            r = measure(kind, shots, batch, args.baseline_reps if baseline else args.reps)
            per_state[(kind, shots)] = r["median_s"] / batch
            per_state[(kind, shots, "b")] = batch
            results.append(r)
            print(f"| {kind} | {shots or 'exact'} | {batch} | {r['median_s']:.3f} "
                  f"({r['min_s']:.3f}–{r['max_s']:.3f}) | {r['first_s']:.3f} | "
                  f"{r['jobs']} | {r['transpiles']} |", flush=True)
    print("\n# speed-ups (pennylane-qiskit median or capped prediction / qrl.qiskit median)")
    for ours, theirs in [(("qrl.aer", None), ("pl-qiskit.aer", None)),
                         (("qrl.fake", args.shots), ("pl-qiskit.remote", args.shots))]:
        for batch in sorted(args.batches):
            a = next((r for r in results if (r["kind"], r["shots"], r["batch"]) == (*ours, batch)), None)
            b = next((r for r in results if (r["kind"], r["shots"], r["batch"]) == (*theirs, batch)), None)
            if a and b:
                ta = a.get("median_s", a.get("predicted_s"))
                tb = b.get("median_s", b.get("predicted_s"))
                tag = " and ".join(f"{n} {'measured' if 'median_s' in r else 'predicted'}"
                                   for n, r in (("ours", a), ("theirs", b)))
                print(f"batch {batch}: {ours[0]} vs {theirs[0]}: {tb / ta:.0f}x ({tag})",
                      flush=True)


if __name__ == "__main__":
    main()

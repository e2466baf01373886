"""Forward+backward throughput of the re-uploading policy circuit on several simulators.

The circuit is the Jerbi-style data re-uploading policy our agents use: for each of
``L`` layers, per qubit ``RX(lambda * x)`` (trainable input scaling), per qubit
``RX, RY, RZ`` variational rotations, a CZ ring; then a final variational layer; the
output is ``<Z_0 Z_1 ... Z_{n-1}>``. Inputs are broadcast over a batch ``[batch, n]``;
weights are not batched. One timed call = forward + ``loss.backward()``.

Methods:

* ``reference``: a hand-written torch statevector simulation of exactly this circuit
  (complex64; every gate applied on its own with an einsum, the CZ ring as one
  precomputed +-1 diagonal, rotation matrices built per layer for all qubits at once).
* ``reference-fused``: the same, with each layer's four rotations per qubit multiplied
  into one 2x2 matrix first (``rz @ ry @ rx @ enc`` for all qubits at once), then
  applied with one einsum per qubit: the fastest straightforward hand-written version.
* ``qrl.torch``: our device, backprop, broadcast (``qrl.torch-nofuse``: same with
  single-qubit gate fusion switched off, to measure what fusion buys).
* ``default.qubit``: backprop with parameter broadcasting.
* ``lightning.qubit``: adjoint differentiation (PennyLane splits the broadcast tape).
* ``default.qubit-loop``: one QNode call per sample, only for 4 qubits.

Run ``python benchmarks/circuit_throughput.py --help`` for the flags; ``--quick`` is a
small smoke run. Threads are pinned to one (OMP_NUM_THREADS=1, torch.set_num_threads(1)).

**Example**

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/circuit_throughput.py --quick
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

LAYERS = 5
METHODS = ("reference", "reference-fused", "qrl.torch", "qrl.torch-compiled", "qrl.torch-nofuse", "default.qubit",
           "lightning.qubit", "default.qubit-loop")
BACKWARD = True  # --forward-only sets False: time forward passes under torch.no_grad


# --------------------------------------------------------------------------- circuit


def make_params(n: int, layers: int = LAYERS, seed: int = 0, dtype=torch.float32):
    """Input scaling [layers, n] and rotation angles [layers + 1, n, 3], both trainable."""
    gen = torch.Generator().manual_seed(seed)
    lam = torch.ones(layers, n, dtype=dtype) + 0.1 * torch.randn(layers, n, generator=gen,
                                                                  dtype=dtype)
    weights = torch.rand(layers + 1, n, 3, generator=gen, dtype=dtype) * 2 * np.pi
    return lam.requires_grad_(), weights.requires_grad_()


def make_inputs(batch: int, n: int, seed: int = 1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, n, generator=gen, dtype=dtype) * 2 - 1


def reuploading_circuit(x, lam, weights):
    """PennyLane version of the policy circuit (x: [batch, n] or [n]).

    Gate angles are sliced with one ``unbind`` per tensor: indexing ``weights[l, q, k]``
    per gate puts hundreds of select nodes into the autograd graph, which costs every
    PennyLane device more than simulating a small circuit.
    """
    layers, n = lam.shape
    # encoding angles lam[l, q] * x[..., q], all layers at once: [layers * n] tensors
    scale = lam.reshape(layers, n, *([1] * (x.dim() - 1)))
    enc = (scale * x.movedim(-1, 0).unsqueeze(0)).reshape(layers * n, *x.shape[:-1])
    enc = enc.unbind(0)
    angles = weights.reshape(-1).unbind(0)
    for layer in range(layers):
        for i in range(n):
            qml.RX(enc[layer * n + i], wires=i)
        for i in range(n):
            k = 3 * (layer * n + i)
            qml.RX(angles[k], wires=i)
            qml.RY(angles[k + 1], wires=i)
            qml.RZ(angles[k + 2], wires=i)
        for i in range(n):
            qml.CZ(wires=[i, (i + 1) % n])
    for i in range(n):
        k = 3 * (layers * n + i)
        qml.RX(angles[k], wires=i)
        qml.RY(angles[k + 1], wires=i)
        qml.RZ(angles[k + 2], wires=i)
    return qml.expval(qml.prod(*[qml.Z(i) for i in range(n)]))


# --------------------------------------------------------------------------- reference


_ROTATION_ENTRIES = {  # (real, imaginary) parts of RX, RY, RZ as [00, 01, 10, 11], from cos and sin of theta/2
    "x": lambda c, s, z: ([c, z, z, c], [z, -s, -s, z]),
    "y": lambda c, s, z: ([c, -s, s, c], [z, z, z, z]),
    "z": lambda c, s, z: ([c, z, z, c], [-s, z, z, s]),
}


def rotation(theta, axis: str) -> torch.Tensor:
    """RX / RY / RZ (``axis`` x, y or z) of every angle in ``theta``: complex [..., 2, 2]."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    re, im = _ROTATION_ENTRIES[axis](c, s, torch.zeros_like(c))
    return torch.complex(torch.stack(re, -1), torch.stack(im, -1)).unflatten(-1, (2, 2))


def cz_ring_phases(n: int) -> torch.Tensor:
    """The CZ ring CZ(0,1) CZ(1,2) ... CZ(n-1,0) as a +-1 diagonal over the 2**n basis states
    (complex64; one qubit has no ring)."""
    x = np.arange(2**n)
    bits = [(x >> (n - 1 - q)) & 1 for q in range(n)]
    # CZ(i, i+1) flips the sign of basis states with both bits set
    flips = sum(bits[i] & bits[(i + 1) % n] for i in range(n)) % 2 if n > 1 else 0 * x
    return torch.as_tensor(1 - 2 * flips).to(torch.complex64)


def apply_gate(state: torch.Tensor, mat: torch.Tensor, q: int, n: int) -> torch.Tensor:
    """``state`` [rows, 2**n] after the one-qubit gate ``mat`` on qubit ``q`` (wire 0 the most
    significant bit): one [2, 2] for every row, or one per row [rows, 2, 2]; a single-row state
    is broadcast to a batch of gates."""
    rows = state.shape[0]
    view = state.view(rows, 2**q, 2, 2 ** (n - q - 1))
    if mat.dim() == 3:
        if rows != mat.shape[0]:
            view = view.expand(mat.shape[0], -1, -1, -1)
            rows = mat.shape[0]
        out = torch.einsum("bij,bajc->baic", mat, view)
    else:
        out = torch.einsum("ij,bajc->baic", mat, view)
    return out.reshape(rows, 2**n)


def _z_signs(n: int, qubits) -> torch.Tensor:
    x = np.arange(2**n)
    parity = np.zeros_like(x)
    for q in qubits:
        parity ^= (x >> (n - 1 - q)) & 1
    return torch.as_tensor(1 - 2 * parity)


class ReferencePolicy:
    """Hand-written torch statevector simulation of ``reuploading_circuit``."""

    def __init__(self, n: int, fused: bool = False):
        self.n = n
        self.fused = fused
        self.cz_ring = cz_ring_phases(n)
        self.obs_signs = _z_signs(n, range(n)).to(torch.float32)

    def __call__(self, x, lam, weights):
        batch, n = x.shape
        state = torch.zeros(batch, 2**n, dtype=torch.complex64)
        state[:, 0] = 1
        for layer in range(lam.shape[0] + 1):
            if layer < lam.shape[0]:
                enc = rotation(lam[layer] * x, "x")  # [batch, n, 2, 2]
                for q in range(n if not self.fused else 0):
                    state = apply_gate(state, enc[:, q], q, n)
            rx, ry, rz = (rotation(weights[layer, :, j], axis) for j, axis in enumerate("xyz"))
            if self.fused:
                unitary = rz @ ry @ rx
                if layer < lam.shape[0]:
                    unitary = unitary @ enc  # [batch, n, 2, 2]
                for q in range(n):
                    state = apply_gate(state, unitary[..., q, :, :], q, n)
            for q in range(n if not self.fused else 0):
                state = apply_gate(state, rx[q], q, n)
                state = apply_gate(state, ry[q], q, n)
                state = apply_gate(state, rz[q], q, n)
            if layer < lam.shape[0]:
                state = state * self.cz_ring
        probs = state.real**2 + state.imag**2
        return probs @ self.obs_signs


# --------------------------------------------------------------------------- runners


def make_runner(method: str, n: int, batch: int):
    """A zero-argument function doing one forward + backward pass."""
    lam, weights = make_params(n)
    x = make_inputs(batch, n)
    if method.startswith("reference"):
        policy = ReferencePolicy(n, fused=method == "reference-fused")

        def run():
            lam.grad = weights.grad = None
            _finish(policy(x, lam, weights))

        return run
    if method == "default.qubit-loop":
        qnode = qml.QNode(reuploading_circuit, qml.device("default.qubit", wires=n),
                          interface="torch", diff_method="backprop")

        def run():
            lam.grad = weights.grad = None
            _finish(torch.stack([qnode(x[b], lam, weights) for b in range(batch)]))

        return run
    if method == "qrl.torch-compiled":
        # the device's compiled circuit, fed packed angles the way qrl.models.VQC does
        dev = qml.device("qrl.torch", wires=n)
        qnode = qml.QNode(reuploading_circuit, dev, interface="torch", diff_method="backprop")
        compiled = dev.compile(qml.workflow.construct_tape(qnode)(x, lam, weights))

        def packed():
            return weights.reshape(-1), (x.unsqueeze(-2) * lam).flatten(-2)

        for ours, traced in zip(packed(), compiled.pack(compiled.traced_parameters)):
            assert torch.equal(ours.detach().double(), traced.detach())

        def run():
            lam.grad = weights.grad = None
            _finish(compiled.packed(*packed())[0])

        return run
    if method.startswith("qrl.torch"):
        dev = qml.device("qrl.torch", wires=n, fuse=not method.endswith("nofuse"))
        diff = "backprop"
    elif method == "default.qubit":
        dev, diff = qml.device("default.qubit", wires=n), "backprop"
    elif method == "lightning.qubit":
        dev, diff = qml.device("lightning.qubit", wires=n), "adjoint"
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    qnode = qml.QNode(reuploading_circuit, dev, interface="torch", diff_method=diff)

    def run():
        lam.grad = weights.grad = None
        _finish(torch.as_tensor(qnode(x, lam, weights)))

    return run


def _finish(out):
    """Backward from the output sum, unless only forward passes are timed."""
    if BACKWARD:
        out.sum().backward()


def time_runner(run, budget_s: float, max_reps: int, min_reps: int = 3):
    """Median CPU time and wall time (ms) of ``run`` after one warm-up call.

    CPU time (``time.process_time``) is the headline number: with one thread it is
    the work the call needs, and it stays meaningful while other jobs share the two
    cores; wall time is reported next to it.
    """
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    cpu, wall = [], []
    while len(cpu) < max_reps and (len(cpu) < min_reps or sum(wall) < budget_s):
        if first > budget_s and cpu:
            break
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(cpu), 1e3 * statistics.median(wall), len(cpu)


# --------------------------------------------------------------------------- memory


def peak_rss_child(method: str, n: int, batch: int, backward: bool) -> None:
    """Run one pass and print baseline and peak RSS (MB) for the parent to read."""
    run = make_runner(method, n, batch) if backward else None
    lam, weights = make_params(n)
    x = make_inputs(batch, n)
    baseline = _high_water_mb()
    if backward:
        run()
    else:
        with torch.no_grad():
            if method.startswith("reference"):
                ReferencePolicy(n, fused=method == "reference-fused")(x, lam, weights)
            else:
                dev = qml.device(method, wires=n)
                qml.QNode(reuploading_circuit, dev, interface="torch")(x, lam, weights)
    peak = _high_water_mb()
    print(f"RSS {baseline:.0f} {peak:.0f}")


def _high_water_mb() -> float:
    """Peak RSS of this process (VmHWM). ``getrusage().ru_maxrss`` is not used: Linux keeps
    it across fork + exec, so a child reports its parent's peak when that is larger."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_peak(method: str, n: int, batch: int, backward: bool):
    cmd = [sys.executable, __file__, "--memory-child", method, str(n), str(batch),
           "1" if backward else "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RSS "):
            base, peak = (float(v) for v in line.split()[1:])
            return base, peak
    raise RuntimeError(f"memory child failed: {out.stderr[-2000:]}")


def available_memory_gb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 2**20
    return float("nan")


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small run: 4 and 8 qubits, batches 1 and 32, short budgets")
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of timed repetitions per case (after a warm-up call)")
    parser.add_argument("--max-reps", type=int, default=25)
    parser.add_argument("--cap", type=float, default=60.0,
                        help="skip a case whose predicted single call exceeds this many CPU seconds")
    parser.add_argument("--mem-gb-needed", type=float, default=16.0,
                        help="skip default.qubit at 12 qubits x 256 unless this much RAM is free")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure peak RSS at 16 qubits, batch 64 (subprocesses)")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the 16-qubit peak-memory measurement")
    parser.add_argument("--forward-only", action="store_true",
                        help="time forward passes under torch.no_grad (what acting costs)")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global BACKWARD
    BACKWARD = not args.forward_only

    if args.memory_child:
        method, n, batch, backward = args.memory_child
        peak_rss_child(method, int(n), int(batch), backward == "1")
        return
    if args.quick:
        args.qubits, args.batches, args.budget, args.max_reps = [4, 8], [1, 32], 0.5, 5
        args.memory = False

    print(f"date {datetime.datetime.now().isoformat(timespec='minutes')}")
    print(f"command {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"pennylane {qml.__version__}, machine {platform.machine()} "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"torch threads {torch.get_num_threads()}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if args.memory_only:
        args.qubits = []
    header = "| qubits | batch | " + " | ".join(args.methods) + " |"
    print(header)
    print("|" + "---|" * (2 + len(args.methods)))
    per_sample_cost: dict[str, float] = {}
    for n in args.qubits:
        for batch in args.batches:
            cells = []
            for method in args.methods:
                cells.append(_one_case(method, n, batch, args, per_sample_cost))
            print(f"| {n} | {batch} | " + " | ".join(cells) + " |", flush=True)
    print(f"(median ms of {'forward' if args.forward_only else 'forward + backward'}: "
          "CPU time / wall time (number of timed calls))")

    if args.memory:
        print("\npeak RSS, 16 qubits, batch 64 (MB; baseline = after imports and setup)")
        for method, backward in (("qrl.torch", True), ("qrl.torch", False),
                                 ("reference-fused", True), ("reference-fused", False),
                                 ("reference", False), ("reference", True)):
            if backward and method == "reference" and available_memory_gb() < args.mem_gb_needed:
                print(f"{method} forward+backward: skipped, less than "
                      f"{args.mem_gb_needed} GB free")
                continue
            base, peak = measure_peak(method, 16, 64, backward)
            kind = "forward+backward" if backward else "forward (no_grad)"
            print(f"{method} {kind}: peak {peak:.0f} MB, baseline {base:.0f} MB, "
                  f"increase {peak - base:.0f} MB")


def _one_case(method, n, batch, args, per_sample_cost) -> str:
    if method == "default.qubit-loop" and n != min(args.qubits):
        return "—"
    if method == "default.qubit" and n >= 12 and batch >= 256:
        free = available_memory_gb()
        if free < args.mem_gb_needed:
            return f"skipped ({free:.0f} GB free)"
    # methods whose cost grows ~linearly with batch: predict from smaller batches
    key = f"{method}/{n}"
    if key in per_sample_cost and per_sample_cost[key] * batch > args.cap * 1e3:
        return f"skipped (>{args.cap:.0f} s predicted)"
    run = make_runner(method, n, batch)
    if not BACKWARD:
        inner = run

        def run():
            with torch.no_grad():
                inner()
    cpu, wall, reps = time_runner(run, args.budget, args.max_reps)
    if method in ("lightning.qubit", "default.qubit-loop"):
        per_sample_cost[key] = cpu / batch
    return f"{cpu:,.1f} / {wall:,.1f} ({reps})"


if __name__ == "__main__":
    main()

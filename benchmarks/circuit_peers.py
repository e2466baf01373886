"""qrl.torch against a hand-written torch simulation and TensorCircuit-NG (JAX, jit), side by side.

The circuit is the one of ``qrl.models.VQC`` with 5 layers: per layer, RX RY RZ on every
qubit, a CZ ring, the encoding RX(λ_q · x_q); then a last RX RY RZ layer; the output is
⟨Z0 Z1 … Z(n-1)⟩. Weights are not broadcast, inputs are ``[batch, n]``. One timed call is
forward + backward (gradients of λ and θ) unless ``--acting``.

Methods (all in this one process, timed round-robin, so load hits them alike):

* ``qrl.torch``: ``qrl.models.VQC(..., backend="qrl.torch")`` (compiled circuit, complex64);
* ``handwritten``: a plain torch statevector of the same circuit (complex64; each layer's
  rotations per qubit multiplied into one 2x2 first, one einsum per qubit, the CZ ring as
  one ±1 vector): the straightforward fast hand-written version, built from the reference
  simulator's pieces in ``circuit_throughput.py`` (``rotation``, ``apply_gate``, ``cz_ring_phases``);
* ``tc-jax``: TensorCircuit-NG on JAX, ``jit(value_and_grad(sum ∘ vmap(circuit)))``
  (complex64); its compile time is reported separately and excluded from the medians;
* ``default.qubit``: the same ``VQC`` on PennyLane's default.qubit (backprop, broadcast).

Values and gradients of every method are checked against qrl.torch before timing
(float32: 2e-4). TensorCircuit-NG and JAX are not project dependencies; they live in a
separate benchmark environment (see ``benchmarks/README.md``); without them the
``tc-jax`` column is skipped with a note.

**Example**

    OMP_NUM_THREADS=1 /work/bench-venv/bin/python benchmarks/circuit_peers.py --sizes 4x1 4x10 --seconds 5
    OMP_NUM_THREADS=1 /work/bench-venv/bin/python benchmarks/circuit_peers.py --acting --calls 1000
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from circuit_throughput import apply_gate, cz_ring_phases, rotation  # noqa: E402  (the reference simulator's pieces)

torch.set_num_threads(1)

LAYERS = 5
METHODS = ("qrl.torch", "handwritten", "tc-jax", "default.qubit")


def make_params(n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    lam = 1.0 + 0.1 * torch.randn(LAYERS, n, generator=gen)
    weights = torch.rand(LAYERS + 1, n, 3, generator=gen) * 2 * np.pi
    return lam, weights


def make_inputs(batch: int, n: int, seed: int = 1):
    return torch.rand(batch, n, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --------------------------------------------------------------------------- methods


def qrl_model(n: int, backend: str, lam, weights, n_outputs: int = 1, observables=None):
    from qrl.models import VQC

    words = observables or ["".join(f"Z{q}" for q in range(n))]
    model = VQC(n, n_outputs, n_qubits=n, n_layers=LAYERS, backend=backend, observables=words,
                readout=torch.eye(len(words)) if n_outputs > 1 else torch.ones(1, 1), output_scaling=False)
    with torch.no_grad():
        model.input_scaling.copy_(lam)
        model.weights.copy_(weights)
    return model


class Handwritten:
    """Hand-written torch statevector of the VQC circuit (complex64)."""

    def __init__(self, n: int, observables):
        self.n = n
        x = np.arange(2**n)
        bits = [(x >> (n - 1 - q)) & 1 for q in range(n)]
        self.cz_ring = cz_ring_phases(n)
        self.signs = torch.stack([torch.as_tensor(1 - 2 * (sum(bits[q] for q in qs) % 2)).float()
                                  for qs in observables], -1)
        self.zero = torch.zeros(1, 2**n, dtype=torch.complex64)
        self.zero[0, 0] = 1

    def __call__(self, x, lam, weights):
        batch, n = x.shape
        state = self.zero
        # variational layer l: RZ RY RX per qubit, fused; all layers at once
        var = (rotation(weights[..., 2], "z") @ rotation(weights[..., 1], "y")
               @ rotation(weights[..., 0], "x"))  # [L+1, n, 2, 2]
        enc = rotation((lam.unsqueeze(1) * x.unsqueeze(0)), "x")  # [L, batch, n, 2, 2]
        for layer in range(LAYERS + 1):
            for q in range(n):
                mat = var[layer, q]
                if layer > 0:  # the previous layer's encoding, fused with this layer's rotations
                    mat = mat @ enc[layer - 1, :, q]
                state = apply_gate(state, mat, q, n)
            if layer < LAYERS:
                state = state * self.cz_ring
        probs = state.real**2 + state.imag**2
        return probs @ self.signs


def tc_function(n: int, observables):
    """TensorCircuit-NG on JAX: jitted value-and-grad and jitted forward of the batched circuit."""
    import jax
    import jax.numpy as jnp
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype("complex64")
    K = tc.backend

    def circuit(x, lam, weights):
        c = tc.Circuit(n)
        for layer in range(LAYERS + 1):
            for q in range(n):
                c.rx(q, theta=weights[layer, q, 0])
                c.ry(q, theta=weights[layer, q, 1])
                c.rz(q, theta=weights[layer, q, 2])
            if layer == LAYERS:
                break
            for q in range(n if n > 2 else n - 1):
                c.cz(q, (q + 1) % n)
            for q in range(n):
                c.rx(q, theta=lam[layer, q] * x[q])
        return jnp.stack([K.real(c.expectation_ps(z=list(qs))) for qs in observables])

    batched = K.vmap(circuit, vectorized_argnums=0)

    def loss(x, lam, weights):
        return jnp.sum(batched(x, lam, weights))

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2)))
    forward = jax.jit(batched)
    return value_and_grad, forward


def make_runner(method: str, n: int, batch: int, acting: bool = False):
    """(one call: forward+backward or forward only, reference values for the check, compile seconds)."""
    lam, weights = make_params(n)
    x = make_inputs(batch, n)
    observables = [tuple(range(n))] if not acting else [(0, 1), (2, 3)]
    words = ["".join(f"Z{q}" for q in qs) for qs in observables]
    if method in ("qrl.torch", "default.qubit"):
        model = qrl_model(n, method, lam, weights, n_outputs=len(words), observables=words)
        if acting:  # the agents' Q-network: Z0Z1 and Z2Z3 with trainable output weights
            from qrl.models import ReuploadingQNetwork

            model = ReuploadingQNetwork(n, 2, backend=method)
            with torch.no_grad():
                model.vqc.input_scaling.copy_(lam)
                model.vqc.weights.copy_(weights)

            def run():
                with torch.inference_mode():
                    return int(model(x).argmax(-1)[0])
            return run, None, 0.0

        def run():
            model.zero_grad(set_to_none=True)
            out = model(x)
            out.sum().backward()
            return out.detach(), model.input_scaling.grad, model.weights.grad

        return run, run, 0.0
    if method == "handwritten":
        sim = Handwritten(n, observables)
        if acting:
            def run():
                with torch.inference_mode():
                    return int(sim(x, lam, weights).argmax(-1)[0])
            return run, None, 0.0
        lam_p, w_p = lam.clone().requires_grad_(), weights.clone().requires_grad_()

        def run():
            lam_p.grad = w_p.grad = None
            out = sim(x, lam_p, w_p)
            out.sum().backward()
            return out.detach(), lam_p.grad, w_p.grad

        return run, run, 0.0
    if method == "tc-jax":
        import jax

        value_and_grad, forward = tc_function(n, observables)
        xj, lj, wj = (jax.numpy.asarray(t.numpy()) for t in (x, lam, weights))
        start = time.perf_counter()
        if acting:
            jax.block_until_ready(forward(xj, lj, wj))
            compile_s = time.perf_counter() - start

            def run():
                return int(np.asarray(forward(xj, lj, wj)).argmax(-1)[0])
            return run, None, compile_s
        jax.block_until_ready(value_and_grad(xj, lj, wj))
        compile_s = time.perf_counter() - start

        def run():
            value, (g_lam, g_w) = value_and_grad(xj, lj, wj)
            jax.block_until_ready(g_w)
            return value, g_lam, g_w

        def check():
            value, g_lam, g_w = run()
            return (torch.as_tensor(np.asarray(forward(xj, lj, wj))).float(),
                    torch.as_tensor(np.asarray(g_lam)), torch.as_tensor(np.asarray(g_w)))

        return run, check, compile_s
    raise ValueError(method)


def check_equal(results: dict, tol: float = 2e-4) -> list[str]:
    """Forward values and gradients of every method against qrl.torch's."""
    ref = results.get("qrl.torch")
    notes = []
    for method, got in results.items():
        if method == "qrl.torch" or ref is None:
            continue
        for name, a, b in zip(("values", "d lambda", "d theta"), got, ref):
            a = torch.as_tensor(a).float().reshape(b.shape)
            err = float((a - b.float()).abs().max())
            if err > tol * max(1.0, float(b.abs().max())):
                raise AssertionError(f"{method} {name} differ from qrl.torch by {err:.2e}")
        notes.append(method)
    return notes


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["4x1", "4x10", "8x1", "8x10", "4x256", "8x256", "12x10"],
                        help="qubits x batch")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seconds", type=float, default=10.0, help="time budget per size (all methods)")
    parser.add_argument("--max-reps", type=int, default=200)
    parser.add_argument("--acting", action="store_true", help="4 qubits, batch 1, forward + argmax: calls/s")
    parser.add_argument("--calls", type=int, default=1000, help="calls per method with --acting")
    parser.add_argument("--skip-default-qubit-above", type=int, default=8, help="qubits")
    args = parser.parse_args(argv)

    import pennylane as qml

    versions = [f"python {platform.python_version()}", f"torch {torch.__version__}", f"pennylane {qml.__version__}"]
    methods = list(args.methods)
    try:
        import jax
        import tensorcircuit as tc
        versions += [f"tensorcircuit-ng {tc.__version__}", f"jax {jax.__version__}"]
    except ImportError as err:
        print(f"# tc-jax skipped: {err} (see benchmarks/README.md for the benchmark environment)")
        methods = [m for m in methods if m != "tc-jax"]
    print("#", ", ".join(versions), f"| threads: torch {torch.get_num_threads()},",
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} | load average {os.getloadavg()}")

    if args.acting:
        print("| method | calls/s (wall, median of 5 blocks) | CPU calls/s | actions agree |")
        print("|---|---|---|---|")
        runners = {m: make_runner(m, 4, 1, acting=True) for m in methods}
        actions = {m: r[0]() for m, r in runners.items()}
        walls, cpus = {m: [] for m in methods}, {m: [] for m in methods}
        block = max(1, args.calls // 5)
        for _ in range(5):
            for m, (run, _, _) in runners.items():
                t, c = time.perf_counter(), time.process_time()
                for _ in range(block):
                    run()
                walls[m].append(block / (time.perf_counter() - t))
                cpus[m].append(block / max(time.process_time() - c, 1e-9))
        for m in methods:
            print(f"| {m} | {statistics.median(walls[m]):,.0f} | {statistics.median(cpus[m]):,.0f} | "
                  f"{actions[m] == actions['qrl.torch'] if 'qrl.torch' in actions else ''} |")
        print(f"# load average after: {os.getloadavg()}")
        return

    print("| qubits, batch | " + " | ".join(f"{m} wall ms | CPU ms" for m in methods)
          + " | qrl.torch ÷ tc-jax (wall, CPU) | reps |")
    print("|---" * (2 * len(methods) + 3) + "|")
    for size in args.sizes:
        n, batch = (int(v) for v in size.split("x"))
        cell = [m for m in methods if not (m == "default.qubit" and n > args.skip_default_qubit_above)]
        runners, checks, compile_s = {}, {}, {}
        for m in cell:
            runners[m], check, compile_s[m] = make_runner(m, n, batch)
            runners[m]()  # warm-up (qrl.torch compiles its circuit here)
            checks[m] = tuple(torch.as_tensor(np.asarray(v)) for v in check())
        check_equal(checks)
        walls, cpus = {m: [] for m in cell}, {m: [] for m in cell}
        start = time.perf_counter()
        reps = 0
        while reps < args.max_reps and (reps < 3 or time.perf_counter() - start < args.seconds):
            for m in cell:
                t, c = time.perf_counter(), time.process_time()
                runners[m]()
                walls[m].append(1e3 * (time.perf_counter() - t))
                cpus[m].append(1e3 * (time.process_time() - c))
            reps += 1
        med = {m: (statistics.median(walls[m]), statistics.median(cpus[m])) for m in cell}
        cols = " | ".join(f"{med[m][0]:.2f} | {med[m][1]:.2f}" if m in med else "— | —" for m in methods)
        ratio = ""
        if "tc-jax" in med and "qrl.torch" in med:
            ratio = f"{med['qrl.torch'][0] / med['tc-jax'][0]:.2f}x, {med['qrl.torch'][1] / med['tc-jax'][1]:.2f}x"
        print(f"| {n}, {batch} | {cols} | {ratio} | {reps} |", flush=True)
        if "tc-jax" in compile_s:
            print(f"#   {n}x{batch}: tc-jax jit compile {compile_s['tc-jax']:.1f} s; peak RSS so far "
                  f"{peak_rss_mb():.0f} MB; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())

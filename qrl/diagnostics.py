"""Measurements of circuits across backends: expectation errors against exact simulation, barren plateaus.

- :func:`backend_errors`: one fixed re-uploading circuit, the same batch of inputs, every
  backend named; the error of each backend's outputs against the exact statevector.
- :func:`gradient_variance`: variance over random parameter draws of one gradient
  component of a global observable, by qubits and layers (McClean et al. 2018).

**Example**

>>> rows = gradient_variance([2], layers=[1], samples=4, backend="qrl.torch")
>>> rows[0]["n_qubits"], rows[0]["grad_variance"] >= 0
(2, True)
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from classical.common import rollouts
from qrl.models import VQC

CARTPOLE_SCALE = torch.tensor(rollouts.CARTPOLE_SCALE)


def cartpole_like_states(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` states spread over CartPole's usual ranges, already divided by them (entries in [-1, 1])."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, generator=gen) * 2 - 1


def backend_errors(backends: Sequence[str], n_states: int = 16, n_qubits: int = 4, n_layers: int = 2,
                   exact_backend: str = "qrl.torch", seed: int = 0) -> list[dict]:
    """Outputs of one circuit on each backend against the exact statevector; one row per backend.

    Args:
        backends: ``backends.yaml`` entries to compare.
        n_states: inputs in the batch.
        n_qubits, n_layers: circuit size (2 outputs, as the CartPole policy).
        exact_backend: the exact reference.
        seed: seed of the circuit's parameters and of the inputs.

    Returns:
        rows with ``backend``, ``mean_abs_error``, ``max_abs_error`` and ``seconds`` (one forward pass).
    """
    x = cartpole_like_states(n_states, seed)
    torch.manual_seed(seed)
    reference = VQC(4, 2, n_qubits, n_layers, backend=exact_backend)
    with torch.no_grad():
        exact = reference(x)
    rows = []
    for name in backends:
        model = VQC(4, 2, n_qubits, n_layers, backend=name)
        model.load_state_dict(reference.state_dict())
        start = time.perf_counter()
        with torch.no_grad():
            out = model(x)
        seconds = time.perf_counter() - start
        err = (out.double() - exact.double()).abs()
        rows.append({"backend": name, "mean_abs_error": float(err.mean()), "max_abs_error": float(err.max()),
                     "seconds": seconds})
    return rows


def gradient_variance(qubits: Sequence[int], layers: Sequence[int], samples: int = 100,
                      backend: str = "qrl.torch", seed: int = 0,
                      costs: Sequence[str] = ("global",)) -> list[dict]:
    """Var[∂C/∂θ₀] over uniformly random angles, for each (cost, qubits, layers); one row each.

    The global cost is the all-qubit Z parity, the local one ``Z0``; the derivative is taken
    with respect to the first variational angle, inputs are random states and the input
    scaling is 1. Exponential decay of the global cost's variance with the number of qubits
    is the barren plateau; the local cost decays much more slowly. Rows: ``cost``,
    ``n_qubits``, ``n_layers``, ``samples``, ``grad_variance``, ``mean_abs_grad``.

    **Example**

    >>> rows = gradient_variance([2], [1], samples=4, costs=("global", "local"))
    >>> [(r["cost"], r["n_qubits"]) for r in rows]
    [('global', 2), ('local', 2)]
    """
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for cost in costs:
        for n_layers in layers:
            for n in qubits:
                observables = None if cost == "global" else ["Z0"]
                model = VQC(n, 1, n, n_layers, backend=backend, output_scaling=False, observables=observables)
                x = torch.rand(samples, n, generator=gen) * 2 - 1
                grads = []
                for s in range(samples):
                    with torch.no_grad():
                        model.weights.copy_(torch.rand(model.weights.shape, generator=gen) * 2 * math.pi)
                        model.input_scaling.fill_(1.0)
                    model.zero_grad()
                    model(x[s:s + 1]).sum().backward()
                    grads.append(float(model.weights.grad.reshape(-1)[0]))
                g = np.asarray(grads)
                rows.append({"cost": cost, "n_qubits": n, "n_layers": n_layers, "samples": samples,
                             "grad_variance": float(g.var()), "mean_abs_grad": float(np.abs(g).mean())})
    return rows


def plot_gradient_variance(rows: Sequence[dict], path=None):
    """Gradient variance against qubits (log scale), one line per (cost, layers); returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    costs = sorted({r.get("cost", "global") for r in rows})
    for cost, style in zip(costs, ("o-", "s--")):
        for i, n_layers in enumerate(sorted({r["n_layers"] for r in rows})):
            pts = sorted((r["n_qubits"], r["grad_variance"]) for r in rows
                         if r["n_layers"] == n_layers and r.get("cost", "global") == cost)
            label = f"{n_layers} layers" if costs == ["global"] else f"{cost}, {n_layers} layers"
            ax.semilogy([p[0] for p in pts], [p[1] for p in pts], style, color=f"C{i}", label=label)
    ax.set_xlabel("qubits")
    ax.set_ylabel("Var[∂C/∂θ₀]")
    ax.set_title("barren plateau: gradient variance (global C = Z…Z, local C = Z0)", fontsize=10)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig

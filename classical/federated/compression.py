"""Compressed model updates: top-k sparsification with error feedback, 8-bit quantisation.

An update is a dict ``name -> float32 array``. :func:`encode` turns it into the arrays
actually put on the wire and :func:`decode` restores a dense update; :func:`payload_bytes`
counts what is sent. Top-k keeps the ``ratio`` largest-magnitude entries of each tensor
(values as float32, positions as uint16 when the tensor has fewer than 65 536 entries,
else uint32); what was dropped is remembered in a residual and added to the next
update (error feedback), so nothing is lost for good. 8-bit quantisation sends each
tensor as uint8 codes plus its float32 minimum and step, with stochastic rounding so
the decoded update is unbiased.

**Example**

>>> import numpy as np
>>> update = {"w": np.arange(100, dtype=np.float32)}
>>> wire, residual = encode(update, "topk", ratio=0.1, residual=None, rng=np.random.default_rng(0))
>>> int(np.count_nonzero(decode(wire, "topk", {"w": (100,)})["w"]))
10
>>> payload_bytes(wire), payload_bytes(update)
(60, 400)
"""

from __future__ import annotations

import numpy as np

METHODS = ("none", "topk", "int8")


def payload_bytes(arrays: dict[str, np.ndarray]) -> int:
    """Bytes of array data on the wire (the payload; message framing is not counted)."""
    return int(sum(np.asarray(a).nbytes for a in arrays.values()))


def _index_dtype(size: int):
    return np.uint16 if size < 2**16 else np.uint32


def encode(update: dict[str, np.ndarray], method: str, ratio: float,
           residual: dict[str, np.ndarray] | None, rng: np.random.Generator
           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Encode ``update`` for sending; returns ``(wire_arrays, new_residual)``.

    ``residual`` is the error-feedback memory (top-k only; ``None`` starts it at zero).
    """
    if method == "none":
        return {k: np.asarray(v, np.float32) for k, v in update.items()}, None
    if method == "topk":
        wire, new_residual = {}, {}
        for name, u in update.items():
            flat = np.asarray(u, np.float32).ravel() + (residual[name].ravel() if residual else 0.0)
            k = max(1, int(round(ratio * flat.size)))
            idx = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k:])
            wire[f"{name}.idx"] = idx.astype(_index_dtype(flat.size))
            wire[f"{name}.val"] = flat[idx].astype(np.float32)
            left = flat.copy()
            left[idx] = 0.0
            new_residual[name] = left.reshape(np.shape(u))
        return wire, new_residual
    if method == "int8":
        wire = {}
        for name, u in update.items():
            flat = np.asarray(u, np.float32).ravel()
            lo, hi = float(flat.min()), float(flat.max())
            step = (hi - lo) / 255.0 if hi > lo else 1.0
            scaled = (flat - lo) / step
            codes = np.floor(scaled + rng.random(flat.size))  # stochastic rounding: unbiased
            wire[f"{name}.q"] = np.clip(codes, 0, 255).astype(np.uint8)
            wire[f"{name}.lo_step"] = np.array([lo, step], np.float32)
        return wire, None
    raise ValueError(f"unknown compression '{method}'; use one of {METHODS}.")


def decode(wire: dict[str, np.ndarray], method: str, shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Dense float32 update from the arrays :func:`encode` produced."""
    if method == "none":
        return {k: np.asarray(wire[k], np.float32).reshape(s) for k, s in shapes.items()}
    out = {}
    for name, shape in shapes.items():
        size = int(np.prod(shape)) if shape else 1
        if method == "topk":
            flat = np.zeros(size, np.float32)
            flat[wire[f"{name}.idx"].astype(np.int64)] = wire[f"{name}.val"]
        elif method == "int8":
            lo, step = wire[f"{name}.lo_step"]
            flat = lo + step * wire[f"{name}.q"].astype(np.float32)
        else:
            raise ValueError(f"unknown compression '{method}'; use one of {METHODS}.")
        out[name] = flat.reshape(shape)
    return out


def expected_ratio(method: str, ratio: float, sizes: list[int]) -> float:
    """Dense bytes divided by compressed bytes, from the wire format alone."""
    dense = 4 * sum(sizes)
    if method == "none":
        return 1.0
    if method == "topk":
        sent = sum(max(1, int(round(ratio * n))) * (4 + np.dtype(_index_dtype(n)).itemsize) for n in sizes)
    elif method == "int8":
        sent = sum(n + 8 for n in sizes)
    else:
        raise ValueError(f"unknown compression '{method}'; use one of {METHODS}.")
    return dense / sent

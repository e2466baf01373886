"""Secure aggregation by pairwise masking (the one place the protocol lives).

This is the masking core of Bonawitz et al.'s SecAgg (CCS 2017) without its dropout
recovery: every round each client makes a fresh X25519 key pair and sends only the
public key; the server broadcasts all public keys; each pair of clients derives the
same secret from Diffie-Hellman and expands it into a mask. Client ``i`` encodes its
update in fixed point modulo 2**32 and adds ``+mask_ij`` for every peer ``j`` with a
larger node id and ``-mask_ij`` for every smaller one. The masks cancel in the sum,
so the server learns the sum of the updates and nothing about any single one (each
masked array is uniformly distributed given the others' keys are secret). If a client
drops out after sending its public key, the round's sum cannot be unmasked: this
implementation then fails the round loudly rather than aggregating wrongly.

Flower's own SecAgg+ (with dropout recovery) is reachable only through its legacy
``DefaultWorkflow``/``SecAggPlusWorkflow``; swapping it in would replace this module.

**Example**

>>> import numpy as np
>>> keys = {nid: new_key_pair() for nid in (1, 2, 3)}
>>> public = {nid: pub for nid, (_, pub) in keys.items()}
>>> updates = {nid: {"w": np.full(4, float(nid), np.float32)} for nid in public}
>>> masked = [mask_update(updates[n], n, keys[n][0], public, round_salt=b"r1") for n in public]
>>> unmask_mean(masked, {"w": (4,)})["w"]
array([2., 2., 2., 2.], dtype=float32)
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FRACTION_BITS = 16  # fixed point: 1/65536 resolution; |sum of updates| must stay below 32768
MODULUS_DTYPE = np.uint32


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 ``(private, public)`` key pair as raw bytes."""
    private = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    return (private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
            private.public_key().public_bytes(raw, serialization.PublicFormat.Raw))


def _pair_seed(private: bytes, peer_public: bytes, round_salt: bytes) -> int:
    shared = X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(peer_public))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=round_salt, info=b"qrl-secagg-mask").derive(shared)
    return int.from_bytes(key, "big")


def to_fixed_point(update: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.round(np.asarray(v, np.float64) * 2**FRACTION_BITS).astype(np.int64).astype(MODULUS_DTYPE)
            for k, v in update.items()}


def mask_update(update: dict[str, np.ndarray], node_id: int, private: bytes,
                public_keys: dict[int, bytes], round_salt: bytes) -> dict[str, np.ndarray]:
    """The masked fixed-point update client ``node_id`` sends (uint32 arrays)."""
    masked = to_fixed_point(update)
    for peer, peer_public in sorted(public_keys.items()):
        if peer == node_id:
            continue
        rng = np.random.default_rng(_pair_seed(private, peer_public, round_salt))
        for name in sorted(masked):
            mask = rng.integers(0, 2**32, size=masked[name].shape, dtype=np.uint64).astype(MODULUS_DTYPE)
            # uint32 arithmetic wraps modulo 2**32, which is what makes the masks cancel
            masked[name] = masked[name] + mask if node_id < peer else masked[name] - mask
    return masked


def unmask_mean(masked_updates: list[dict[str, np.ndarray]], shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Mean of the clients' updates from their masked arrays (all clients must be present)."""
    n = len(masked_updates)
    out = {}
    for name, shape in shapes.items():
        total = np.zeros(shape, MODULUS_DTYPE)
        for m in masked_updates:
            total = total + np.asarray(m[name], MODULUS_DTYPE)
        out[name] = (total.astype(np.int32).astype(np.float64) / 2**FRACTION_BITS / n).astype(np.float32)
    return out

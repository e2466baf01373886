"""Client-level differential privacy: update clipping and the privacy actually spent.

Each client clips its model update to L2 norm ``clip`` (:func:`clip_update`); the
server adds Gaussian noise of standard deviation ``noise_multiplier * clip / n`` to the
mean of the ``n`` clipped updates (Flower's
``DifferentialPrivacyClientSideFixedClipping`` does the noising). One round is one
sampled Gaussian mechanism on the client-level dataset with sampling rate
``q = n / num_clients``, so after ``T`` rounds the spent budget is what Opacus's RDP
accountant reports for ``T`` steps of ``(noise_multiplier, q)``. Flower does no
accounting; :func:`epsilon_spent` does.

**Example**

>>> round(epsilon_spent(noise_multiplier=1.0, sample_rate=1.0, rounds=10, delta=1e-5), 2)
19.05
"""

from __future__ import annotations

import numpy as np
from opacus.accountants import RDPAccountant


def update_norm(update: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in update.values())))


def clip_update(update: dict[str, np.ndarray], clip: float) -> dict[str, np.ndarray]:
    """Scale ``update`` so that its global L2 norm is at most ``clip``."""
    scale = min(1.0, clip / (update_norm(update) + 1e-12))
    return {k: (v * scale).astype(np.float32) for k, v in update.items()}


def epsilon_spent(noise_multiplier: float, sample_rate: float, rounds: int, delta: float) -> float:
    """ε after ``rounds`` releases of the sampled Gaussian mechanism (Opacus RDP accountant)."""
    if rounds <= 0:
        return 0.0
    accountant = RDPAccountant()
    for _ in range(rounds):
        accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    return float(accountant.get_epsilon(delta))

"""Quantum-specific environments; ``import qrl`` registers their gymnasium ids (``qrl.ENVIRONMENTS``).

Configs of classical algorithms may name them as ``"qrl.envs:<id>"``; gymnasium
imports this module for the prefix, so ``classical/`` never imports ``qrl``.

- ``qrl/QuantumControl-v0``: :class:`~qrl.envs.quantum_control.QuantumControlEnv`.
- ``qrl/FrozenLakeBits-v0``: FrozenLake with the state index as bits (basis encoding).
- ``qrl/QAOAAngles-v0``: set QAOA angles layer by layer for MaxCut; registered by :mod:`qrl.algorithms.qaoa_rl`
  (``"qrl/QAOAAngles-v0"``).
"""

from qrl.envs.frozen_lake import BinaryObservation, frozen_lake_bits
from qrl.envs.quantum_control import QuantumControlEnv

__all__ = ["BinaryObservation", "QuantumControlEnv", "frozen_lake_bits"]

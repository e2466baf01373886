"""Quantum-specific environments, registered with gymnasium on import.

Configs of classical algorithms name them as ``"qrl.envs:<id>"``; gymnasium
imports this module for the prefix, so ``classical/`` never imports ``qrl``.

- ``qrl/QuantumControl-v0``: :class:`~qrl.envs.quantum_control.QuantumControlEnv`.
- ``qrl/FrozenLakeBits-v0``: FrozenLake with the state index as bits (basis encoding).
- ``qrl/QAOAAngles-v0``: set QAOA angles layer by layer for MaxCut; registered by :mod:`qrl.algorithms.qaoa_rl`
  (use ``"qrl.algorithms.qaoa_rl:qrl/QAOAAngles-v0"``).
"""

import gymnasium as gym

from qrl.envs.frozen_lake import BinaryObservation, frozen_lake_bits
from qrl.envs.quantum_control import QuantumControlEnv

__all__ = ["BinaryObservation", "QuantumControlEnv", "frozen_lake_bits"]

if "qrl/QuantumControl-v0" not in gym.registry:
    gym.register("qrl/QuantumControl-v0", entry_point="qrl.envs.quantum_control:QuantumControlEnv")
if "qrl/FrozenLakeBits-v0" not in gym.registry:
    gym.register("qrl/FrozenLakeBits-v0", entry_point="qrl.envs.frozen_lake:frozen_lake_bits",
                 max_episode_steps=100)

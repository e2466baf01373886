"""qrl: quantum-first reinforcement learning on PennyLane, Qiskit Aer and IBM Quantum.

``qrl.train_from_config`` trains any preset after checking every part of it
(see :mod:`qrl.training`); it is imported on first use so ``import qrl`` stays light.

**Example**

>>> import qrl
>>> qrl.__version__ == qrl.version()
True
"""

from classical.common.provenance import package_version as version

__version__: str = version()


def __getattr__(name):
    if name == "train_from_config":
        from qrl.training import train_from_config

        return train_from_config
    raise AttributeError(f"module 'qrl' has no attribute {name!r}")


__all__ = ["__version__", "version", "train_from_config"]

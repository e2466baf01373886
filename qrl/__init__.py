"""qrl: quantum-first reinforcement learning on PennyLane, Qiskit Aer and IBM Quantum.

**Example**

>>> import qrl
>>> qrl.__version__ == qrl.version()
True
"""

from classical.common.provenance import package_version as version

__version__: str = version()

__all__ = ["__version__", "version"]

"""The torch statevector simulator behind the ``qrl.torch`` device.

The device contract (preprocessing, execution config, ``execute``, ``compile``)
lives in :mod:`qrl.devices.torch_device`; the simulation lives here, split the way
PennyLane splits ``default.qubit`` from ``devices/qubit``:

* :mod:`.gates`: gate sets and kernels (rotation matrix builders, a gate over all
  basis states as a gather/phase vector, a small matrix applied to the state);
* :mod:`.plan`: a circuit structure as a list of small typed steps
  (``FusedGate``, ``Block``, ``MatrixGate``, ``GlobalPhase``), built once per structure;
* :mod:`.simulator`: :class:`~.simulator.Simulator`, which owns the dtypes and caches
  and runs a plan on a ``[rows, 2**n]`` state; one object shared by the device and
  its compiled circuits;
* :mod:`.measure`: expectation values, variances, probabilities and state measurements;
* :mod:`.compiled`: :class:`~.compiled.CompiledCircuit`, a circuit structure as a
  function of its gate parameters (no tape per call).
"""

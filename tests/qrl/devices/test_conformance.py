"""PennyLane's own device test suite (``pennylane/devices/tests``) run against ``qrl.torch``.

Excluded, because they do not apply to a torch-only backprop device: the JAX gradient
tests (JAX is not installed) and the autograd tests that demand ``diff_method="backprop"``
with the autograd interface (qrl.torch differentiates through torch; with autograd
PennyLane falls back to parameter-shift, which the remaining autograd tests cover).
"""

import os
import subprocess
import sys
from pathlib import Path

import pennylane as qml
import pytest

SUITE = Path(qml.__file__).parent / "devices" / "tests"


@pytest.mark.skipif(not SUITE.exists(), reason="this PennyLane build ships without its device tests")
def test_pennylane_device_suite_passes_on_qrl_torch():
    pytest.importorskip("flaky")
    pytest.importorskip("pytest_mock")
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "--device", "qrl.torch", "--skip-ops", "-q",
           "-p", "no:cacheprovider", "-p", "no:xdist", "--ignore", str(SUITE / "test_gradients_jax.py"),
           "-k", "not (TestGradients and backprop and device_kwargs0)", "-o", "addopts="]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    tail = "\n".join(done.stdout.splitlines()[-15:])
    assert done.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail

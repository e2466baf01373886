import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

import torch  # noqa: E402

torch.set_num_threads(1)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolate_backends_file():
    """`--backends` sets QRL_BACKENDS for the process; keep one test's choice out of the next."""
    saved = os.environ.pop("QRL_BACKENDS", None)
    yield
    os.environ.pop("QRL_BACKENDS", None)
    if saved is not None:
        os.environ["QRL_BACKENDS"] = saved

"""Forward + backward CPU time and peak memory of the 5-layer VQC on qrl.torch at one size, in a fresh process.

Run it once per size and code version (peak RSS is per process): it prints the median CPU
ms of a few forward + backward calls and the peak resident memory (VmHWM) with its increase
over the process after setup.

**Example**

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/vqc_memory.py 12x256 3
"""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from circuit_peers import make_params, make_inputs
from qrl.models import VQC
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"): return int(line.split()[1]) / 1024
n, b = map(int, sys.argv[1].split("x"))
lam, w = make_params(n); x = make_inputs(b, n)
m = VQC(n, 1, n_qubits=n, n_layers=5, backend="qrl.torch", observables=["".join(f"Z{q}" for q in range(n))], readout=torch.ones(1, 1), output_scaling=False)
with torch.no_grad(): m(x[:1])
base = hwm()
ts = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    t = time.process_time(); m.zero_grad(); m(x).sum().backward(); ts.append(time.process_time() - t)
print(sys.argv[1], "CPU ms median %.0f (%d calls), peak RSS %.0f MB (+%.0f over %.0f MB)" % (1e3 * statistics.median(ts), len(ts), hwm(), hwm() - base, base))

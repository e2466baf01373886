import numpy as np
import pytest
import torch

from qrl.models import VQC
from qrl.noise_studies import gradient_variance, mitigated_expectations, readout_scale_factors


def test_readout_factors_are_one_on_an_ideal_backend():
    assert np.allclose(readout_scale_factors("default.qubit", 3), 1.0)


def test_mitigation_divides_each_word_by_its_qubits_factors():
    vqc = VQC(2, 2, 2, 1, "default.qubit", observables=["Z0", "Z0Z1"])
    x = torch.tensor([[0.2, -0.3]])
    raw = vqc.expectations(x).detach()
    fixed = mitigated_expectations(vqc, x, np.array([0.5, 0.8])).detach()
    assert fixed[0, 0] == pytest.approx(float(raw[0, 0].clamp(-0.5, 0.5) / 0.5))
    assert fixed[0, 1] == pytest.approx(float(raw[0, 1].clamp(-0.4, 0.4) / 0.4))


def test_global_cost_gradients_shrink_with_qubits():
    rows = gradient_variance([2, 6], [2], samples=40, seed=0)
    var = {(r["qubits"], r["cost"]): r["variance"] for r in rows}
    # measured (20-40 samples): 2 qubits ~0.1-0.2, 6 qubits ~0.005-0.01 for the global Z word
    assert var[(6, "global")] < var[(2, "global")] / 4

import numpy as np
import pytest
import torch

from qrl.models import VQC
from qrl.noise_studies import mitigated_expectations, readout_scale_factors


def test_readout_factors_are_one_on_an_ideal_backend():
    assert np.allclose(readout_scale_factors("default.qubit", 3), 1.0)


def test_mitigation_divides_each_word_by_its_qubits_factors():
    vqc = VQC(2, 2, 2, 1, "default.qubit", observables=["Z0", "Z0Z1"])
    x = torch.tensor([[0.2, -0.3]])
    raw = vqc.expectations(x).detach()
    fixed = mitigated_expectations(vqc, x, np.array([0.5, 0.8])).detach()
    assert fixed[0, 0] == pytest.approx(float(raw[0, 0].clamp(-0.5, 0.5) / 0.5))
    assert fixed[0, 1] == pytest.approx(float(raw[0, 1].clamp(-0.4, 0.4) / 0.4))

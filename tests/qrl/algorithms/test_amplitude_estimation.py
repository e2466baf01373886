import math

import numpy as np
import pytest

from qrl.algorithms.amplitude_estimation import (BanditTask, error_vs_calls, good_probability, loglog_slope,
                                                 mlae, qpe_ae)

TASK = BanditTask(policy=[0.4, 0.3, 0.2, 0.1], rewards=[0.9, 0.5, 0.2, 0.6])  # V = 0.61


def test_oracle_encodes_the_expected_return_and_grover_rotates_by_two_theta():
    theta = math.asin(math.sqrt(TASK.value))
    for k in range(3):
        assert good_probability(TASK, k) == pytest.approx(math.sin((2 * k + 1) * theta) ** 2, abs=1e-9)


def test_mlae_and_qpe_are_close_with_many_calls():
    rng = np.random.default_rng(0)
    assert mlae(TASK, 6, 200, rng) == pytest.approx(0.61, abs=0.005)
    # 6 phase bits resolve theta to pi/64: |sin^2 error| <= pi/64 * sin(2 theta) ~ 0.048
    assert qpe_ae(TASK, 6, 50, rng) == pytest.approx(0.61, abs=0.05)


def test_mlae_error_shrinks_faster_with_calls_than_monte_carlo():
    rows = error_vs_calls(TASK, repeats=30, shots=100, max_powers=5, max_qpe_bits=3, seed=1)
    ml = [r["rmse"] for r in rows if r["method"] == "mlae"]
    assert ml[-1] < ml[0] / 10
    assert loglog_slope(rows, "mlae") < -0.75 < loglog_slope(rows, "monte_carlo") < -0.35


def test_bad_inputs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="power of two"):
        BanditTask([0.5, 0.3, 0.2], [1, 1, 1])
    with pytest.raises(ValueError, match="rescale returns"):
        BanditTask([0.5, 0.5], [2.0, 0.0])

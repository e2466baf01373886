import math

import pytest

from qrl.qec import exact_logical_error_rate, logical_error_rate, lookup_table, protected_policy_returns


def _within_binomial_error(measured, exact, shots, k=4.0):
    return abs(measured - exact) <= k * math.sqrt(exact * (1 - exact) / shots) + 1e-12


@pytest.mark.parametrize("code", ["bit_flip", "phase_flip"])
def test_distance_3_matches_3p2_minus_2p3(code):
    p = 0.2
    assert exact_logical_error_rate(3, p) == pytest.approx(3 * p**2 - 2 * p**3)
    assert _within_binomial_error(logical_error_rate(code, 3, p, shots=20000, seed=3), 3 * p**2 - 2 * p**3, 20000)


def test_distance_5_matches_its_binomial_tail():
    p = 0.15
    exact = sum(math.comb(5, k) * p**k * (1 - p) ** (5 - k) for k in range(3, 6))
    assert _within_binomial_error(logical_error_rate("bit_flip", 5, p, shots=20000, seed=4), exact, 20000)


def test_distance_helps_below_the_threshold_and_hurts_above_it():
    below = [logical_error_rate("bit_flip", d, 0.3, shots=4000, seed=5) for d in (1, 5)]
    above = [logical_error_rate("bit_flip", d, 0.7, shots=4000, seed=5) for d in (1, 5)]
    assert below[1] < below[0] - 0.1 and above[1] > above[0] + 0.1


def test_edge_probabilities_are_exact():
    assert logical_error_rate("bit_flip", 3, 0.0, shots=200) == 0.0
    assert logical_error_rate("bit_flip", 3, 1.0, shots=200) == 1.0


def test_lookup_decoder_corrects_single_flips_at_distance_3():
    table = lookup_table(3)
    assert table[(1, 0)] == (1, 0, 0) and table[(1, 1)] == (0, 1, 0) and table[(0, 1)] == (0, 0, 1)
    assert table[(0, 0)] == (0, 0, 0)


@pytest.mark.parametrize("args, message", [
    (("surface", 3, 0.1), "unknown code 'surface'; valid codes: bit_flip, phase_flip"),
    (("bit_flip", 4, 0.1), "distance must be an odd integer"),
    (("bit_flip", 0, 0.1), "distance must be an odd integer"),
    (("bit_flip", 3, 1.5), r"p must be a probability in \[0, 1\]"),
    (("bit_flip", 3, -0.1), r"p must be a probability in \[0, 1\]"),
])
def test_bad_inputs_raise_one_clear_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        logical_error_rate(*args, shots=10)


def test_the_code_protects_a_policy_readout_under_bit_flip_noise():
    out = protected_policy_returns(0.1, distance=3, episodes=100, seed=0)
    assert out["action_error_without_code"] == pytest.approx(1 - 0.9**2, abs=0.06)
    assert out["action_error_with_code"] < out["action_error_without_code"] - 0.05
    assert out["return_with_code"] > out["return_without_code"]


def test_the_memory_preset_runs_through_qrl_train_and_writes_its_table(tmp_path):
    import csv
    import json

    from qrl.training import train_from_config

    summary = train_from_config("configs/qec_repetition_memory.yaml",
                                {"distances": [3], "ps": [0.2], "shots": 4000}, out=tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["distance"] == "3" and float(row["exact"]) == pytest.approx(3 * 0.2**2 - 2 * 0.2**3)
    assert _within_binomial_error(float(row["logical_error_rate"]), float(row["exact"]), 4000)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["points"] == summary["points"] == 1 and results["rows"][0]["distance"] == 3
    assert not (tmp_path / "run" / "checkpoint.pt").exists()   # an experiment has no agent to save


def test_an_even_distance_in_a_preset_is_one_config_error(tmp_path):
    from classical.common.config import ConfigError
    from qrl.training import train_from_config

    preset = tmp_path / "qec.yaml"
    preset.write_text("algo: qrl.qec\ndistances: [3, 4]\n")
    with pytest.raises(ConfigError, match=r"qec.yaml: key 'distances' = \[3, 4\]: .*distances must be odd .*got \[4\]"):
        train_from_config(preset, out=tmp_path / "r", check_only=True)

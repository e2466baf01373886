"""Smoke test: causal feature selection feeding a re-uploading circuit policy."""

import csv

from classical.common.config import load_yaml, validate
from classical.common.rundir import RunDir
from hybrid.causal_vqc import Config, run


def test_causal_features_give_a_two_qubit_policy_and_a_full_run_dir(tmp_path):
    run_dir = RunDir(tmp_path)
    out = run(Config(episodes=10, eval_episodes=2, model={"type": "vqc", "n_layers": 1}), run_dir)
    assert out["features"] == ["c1", "c2"] and out["qubits"] == 2
    # 1 layer on 2 qubits: input scalings (2 x 2 uploads) + rotations (2 layers x 2 qubits x 3)
    # + output weights — whatever the exact count, it is far below the 4-qubit circuit's
    assert 0 < out["n_params"] < 40
    with open(tmp_path / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["shifted"] for r in rows] == ["False", "False", "True", "True"]
    assert (tmp_path / "curve.png").exists() and (tmp_path / "checkpoint.pt").exists()


def test_preset_validates():
    data = load_yaml("configs/causal_shift_vqc.yaml")
    assert data.pop("algo") == "hybrid.causal_vqc"
    assert validate(Config, data, "configs/causal_shift_vqc.yaml").model["type"] == "vqc"

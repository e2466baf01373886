"""The notebooks' result store and the paradigm matrix rendered from notebooks/paradigm_matrix.yaml."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))
import results_store as R  # noqa: E402

from qrl.experiments import markdown_table  # noqa: E402


def test_templates_report_missing_values_as_not_measured():
    data = {"a": {"b": 2.25, "rows": [{"arm": "x", "v": 1}, {"arm": "y", "v": 2}, {"arm": "y", "v": 3}]}, "c": 3}
    assert R.render("{a.b:.1f} and {c}", data) == "2.2 and 3"
    assert R.render("{a.rows[arm=y].v} {a.rows[arm=y][-1].v} {a.rows[0].arm}", data) == "2 3 x"
    assert R.render("{a.missing:.1f}", data) == "not measured"
    assert R.render("{a.rows[arm=z].v}", data) == "not measured"
    assert R.render(["{a.missing}", "{c} seeds", "{a.b}"], data) == "3 seeds; 2.25"
    assert R.render(["{a.missing}"], data) == "not measured"
    assert markdown_table([{"x": 1.234, "y": "s"}]).splitlines() == ["| x | y |", "|---|---|", "| 1.2 | s |"]


@pytest.mark.parametrize("name", ["01_reinforce", "05_causal"])
def test_paradigm_matrix_reads_recorded_measurements(name, tmp_path, monkeypatch):
    monkeypatch.setattr(R, "RESULTS_DIR", tmp_path / "full")
    monkeypatch.setattr(R, "QUICK_RESULTS_DIR", tmp_path / "quick")
    matrix = R.paradigm_matrix()
    assert len(matrix) == 5
    assert all(v == "not measured" for row in matrix for k, v in row.items() if k not in ("paradigm", "source"))
    if name == "05_causal":
        runs = {"causal_mlp": {"eval_return_mean": 30.0, "eval_return_shifted_mean": 29.0, "episodes": 300,
                               "n_params": 6},
                "causal_vqc": {"eval_return_mean": 31.0, "eval_return_shifted_mean": 30.5, "features": ["c1", "c2"],
                               "qubits": 2, "n_params": 16}}
        R.record_measurements(name, {"runs": runs}, quick=True)
        row = R.paradigm_matrix()[3]
        assert row["robustness"] == "after the spurious feature flips: MLP 29.0, circuit 30.5"
        assert row["interpretability"] == "discovered reward parents ['c1', 'c2'] -> 2 qubits"
        assert row["source"] == "quick"
    else:
        summary = [{"arm": a, "iqm": v, "ci_low": v - 1, "ci_high": v + 1, "params": p, "wall_seconds": 1.0}
                   for a, v, p in (("vqc", 200.0, 94), ("mlp_matched", 150.0, 93), ("mlp_default", 300.0, 4610))]
        R.record_measurements(name, {"summary": summary, "seeds": 10, "env_steps": 15000}, quick=False)
        row = R.paradigm_matrix()[0]
        assert row["sample efficiency"] == ("IQM return 200 [199, 201] vs param-matched MLP 150 and default MLP "
                                            "300 at 15000 env steps (10 seeds)")
        assert row["interpretability"] == "94 parameters (default MLP: 4610)"
        assert row["scalability"] == "not measured"   # needs notebook 02's gradient variances too
        assert row["source"] == "full"

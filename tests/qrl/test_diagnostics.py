import pytest

from qrl import diagnostics


def test_exact_backends_agree_and_the_reference_has_zero_error():
    rows = diagnostics.backend_errors(["qrl.torch", "default.qubit"], n_states=3, n_layers=1)
    assert [r["backend"] for r in rows] == ["qrl.torch", "default.qubit"]
    assert rows[0]["mean_abs_error"] == 0.0
    assert rows[1]["max_abs_error"] < 1e-4


def test_gradient_variance_of_a_global_observable_shrinks_with_qubits():
    rows = diagnostics.gradient_variance([2, 6], layers=[1], samples=40, seed=0)
    by_q = {r["n_qubits"]: r["grad_variance"] for r in rows}
    assert by_q[2] > 5 * by_q[6] > 0


def test_cell_formatting_reports_missing_values_as_not_measured():
    from qrl.compare import _cell, markdown_table

    assert _cell("{a.b:.1f} and {c}", {"a": {"b": 2.25}, "c": 3}) == "2.2 and 3"
    assert _cell("{a.missing:.1f}", {"a": {}}) == "not measured"
    assert markdown_table([{"x": 1.234, "y": "s"}]).splitlines() == ["| x | y |", "|---|---|", "| 1.2 | s |"]


@pytest.mark.parametrize("name", ["01_reinforce", "05_causal"])
def test_paradigm_matrix_reads_recorded_measurements(name, tmp_path, monkeypatch):
    from qrl import compare

    monkeypatch.setattr(compare, "RESULTS_DIR", tmp_path / "full")
    monkeypatch.setattr(compare, "QUICK_RESULTS_DIR", tmp_path / "quick")
    assert all(v == "not measured" for row in compare.paradigm_matrix() for k, v in row.items()
               if k not in ("paradigm", "source"))
    if name == "05_causal":
        runs = {"causal_mlp": {"eval_return": 30.0, "eval_return_shifted": 29.0, "episodes": 300, "params": 6},
                "causal_vqc": {"eval_return": 31.0, "eval_return_shifted": 30.5, "features": ["c1", "c2"],
                               "qubits": 2, "params": 16}}
        compare.record_measurements(name, {"runs": runs}, quick=True)
        row = compare.paradigm_matrix()[3]
        assert row["robustness"] == "after the spurious feature flips: MLP 29.0, circuit 30.5"
        assert row["source"] == "quick"
    else:
        summary = [{"arm": a, "iqm": v, "ci_low": v - 1, "ci_high": v + 1, "params": p, "wall_seconds": 1.0}
                   for a, v, p in (("vqc", 200.0, 94), ("mlp_matched", 150.0, 93), ("mlp_default", 300.0, 4610))]
        compare.record_measurements(name, {"summary": summary, "seeds": 10, "env_steps": 15000}, quick=False)
        row = compare.paradigm_matrix()[0]
        assert row["sample efficiency"].startswith("IQM return 200 [199, 201] vs param-matched MLP 150")
        assert row["source"] == "full"

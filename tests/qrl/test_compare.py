import csv
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from classical.common.config import ConfigError
from qrl import experiments as C

REPO = Path(__file__).resolve().parents[2]


def _tiny_experiment(tmp_path: Path) -> Path:
    exp = {"env_steps": 120, "seeds": 2, "workers": 1, "score_window": 5, "curve_points": 4,
           "bootstrap_reps": 200, "reference": "vqc",
           "arms": {"vqc": {"config": str(REPO / "configs/cartpole_vqc_reinforce.yaml"), "backend": "qrl.torch",
                            "overrides": {"solved_return": None, "eval_episodes": 0, "batch_episodes": 2,
                                          "model": {"type": "vqc", "n_qubits": 4, "n_layers": 1}}},
                    "mlp_matched": {"config": str(REPO / "configs/cartpole_mlp_reinforce.yaml"),
                                    "baseline": "param_matched_mlp",
                                    "overrides": {"solved_return": None, "eval_episodes": 0,
                                                  "batch_episodes": 2}},
                    "random": {"config": str(REPO / "configs/cartpole_mlp_reinforce.yaml"), "baseline": "random"}}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_compare_writes_summary_and_resumes_without_rerunning_finished_seeds(tmp_path):
    exp = _tiny_experiment(tmp_path)
    out = tmp_path / "out"
    lines: list[str] = []
    summary, comparisons = C.run_experiment(exp, out, progress=lines.append)
    assert sum(" seed " in line for line in lines) == 6

    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["arm"] for r in rows] == ["vqc", "mlp_matched", "random"]
    for col in ("arm", "params", "env_steps", "iqm", "ci_low", "ci_high", "mean", "wall_seconds"):
        assert col in rows[0]
    params = {r["arm"]: int(r["params"]) for r in rows}
    assert params["vqc"] == 4 * 1 + 2 * 4 * 3 + 2  # λ [1,4], θ [2,4,3], w [2]
    assert abs(params["mlp_matched"] - params["vqc"]) <= 8 and params["random"] == 0
    for r in rows:
        assert 0 < int(r["env_steps"]) <= 120
        assert float(r["ci_low"]) <= float(r["iqm"]) <= float(r["ci_high"])
    assert {c["arm"] for c in comparisons} == {"mlp_matched", "random"}
    for fig in ("iqm.png", "sample_efficiency.png", "performance_profile.png"):
        assert (out / fig).stat().st_size > 0

    results = sorted(out.glob("*/seed*/result.json"))
    assert len(results) == 6
    mtimes = {p: p.stat().st_mtime_ns for p in results}
    (out / "vqc/seed1/result.json").unlink()   # as if that seed had been interrupted
    lines.clear()
    C.run_experiment(exp, out, progress=lines.append)
    rerun = [line for line in lines if " seed " in line]
    assert len(rerun) == 1 and rerun[0].strip().startswith("vqc seed 1")
    for p, t in mtimes.items():
        if p.parent.name != "seed1" or p.parent.parent.name != "vqc":
            assert p.stat().st_mtime_ns == t


def test_bad_experiment_files_are_refused_with_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env_steps: 100\narms: {a: {config: configs/cartpole_mlp_reinforce.yaml, modle: {}}}\n")
    with pytest.raises(ConfigError, match="modle"):
        C.load_experiment(bad)
    bad.write_text("env_steps: 100\nreference: nope\narms: {a: {config: configs/cartpole_mlp_reinforce.yaml}}\n")
    with pytest.raises(ConfigError, match="reference 'nope'"):
        C.load_experiment(bad)
    with pytest.raises(ConfigError, match="seeds"):
        C.compare(bad, seeds=0)


def test_the_shipped_experiment_resolves_to_matched_arms():
    exp = C.load_experiment(REPO / "experiments/cartpole_reinforce.yaml")
    arms = C.resolve_arms(exp, REPO)
    assert arms["vqc"]["params"] == 94
    assert arms["mlp_matched"]["config"]["model"] == {"type": "mlp", "hidden": [13]}  # 4*13+13 + 13*2+2 = 93
    assert arms["mlp_matched"]["params"] == 93
    assert arms["mlp_default"]["params"] == 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2
    assert arms["random"]["params"] == 0


def test_heuristic_cartpole_policy_beats_random():
    from classical.common.rundir import RunDir

    scores = {}
    for kind in ("random", "heuristic"):
        import tempfile

        run = RunDir(tempfile.mkdtemp())
        C.play_fixed_policy(kind, {"env_id": "CartPole-v1"}, seed=0, env_steps=2000, run=run)
        rows = run.read_metrics()
        scores[kind] = sum(float(r["return"]) for r in rows) / len(rows)
    assert scores["heuristic"] > 3 * scores["random"]


def test_cli_compare_refuses_a_missing_file_with_exit_code_2(tmp_path):
    from qrl.cli import app

    result = CliRunner().invoke(app, ["compare", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_every_arm_trains_to_the_step_budget_in_one_go_or_is_refused(tmp_path):
    """qrl compare gives each arm ``total_env_steps`` (every vocabulary trainer has it) and lifts the
    preset's episode limit; a trainer without a step budget is refused, never chunked by episodes."""
    from qrl.experiments import runner

    config = {"model": {"type": "mlp", "hidden": [8]}, "batch_episodes": 2, "episodes": 2, "eval_episodes": 0,
              "env_kwargs": {"max_episode_steps": 10}, "seed": 0}
    runner._train_to_budget("classical.rl.reinforce", config, tmp_path / "r", 45, tensorboard=False)
    with open(tmp_path / "r" / "metrics.csv", newline="") as f:
        steps = [int(r["env_steps"]) for r in csv.DictReader(f)]
    assert len(steps) > 2 and steps[-1] >= 45 and steps[-3] < 45   # past the preset's 2 episodes, one batch over
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert (saved["total_env_steps"], saved["episodes"]) == (45, None)
    with pytest.raises(ConfigError, match=r"^qrl.qec: its Config has no 'total_env_steps', so qrl compare cannot "
                                          r"give it an environment-step budget"):
        runner._train_to_budget("qrl.qec", {}, tmp_path / "q", 45)

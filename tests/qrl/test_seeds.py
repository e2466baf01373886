"""``qrl seeds``: the reliability harness (resume, the rate and its Wilson interval, errors)."""

import csv
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from classical.common import stats
from classical.common.config import ConfigError
from qrl.experiments import seeds as S
from qrl.experiments.spec import read_preset

REPO = Path(__file__).resolve().parents[2]


def _tiny_preset(tmp_path: Path, solved: dict | None = None) -> Path:
    data = yaml.safe_load((REPO / "configs/frozenlake_vqc_qlearning.yaml").read_text())
    data.update(model={"type": "mlp", "hidden": [8]}, lr={"weights": 0.01}, episodes=3, eval_episodes=2,
                learning_starts=8, batch_size=8)
    data.pop("obs_scale", None)
    data.pop("solved", None)
    if solved is not None:
        data["solved"] = solved
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_wilson_interval_matches_the_formula_by_hand():
    z = 1.959963984540054   # the 97.5% normal quantile
    for k, n in ((19, 20), (17, 20), (20, 20), (0, 20), (3, 7)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        est = stats.success_rate(k, n)
        assert est.point == pytest.approx(p)
        assert (est.low, est.high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    est = stats.success_rate(19, 20)
    assert (round(est.low, 4), round(est.high, 4)) == (0.7639, 0.9911)   # the textbook value for 19/20
    with pytest.raises(ValueError, match="successes"):
        stats.success_rate(3, 2)


def test_summary_of_a_fixture_gives_the_rate_interval_and_medians():
    results = [{"seed": 1000 + i, "solved": i < 17, "episodes": 100 + i, "env_steps": 1000 + 10 * i,
                "wall_seconds": 2.0 * i} for i in range(20)]
    row = S.summarize(results, "x.yaml", "greedy eval mean success >= 1")
    assert (row["n"], row["solved"], row["seeds"]) == (20, 17, "1000-1019")
    assert row["rate"] == pytest.approx(0.85)
    assert (round(row["rate_low"], 4), round(row["rate_high"], 4)) == (0.6396, 0.9476)
    assert row["median_episodes"] == 109.5 and row["median_env_steps"] == 1095.0
    assert row["median_wall_seconds"] == 19.0
    assert S.format_summary(row).startswith("x.yaml: solved 17 of 20 seeds (1000-1019; greedy eval mean "
                                            "success >= 1): rate 0.85, Wilson 95% [0.64, 0.95]")


def test_seeds_writes_per_seed_rows_and_resume_skips_finished_seeds(tmp_path):
    preset = _tiny_preset(tmp_path, {"eval": "success", "at_least": 1.0})
    out = tmp_path / "out"
    lines: list[str] = []
    row = S.run_seeds(preset, n=2, first_seed=1000, out=out, progress=lines.append)
    assert sum(line.strip().startswith("seed ") for line in lines) == 2
    with open(out / "seeds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [1000, 1001]
    for r in rows:
        assert r["solved"] in ("True", "False") and int(r["episodes"]) == 3 and int(r["env_steps"]) >= 3
        assert (r["solved"] == "True") == (float(r["value"]) >= 1.0)
    assert row["n"] == 2 and row["solved"] == sum(r["solved"] == "True" for r in rows)
    with open(out / "summary.csv", newline="") as f:
        assert next(csv.DictReader(f))["criterion"] == "greedy eval mean success >= 1"

    mtime = (out / "seed1000" / "result.json").stat().st_mtime_ns
    (out / "seed1001" / "result.json").unlink()     # as if that seed had been interrupted
    lines.clear()
    S.run_seeds(preset, n=2, first_seed=1000, out=out, progress=lines.append)
    assert "1 already finished, 1 to run" in lines[0]
    rerun = [line.strip() for line in lines if line.strip().startswith("seed ")]
    assert len(rerun) == 1 and rerun[0].startswith("seed 1001:")
    assert (out / "seed1000" / "result.json").stat().st_mtime_ns == mtime


def test_a_preset_without_a_criterion_or_with_a_bad_one_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no 'solved' criterion"):
        S.run_seeds(_tiny_preset(tmp_path), n=2, out=tmp_path / "o", progress=None)
    with pytest.raises(ConfigError, match="at_leest"):
        read_preset(_tiny_preset(tmp_path, {"eval": "success", "at_leest": 1}))
    result = CliRunner().invoke(__import__("qrl.cli", fromlist=["app"]).app,
                                ["seeds", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_presets_solved_criterion_is_well_formed(path):
    read_preset(path)


def test_every_seed_is_tracked_in_tensorboard_unless_switched_off(tmp_path):
    from classical.common.tracking import read_scalars

    preset = _tiny_preset(tmp_path, solved={"eval": "return", "at_least": 1.0})
    S.run_seeds(preset, n=2, first_seed=1000, out=tmp_path / "on", progress=None)
    for seed in (1000, 1001):
        with open(tmp_path / "on" / f"seed{seed}" / "metrics.csv") as f:
            returns = [float(r["return"]) for r in csv.DictReader(f)]
        tracked = read_scalars(tmp_path / "on" / f"seed{seed}" / "tb")["metrics/return"]
        assert [v for _, v in tracked] == pytest.approx(returns)
    S.run_seeds(preset, n=1, first_seed=1000, out=tmp_path / "off", progress=None, tensorboard=False)
    assert (tmp_path / "off" / "seed1000" / "metrics.csv").exists()
    assert not (tmp_path / "off" / "seed1000" / "tb").exists()


def test_parallel_workers_get_the_backends_file_through_their_tasks(tmp_path):
    """``--backends FILE`` reaches spawned workers in their task arguments; nothing is set process-wide."""
    import os

    backends = tmp_path / "my_backends.yaml"
    backends.write_text("default: mysim\nbackends:\n  mysim: {device: qrl.torch, diff_method: backprop}\n")
    preset = _tiny_preset(tmp_path, {"eval": "success", "at_least": 1.0})
    data = yaml.safe_load(preset.read_text())
    data.update(model={"type": "vqc", "n_qubits": 4, "n_layers": 1}, backend="mysim",
                lr={"default": 0.01}, episodes=2, eval_episodes=1)
    preset.write_text(yaml.safe_dump(data, sort_keys=False))
    environ = {k: v for k, v in os.environ.items() if k.startswith("QRL")}
    tasks = S.plan_seeds(preset, 2, 1000, tmp_path / "out", str(backends.resolve()))
    assert [t["backends_file"] for t in tasks] == [str(backends.resolve())] * 2
    row = S.run_seeds(preset, n=2, first_seed=1000, out=tmp_path / "out", workers=2,
                      backends_file=str(backends), progress=None, tensorboard=False)
    assert row["n"] == 2
    for seed in (1000, 1001):
        assert yaml.safe_load((tmp_path / "out" / f"seed{seed}" / "config.yaml").read_text())["backend"] == "mysim"
    assert {k: v for k, v in os.environ.items() if k.startswith("QRL")} == environ
    with pytest.raises(ConfigError, match="unknown backend 'mysim'"):   # the file did not stick anywhere
        S.run_seeds(preset, n=1, first_seed=2000, out=tmp_path / "again", progress=None, tensorboard=False)

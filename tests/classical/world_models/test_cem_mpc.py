import csv

import numpy as np
import pytest

from classical.common.config import load_yaml, validate
from classical.common.rundir import RunDir
from classical.world_models import cem_mpc

TINY = dict(total_env_steps=60, random_steps=30, refit_every=30, horizon=4, n_candidates=20,
            n_elites=4, n_iters=2, hidden=[16, 16], fit_steps=20, eval_episodes=2)


def test_default_config_file_validates_with_the_budget():
    data = load_yaml("configs/pendulum_cem_mpc.yaml")
    assert data.pop("algo") == "classical.world_models.cem_mpc"
    cfg = validate(cem_mpc.Config, data, "configs/pendulum_cem_mpc.yaml")
    assert cfg.total_env_steps == 2000 and cfg.eval_episodes == 10


def test_cem_mpc_smoke_four_d_known_reward(tmp_path):
    cfg = cem_mpc.Config(env_id="qrl/FourDControl-v0", reward="known", **TINY)
    summary = cem_mpc.run(cfg, RunDir(tmp_path))
    assert summary["env_steps"] == 60
    with open(tmp_path / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["return"]) < 0 for r in rows)
    assert (tmp_path / "curve.png").exists()


def test_cem_mpc_resume_reproduces_uninterrupted_run(tmp_path, monkeypatch):
    cfg = cem_mpc.Config(env_id="qrl/FourDControl-v0", **TINY)
    full = cem_mpc.run(cfg, RunDir(tmp_path / "full"))
    # crash right after the first checkpoint (end of the random-action episode), then resume
    original = RunDir.save_checkpoint

    def save_then_crash(self, state):
        original(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_crash)
    try:
        cem_mpc.run(cfg, RunDir(tmp_path / "cut"))
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(RunDir, "save_checkpoint", original)
    resumed = cem_mpc.run(cfg, RunDir(tmp_path / "cut", resume=True))
    for key in ("env_steps", "eval_return_mean", "eval_return_std"):
        assert resumed[key] == full[key]
    drop_time = lambda rows: [{k: v for k, v in r.items() if k != "plan_ms"} for r in rows]  # noqa: E731
    assert drop_time(RunDir(tmp_path / "cut", resume=True).read_metrics()) == \
        drop_time(RunDir(tmp_path / "full", resume=True).read_metrics())


def test_cem_mpc_with_terminal_value_network(tmp_path):
    cfg = cem_mpc.Config(env_id="qrl/FourDControl-v0", gamma=0.9, critic={"type": "mlp", "hidden": [8]},
                         critic_fit_steps=5, critic_tail=10, **TINY)
    summary = cem_mpc.run(cfg, RunDir(tmp_path))
    assert summary["env_steps"] == 60 and np.isfinite(summary["eval_return_mean"])


def test_terminal_value_requires_discount():
    with pytest.raises(ValueError, match="needs gamma < 1"):
        cem_mpc.Config(critic={"type": "mlp"})


def test_critic_targets_are_the_shared_discounted_returns():
    from classical.common.rollouts import discounted_returns

    np.testing.assert_allclose(discounted_returns([1.0, 2.0, 3.0], 0.5), [1 + 1 + 0.75, 2 + 1.5, 3])


def test_qrl_train_runs_the_default_config_to_its_budget_and_writes_ten_eval_episodes(tmp_path):
    # the shipped file, with only the planner and model made cheaper: budget, seed override,
    # run directory and evaluation go through `qrl train` exactly as for the full preset
    import yaml
    from typer.testing import CliRunner

    from qrl.cli import app

    data = load_yaml("configs/pendulum_cem_mpc.yaml")
    data.update(horizon=3, n_candidates=16, n_elites=4, n_iters=1, hidden=[8, 8], fit_steps=5, batch_size=32)
    config = tmp_path / "pendulum_cem_mpc.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(config), "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    written = load_yaml(out / "config.yaml")
    assert written["seed"] == 3 and written["total_env_steps"] == 2000
    assert int(RunDir(out, resume=True).read_metrics()[-1]["env_steps"]) == 2000
    with open(out / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and all(np.isfinite(float(r["return"])) for r in rows)
    assert (out / "curve.png").exists() and (out / "checkpoint.pt").exists()

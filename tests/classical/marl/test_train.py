import csv

import numpy as np
import pytest

from classical.common.config import ConfigError, validate
from classical.common.rundir import RunDir
from classical.marl.train import Config, run


def small(**kw):
    base = dict(env_id="particle", env_kwargs={"n_agents": 2, "max_cycles": 5}, episodes=6, warmup_steps=10, batch_size=8,
                eval_episodes=2, checkpoint_every=3, episodes_per_update=2)
    return Config(**{**base, **kw})


@pytest.mark.parametrize("algo", ["iql", "vdn", "qmix", "maddpg", "maac", "coma"])
def test_every_algorithm_runs_through_the_training_contract(tmp_path, algo):
    summary = run(small(algo_name=algo), RunDir(tmp_path))
    for name in ("metrics.csv", "checkpoint.pt", "curve.png", "eval.csv"):
        assert (tmp_path / name).exists(), name
    assert np.isfinite(summary["eval_return_mean"]) and summary["env_steps"] == 30


@pytest.mark.parametrize("comm", ["continuous", "discrete"])
@pytest.mark.parametrize("algo", ["qmix", "maddpg"])
def test_communication_switches_on_for_value_based_and_maddpg(tmp_path, algo, comm):
    summary = run(small(algo_name=algo, comm=comm, env_id="simple_speaker_listener"), RunDir(tmp_path))
    assert 0.0 <= summary["mi_learned_message"] <= np.log2(3) + 1e-9


def test_resume_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    cfg = small(algo_name="qmix", episodes=6, standardize_rewards=True)   # reward stats are checkpointed too
    run(cfg, RunDir(tmp_path / "full"))

    class Interrupted(Exception):
        pass

    log = RunDir.log

    def log_then_crash(self, row):
        log(self, row)
        if row["episode"] == 4:            # after the checkpoint at episode 3
            raise Interrupted

    with monkeypatch.context() as m:
        m.setattr(RunDir, "log", log_then_crash)
        with pytest.raises(Interrupted):
            run(cfg, RunDir(tmp_path / "cut"))
    run(cfg, RunDir(tmp_path / "cut", resume=True))
    read = lambda p: list(csv.DictReader(open(p / "metrics.csv")))
    assert read(tmp_path / "full") == read(tmp_path / "cut")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="algo_name"):
        validate(Config, {"algo_name": "dqn"}, "configs/x.yaml")
    with pytest.raises(ConfigError, match="key 'lr_actor' was renamed; use lr.actor"):
        validate(Config, {"lr_actor": 1.0}, "configs/x.yaml")


def test_shipped_configs_validate():
    from pathlib import Path

    from classical.common.config import load_yaml
    paths = sorted(Path(__file__).parents[3].joinpath("configs").glob("marl_*.yaml"))
    assert paths
    for path in paths:
        data = load_yaml(path)
        if data.pop("algo") == "classical.marl.train":     # the newer trainers' presets: tests/test_presets.py
            validate(Config, data, str(path))

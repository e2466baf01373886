"""qrl tune: a tiny 2-point space whose best point is known, resumed from its SQLite study."""

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from classical.common.config import ConfigError
from qrl.cli import app
from qrl.experiments.tune import apply_params, load_spec, tune

# Greedy CartPole episodes last at least 8 steps; capped at 5 steps no seed reaches a return of 8.
PRESET = {"solved": {"eval": "return", "at_least": 8}, "algo": "classical.rl.reinforce",
          "model": {"type": "mlp", "hidden": [4]}, "lr": {"default": 0.01}, "batch_episodes": 2,
          "episodes": 2, "eval_episodes": 2, "env_kwargs": {"max_episode_steps": 20}}


def write_space(tmp_path, **extra):
    (tmp_path / "configs" / "tune").mkdir(parents=True)
    (tmp_path / "configs" / "tiny.yaml").write_text(yaml.safe_dump(PRESET))
    space = {"preset": "../tiny.yaml", "seeds": [0, 1], "n_trials": 2, "sampler": "grid",
             "space": {"env_kwargs.max_episode_steps": {"type": "categorical", "choices": [5, 20]}},
             **extra}
    path = tmp_path / "configs" / "tune" / "tiny.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def test_finds_the_known_best_of_a_two_point_space_and_resumes(tmp_path):
    space = write_space(tmp_path)
    out = tmp_path / "tune"
    lines = []
    first = tune(space, out, progress=lines.append)
    assert first["best_params"] == {"env_kwargs.max_episode_steps": 20}
    assert first["best_value"] == 1.0 and first["trials"] == 2 and first["new_trials"] == 2
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    values = sorted(t.value for t in study.trials)
    assert values == [0.0, 1.0]
    tuned = yaml.safe_load((out / "tiny_tuned.yaml").read_text())
    assert tuned["env_kwargs"] == {"max_episode_steps": 20} and tuned["solved"] == PRESET["solved"]
    assert tuned["algo"] == PRESET["algo"]
    assert any("seed 1: success_rate 1" in line for line in lines)

    again = tune(space, out, progress=None)  # n_trials reached: nothing runs
    assert again["new_trials"] == 0 and again["trials"] == 2 and again["best_value"] == 1.0

    res = CliRunner().invoke(app, ["tune", "--config", str(space), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2 trials done, 0 to run" in res.output


def test_hopeless_trials_are_pruned_after_their_first_seed(tmp_path):
    # grid order with sampler_seed 0: max_episode_steps 20 (solves every seed), then 5 (solves none)
    space = write_space(tmp_path, seeds=[0, 1, 2], sampler_seed=0,
                        pruner={"type": "median", "n_startup_trials": 1})
    out = tmp_path / "tune"
    tune(space, out, progress=None)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    first, second = study.trials
    assert first.params == {"env_kwargs.max_episode_steps": 20} and first.value == 1.0
    assert first.intermediate_values == {0: 1.0, 1: 1.0, 2: 1.0}
    assert second.state == optuna.trial.TrialState.PRUNED
    assert second.intermediate_values == {0: 0.0}  # stopped after its first seed
    from qrl.experiments.tune import _digest

    pruned_dir = out / "trials" / _digest(second.params)
    assert (pruned_dir / "seed0").exists() and not (pruned_dir / "seed1").exists()


def test_parameter_paths_and_bad_spaces():
    assert apply_params({"lr": {"default": 0.1}}, {"lr.actor.output_scaling": 0.2}) == {
        "lr": {"default": 0.1, "actor.output_scaling": 0.2}}
    assert apply_params({}, {"env_kwargs.n_agents": 3}) == {"env_kwargs": {"n_agents": 3}}
    with pytest.raises(ConfigError, match="'gamma' is 0.9, not a mapping"):
        apply_params({"gamma": 0.9}, {"gamma.x": 1})


def test_bad_space_files_say_what_is_wrong(tmp_path):
    space = write_space(tmp_path, seeds=[1000])
    with pytest.raises(ConfigError, match=r"seeds \[1000\] are outside the tuning range 0-9"):
        load_spec(space)
    space.write_text(yaml.safe_dump({"preset": "../nope.yaml", "space": {"x": {"type": "int", "low": 1,
                                                                             "high": 2}}}))
    with pytest.raises(ConfigError, match="preset ../nope.yaml not found"):
        load_spec(space)
    space.write_text(yaml.safe_dump({"preset": "../tiny.yaml", "space": {"x": {"type": "uniform"}}}))
    res = CliRunner().invoke(app, ["tune", "--config", str(space)])
    assert res.exit_code == 2 and "space.x" in res.output


def test_the_shipped_search_space_loads():
    spec, preset = load_spec("configs/tune/cartpole_vqc_reinforce.yaml")
    assert preset.name == "cartpole_vqc_reinforce.yaml" and set(spec.seeds) <= set(range(10))

"""train_from_config and `qrl train`: everything is checked before the run folder is touched,
finished runs are never destroyed, resumes are honest, checkpoints load safely."""

import os

import pytest
import torch
import yaml
from typer.testing import CliRunner

from classical.common.config import ConfigError
from classical.common.rundir import load_checkpoint_file
from qrl.cli import app
from qrl.training import train_from_config

runner = CliRunner()

TINY = {"algo": "classical.rl.reinforce", "model": {"type": "mlp", "hidden": [8]}, "lr": {"default": 0.01},
        "batch_episodes": 2, "episodes": 4, "eval_episodes": 1,
        "env_kwargs": {"max_episode_steps": 10}, "seed": 0}


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def _snapshot(folder):
    """Every file under ``folder`` with its bytes, to prove nothing changed."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _train(*args):
    res = runner.invoke(app, ["train", *map(str, args)])
    return res.exit_code, " ".join(res.output.split())


@pytest.fixture
def finished_run(tmp_path):
    cfg = _write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    code, text = _train("--config", cfg, "--out", out)
    assert code == 0, text
    for name in ("checkpoint.pt", "metrics.csv", "config.yaml", "eval.csv", "curve.png"):
        assert (out / name).exists(), name
    return cfg, out


# -- one entry point ---------------------------------------------------------
def test_train_from_config_is_exported_and_trains_a_dict_config(tmp_path):
    import qrl

    summary = qrl.train_from_config(TINY, {"episodes": 2}, out=tmp_path / "r")
    assert summary["episodes"] == 2
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["episodes"] == 2


def test_check_only_validates_and_writes_nothing(tmp_path):
    res = train_from_config(TINY, out=tmp_path / "r", check_only=True)
    assert res["checked"] and res["algo"] == "classical.rl.reinforce"
    assert not (tmp_path / "r").exists()
    code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), "--out", tmp_path / "r", "--check")
    assert code == 0 and "is valid" in text
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("change, message", [
    ({"env_id": "NoSuchEnv-v9"}, "key 'env_id' = 'NoSuchEnv-v9'"),
    ({"model": {"type": "mlp", "hiden": [8]}}, "unknown key 'model.hiden'"),
    ({"model": {"type": "vqc", "n_layers": -2}}, "key 'model.n_layers' = -2: Input should be greater than 0"),
    ({"backend": "no.such.backend"}, "unknown backend 'no.such.backend'"),
    ({"model": {"type": "vqc", "n_layers": 1, "backend": "aer.fast"}}, "key 'model.backend': a network cannot"),
    ({"model": {"type": "vqc", "n_layers": 1, "ledger": "elsewhere.sqlite"}}, "key 'model.ledger': a run's"),
    ({"gamma": "high"}, "key 'gamma' = 'high'"),
    ({"algo": "classical.rl.nothing"}, "algo 'classical.rl.nothing' is not a module"),
])
def test_a_bad_config_leaves_a_finished_run_untouched(finished_run, tmp_path, change, message):
    _, out = finished_run
    before = _snapshot(out)
    bad = _write(tmp_path / "bad.yaml", {**TINY, **change})
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, text = _train("--config", bad, "--out", out, *extra)
        assert code == 2, text
        assert message in text and "Traceback" not in text
    assert _snapshot(out) == before


def test_a_network_cannot_choose_its_own_backend_or_ledger(tmp_path):
    ppo = {"algo": "classical.rl.ppo", "actor": {"type": "vqc", "n_layers": 1, "backend": "aer.fast"},
           "critic": {"type": "mlp", "hidden": [8]}, "backend": "qrl.torch"}
    bad = _write(tmp_path / "ppo.yaml", ppo)
    for extra in (["--check"], []):
        code, text = _train("--config", bad, "--out", tmp_path / "r", *extra)
        assert code == 2 and "Traceback" not in text
        assert text == (f"error: {bad}: key 'actor.backend': a network cannot choose its own backend (its "
                        "circuits would bypass the run's backends file and job ledger); set the top-level "
                        "`backend:` (or --backend) instead and drop 'actor.backend'.")
        assert not (tmp_path / "r").exists()
    ppo["actor"] = {"type": "vqc", "n_layers": 1, "backends_file": "mine.yaml"}
    code, text = _train("--config", _write(tmp_path / "ppo.yaml", ppo), "--check")
    assert code == 2 and text == (f"error: {bad}: key 'actor.backends_file': a run's circuits use the run's "
                                  "backends file (--backends) and its job ledger (<out>/jobs.sqlite); drop "
                                  "'actor.backends_file' and set the top-level `backend:` for where they run.")


def test_inside_a_run_every_circuit_runs_on_the_runs_backend(tmp_path):
    from classical.rl.models import build_model
    from qrl.backends import Backend

    run_backend = Backend.for_run("qrl.torch", tmp_path / "run")
    model = build_model({"type": "vqc", "n_layers": 1}, "policy", 4, 2, backend=run_backend)
    assert model.vqc.backend == "qrl.torch"
    with pytest.raises(ConfigError, match=r"key 'model.backend': a network cannot choose its own backend"):
        build_model({"type": "vqc", "n_layers": 1, "backend": "default.qubit"}, "policy", 4, 2, backend=run_backend)


def test_model_errors_name_the_config_file_not_backends_yaml(tmp_path):
    bad = _write(tmp_path / "bad.yaml", {**TINY, "model": {"type": "vqc", "n_layerz": 3}})
    code, text = _train("--config", bad, "--check")
    assert code == 2
    assert f"{bad}: unknown key 'model.n_layerz'" in text and "backends.yaml" not in text


@pytest.mark.parametrize("make_out, message", [
    (lambda p: (p / "f").write_text("x") and p / "f", "is a file; give a folder path"),
    (lambda p: (p / "f").write_text("x") and p / "f" / "run", "which is a file; give a folder path"),
])
def test_unusable_out_paths_are_one_error(tmp_path, make_out, message):
    out = make_out(tmp_path)
    code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), "--out", out)
    assert code == 2 and message in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_out_is_one_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), "--out", ro / "run")
    finally:
        ro.chmod(0o700)
    assert code == 2 and "is not writable" in text


def test_a_folder_as_config_is_one_error(tmp_path):
    code, text = _train("--config", tmp_path)
    assert code == 2 and "is a folder, not a YAML file" in text


@pytest.mark.parametrize("flag, value, message", [
    ("--seed", "-1", "Invalid value for '--seed': -1 is not in the range x>=0"),
    ("--episodes", "-3", "Invalid value for '--episodes': -3 is not in the range x>=1"),
    ("--steps", "0", "Invalid value for '--steps': 0 is not in the range x>=1"),
])
def test_bad_flags_are_named(tmp_path, flag, value, message):
    code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), flag, value, "--check")
    assert code == 2 and message in text


def test_an_override_error_names_the_flag_not_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^--episodes 0: Input should be greater than 0"):
        train_from_config(TINY, {"episodes": 0}, out=tmp_path / "r", flags={"episodes": "--episodes"},
                          check_only=True)


# -- run folders -------------------------------------------------------------
def test_a_non_empty_out_is_refused_without_resume_or_overwrite(finished_run):
    cfg, out = finished_run
    before = _snapshot(out)
    code, text = _train("--config", cfg, "--out", out)
    assert code == 2
    assert f"--out {out} already holds a run" in text and "--resume" in text and "--overwrite" in text
    assert _snapshot(out) == before


def test_overwrite_removes_every_artefact_of_the_old_run(finished_run):
    cfg, out = finished_run
    for name in ("eval_aer.fast.csv", "jobs.sqlite"):
        (out / name).write_text("old")
    (out / "tb").mkdir(exist_ok=True)
    (out / "tb" / "events.out.old").write_text("old")
    code, text = _train("--config", cfg, "--out", out, "--overwrite", "--episodes", "2")
    assert code == 0, text
    names = {p.name for p in out.iterdir()}
    assert "eval_aer.fast.csv" not in names and "jobs.sqlite" not in names
    assert not (out / "tb" / "events.out.old").exists()
    assert not any(n.startswith(".qrl-overwritten") for n in names)
    assert yaml.safe_load((out / "config.yaml").read_text())["episodes"] == 2


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), "--out", out, "--overwrite")
    assert code == 2 and "holds files that are not a qrl run" in text
    assert (out / "thesis.tex").read_text() == "precious"


def test_resume_and_overwrite_together_are_refused(finished_run):
    cfg, out = finished_run
    code, text = _train("--config", cfg, "--out", out, "--resume", "--overwrite")
    assert code == 2 and "contradict each other" in text


def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    import classical.rl.reinforce as reinforce

    monkeypatch.setattr(reinforce, "run", lambda cfg, run: (_ for _ in ()).throw(KeyboardInterrupt))
    code, text = _train("--config", _write(tmp_path / "c.yaml", TINY), "--out", tmp_path / "r")
    assert code == 130
    assert "interrupted before the first checkpoint" in text and "last checkpoint" not in text


# -- resume --------------------------------------------------------------------
@pytest.mark.parametrize("change, keys", [
    ({"gamma": 0.5}, "gamma: 0.99 -> 0.5"),
    ({"seed": 3}, "seed: 0 -> 3"),
    ({"algo": "classical.rl.dqn", "model": {"type": "mlp"}, "lr": {"default": 0.01}, "episodes": 4,
      "env_kwargs": {"max_episode_steps": 10}, "seed": 0, "eval_episodes": 1}, "algo: 'classical.rl.reinforce' -> 'classical.rl.dqn'"),
])
def test_resume_under_another_config_is_refused_and_changes_nothing(finished_run, tmp_path, change, keys):
    _, out = finished_run
    before = _snapshot(out)
    data = change if "algo" in change else {**TINY, **change}
    code, text = _train("--config", _write(tmp_path / "other.yaml", data), "--out", out, "--resume")
    assert code == 2, text
    assert "the config differs from the checkpoint's" in text and keys in text
    assert _snapshot(out) == before


def test_a_larger_budget_needs_extend_budget_and_is_recorded(finished_run):
    cfg, out = finished_run
    before = _snapshot(out)
    code, text = _train("--config", cfg, "--out", out, "--resume", "--episodes", "6")
    assert code == 2 and "episodes: 4 -> 6" in text and "--extend-budget" in text
    assert _snapshot(out) == before
    code, text = _train("--config", cfg, "--out", out, "--resume", "--episodes", "6", "--extend-budget")
    assert code == 0, text
    written = (out / "config.yaml").read_text()
    assert written.startswith("# budget extended on resume: episodes 4 -> 6\n")
    assert yaml.safe_load(written)["episodes"] == 6
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 6


def test_the_checkpoint_carries_the_config_fingerprint_and_the_backend_used(finished_run):
    _, out = finished_run
    state = load_checkpoint_file(out / "checkpoint.pt")
    assert state["_config"]["algo"] == "classical.rl.reinforce"
    assert len(state["_config_fingerprint"]) == 64
    assert yaml.safe_load((out / "config.yaml").read_text())["backend"] == "qrl.torch"


# -- checkpoints -----------------------------------------------------------------
@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), "the checkpoint is empty (0 bytes); the run that wrote it was cut off. Start the "
                                   "run again with --overwrite."),
    (lambda p: p.write_bytes(p.read_bytes()[:200]),
     "the checkpoint is truncated (its end is missing: the run that wrote it was cut off, or the copy is "
     "incomplete). Copy it again, or start the run again with --overwrite."),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "the checkpoint is truncated (its end is missing"),
    (lambda p: p.write_text("hello"), "not a qrl checkpoint (not a file torch.save writes). Point to the "
                                      "checkpoint.pt of a run folder, or start the run again with --overwrite."),
    (lambda p: torch.save({"x": ConfigError("pickled")}, p),
     "the checkpoint holds pickled Python objects, which are never loaded (they could run code). Use a "
     "checkpoint qrl wrote, or start the run again with --overwrite."),
])
def test_a_damaged_or_foreign_checkpoint_is_one_error_naming_the_file(finished_run, damage, message):
    cfg, out = finished_run
    damage(out / "checkpoint.pt")
    code, text = _train("--config", cfg, "--out", out, "--resume")
    assert code == 2 and f"error: {out / 'checkpoint.pt'}: {message}" in text
    assert "PytorchStreamReader" not in text and "miniz" not in text   # no clipped torch error
    res = runner.invoke(app, ["evaluate", "--run", str(out), "--backend", "qrl.torch", "--episodes", "1"])
    assert res.exit_code == 2 and message in " ".join(res.output.split())


def test_an_explicit_backend_may_move_a_resumed_run_and_is_recorded(finished_run, tmp_path):
    cfg, out = finished_run
    code, text = _train("--config", cfg, "--out", out, "--resume", "--backend", "default.qubit")
    assert code == 0, text
    written = (out / "config.yaml").read_text()
    assert "# changed on resume: backend qrl.torch -> default.qubit\n" in written
    assert yaml.safe_load(written)["backend"] == "default.qubit"
    other = _write(tmp_path / "other.yaml", {**TINY, "backend": "aer.fast"})
    code, text = _train("--config", other, "--out", out, "--resume")  # in the file, not a flag: refused
    assert code == 2 and "differs from the checkpoint's in backend: 'qrl.torch' -> 'aer.fast'" in text


@pytest.mark.parametrize("replay, message", [
    ({"type": "prioritized", "alfa": 0.6},
     "key 'replay' = {'alfa': 0.6, 'type': 'prioritized'}: replay type 'prioritized' has no option 'alfa'; "
     "its options are alpha, beta, beta_steps, eps."),
    ({"type": "prioritised"}, "key 'replay' = {'type': 'prioritised'}: replay type 'prioritised' is unknown; "
                              "use one of ['prioritized', 'quantum', 'uniform']."),
    ({"type": "prioritized", "beta": 2}, "key 'replay' = {'beta': 2, 'type': 'prioritized'}: replay type "
                                         "'prioritized': option 'beta' = 2 must be a number in [0, 1]."),
])
def test_a_bad_replay_mapping_is_caught_by_check_naming_the_key(tmp_path, replay, message):
    dqn = {"algo": "classical.rl.dqn", "model": {"type": "mlp", "hidden": [8]}, "episodes": 2, "replay": replay}
    cfg = _write(tmp_path / "dqn.yaml", dqn)
    code, text = _train("--config", cfg, "--check", "--out", tmp_path / "run")
    assert code == 2 and text == f"error: {cfg}: {message}"
    assert not (tmp_path / "run").exists()

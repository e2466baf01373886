from typer.testing import CliRunner

from qrl.cli import app

runner = CliRunner()


def test_every_command_group_is_mounted():
    out = runner.invoke(app, ["--help"]).output
    for name in ("train", "backends", "evaluate", "jobs", "compare", "fed", "marl"):
        assert name in out


def test_jobs_without_a_ledger_exit_2_with_a_message(tmp_path):
    res = runner.invoke(app, ["jobs", "list", "--run", str(tmp_path)])
    assert res.exit_code == 2
    assert "no job ledger (jobs.sqlite) here" in " ".join(res.output.split())


def test_evaluate_needs_a_trained_run(tmp_path):
    res = runner.invoke(app, ["evaluate", "--run", str(tmp_path), "--backend", "aer.fast"])
    assert res.exit_code == 2
    assert "is not a trained run directory" in " ".join(res.output.split())


def test_train_on_a_qiskit_backend_records_its_jobs_in_the_run_ledger(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: vqc, n_layers: 1}\nlr: {default: 0.05}\n"
                   "batch_episodes: 2\nepisodes: 2\neval_episodes: 0\nenv_kwargs: {max_episode_steps: 3}\n")
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--config", str(cfg), "--backend", "aer.fast", "--out", str(out)])
    assert res.exit_code == 0, res.output
    listing = runner.invoke(app, ["jobs", "list", "--run", str(out)])
    assert listing.exit_code == 0
    assert "aer" in listing.output and "done" in listing.output.lower()


def test_fake_backends_without_the_v2_suffix_are_accepted():
    from qrl import backends as B

    names = B.fake_backend_names()
    assert {"FakeManilaV2", "FakeBrisbane", "FakeTorino"} <= set(names)

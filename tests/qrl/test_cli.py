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

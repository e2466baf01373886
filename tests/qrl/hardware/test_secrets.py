"""The IBM token never appears in stdout, stderr, logs, the run folder or the job ledger.

Every command that can touch IBM Quantum runs with a fake token and the network cut off
(sockets refuse to connect); each must fail with one line naming the backend entry and the
fix, exit code 2, and no trace of the token anywhere.
"""

import logging
import socket

import pytest
import yaml
from typer.testing import CliRunner

from qrl.cli import app
from qrl.hardware import secrets

TOKEN = "fAkE-t0ken-9f8e7d6c5b4a-SECRET"
runner = CliRunner()

TINY_VQC = {"algo": "classical.rl.reinforce", "model": {"type": "vqc", "n_layers": 1},
            "lr": {"default": 0.05}, "batch_episodes": 2, "episodes": 2, "eval_episodes": 1,
            "env_kwargs": {"max_episode_steps": 3}, "seed": 0}


@pytest.fixture
def offline_with_token(monkeypatch, tmp_path):
    """A fake token in the environment, no network, and a log file that catches every record."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.delenv("QISKIT_IBM_INSTANCE", raising=False)
    log_path = tmp_path / "all.log"
    handler = logging.FileHandler(log_path)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield log_path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def _no_token_anywhere(result, log_path, *folders):
    assert TOKEN not in result.stdout and TOKEN not in (result.stderr or "")
    assert TOKEN not in log_path.read_text()
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def _one_line_error(result, entry="ibm.least_busy"):
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"error: backend '{entry}': IBM Quantum" in text
    assert "check QISKIT_IBM_TOKEN" in text
    assert "Traceback" not in text


def test_backends_check_on_ibm_with_a_bad_token(offline_with_token):
    res = runner.invoke(app, ["backends", "check", "ibm.least_busy"])
    _one_line_error(res)
    _no_token_anywhere(res, offline_with_token)


def test_train_and_evaluate_on_ibm_with_a_bad_token(offline_with_token, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY_VQC))
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(run), "--backend", "ibm.least_busy"])
    _one_line_error(res)
    assert "IBM Quantum rejected the account (InvalidAccountError" in " ".join(res.output.split())
    assert res.output.startswith("error: backend 'ibm.least_busy': ")  # nothing before the error:
    assert "training" not in res.output  # a refused run never says it is training
    assert not run.exists()   # the account is checked before the run folder is created
    _no_token_anywhere(res, offline_with_token, run)

    trained = tmp_path / "trained"
    assert runner.invoke(app, ["train", "--config", str(cfg), "--out", str(trained)]).exit_code == 0
    res = runner.invoke(app, ["evaluate", "--run", str(trained), "--backend", "ibm.least_busy", "--episodes", "1"])
    _one_line_error(res)
    _no_token_anywhere(res, offline_with_token, trained)


def test_a_malformed_instance_is_one_line_too(offline_with_token, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:not-a-crn")
    res = runner.invoke(app, ["backends", "check", "ibm.least_busy"])
    _one_line_error(res)
    assert "IBM Quantum account settings are malformed (AttributeError" in " ".join(res.output.split())
    _no_token_anywhere(res, offline_with_token)


def test_log_records_and_exceptions_are_redacted(monkeypatch, caplog):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    secrets.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("qiskit_ibm_runtime.test").info("sending token %s", TOKEN)
    assert TOKEN not in caplog.text and "sending token ***" in caplog.text
    err = ValueError(f"bad token {TOKEN}")
    err.__cause__ = RuntimeError(TOKEN)
    secrets.redact_exception(err)
    assert str(err) == "bad token ***" and str(err.__cause__) == "***"


def test_no_command_group_shows_local_variables_in_a_traceback():
    from qrl.cli import backends_app, fed_app, marl_app
    from qrl.cli_hardware import jobs_app

    for typer_app in (app, backends_app, fed_app, marl_app, jobs_app):
        assert typer_app.pretty_exceptions_show_locals is False


def test_an_ibm_backend_without_any_account_is_refused_before_the_run_folder_exists(monkeypatch, tmp_path):
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no saved account either
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY_VQC))
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"),
                              "--backend", "ibm.least_busy"])
    assert res.exit_code == 2
    assert res.output.startswith("error: backend 'ibm.least_busy': no IBM Quantum account is configured: set "
                                 "QISKIT_IBM_TOKEN")
    assert "training" not in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()

"""qrl evaluate and qrl jobs on a tiny trained REINFORCE run."""

import csv
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from typer.testing import CliRunner

import qrl.models  # noqa: F401  (registers the VQC models)
from classical.common.rundir import RunDir
from classical.rl import reinforce
from qrl import cli_hardware
from qrl.hardware.ledger import Ledger

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    cfg = reinforce.Config(model={"type": "vqc", "n_qubits": 4, "n_layers": 1},
                           obs_scale=[2.4, 2.5, 0.21, 2.5], backend="default.qubit",
                           lr={"default": 0.05}, episodes=2, batch_episodes=2, eval_episodes=0,
                           seed=1)
    run = RunDir(path)
    run.write_config({"algo": "classical.rl.reinforce", **cfg.model_dump()})
    reinforce.run(cfg, run)
    return path


def test_evaluate_on_the_fake_ibm_backend_appends_rows_with_jobs(trained_run, monkeypatch, capsys):
    rows = cli_hardware.evaluate(trained_run, "ibm.fake.manila", episodes=1, shots=64)
    (row,) = rows
    progress = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("evaluate on ibm.fake.manila: ")]
    assert progress[-1].startswith(f"evaluate on ibm.fake.manila: 1/1 ep (100%) jobs={row['jobs']} "
                                   f"shots={row['shots']} qpu_s=")
    assert row["jobs"] == row["steps"]  # one job per environment step (batch of one state)
    assert row["shots"] > 0 and row["shots_per_circuit"] == 64
    with (trained_run / "eval_ibm.fake.manila.csv").open() as f:
        saved = list(csv.DictReader(f))
    assert len(saved) == 1 and int(saved[0]["jobs"]) == row["jobs"]
    records = Ledger(trained_run / "jobs.sqlite").jobs("eval:ibm.fake.manila")
    assert len(records) == row["jobs"] and all(r["shots"] == 64 for r in records)

    out = CliRunner().invoke(cli_hardware.jobs_app, ["list", "--run", str(trained_run)])
    assert out.exit_code == 0 and "fake:FakeManilaV2" in out.output
    out = CliRunner().invoke(cli_hardware.jobs_app, ["show", "1", "--run", str(trained_run)])
    assert out.exit_code == 0 and "PUB 0" in out.output
    out = CliRunner().invoke(cli_hardware.jobs_app, ["fetch", "1", "--run", str(trained_run)])
    assert out.exit_code == 0 and "already in the ledger" in out.output


def test_dry_run_on_real_ibm_prints_the_cost_and_writes_nothing(trained_run, monkeypatch,
                                                               tmp_path, capsys):
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    before = len(Ledger(trained_run / "jobs.sqlite").jobs()) if (trained_run / "jobs.sqlite").exists() else 0
    from qrl.hardware.retry import BudgetExceededError

    # the entry's 200 jobs do not cover the worst case of a CartPole episode (500 steps, one job each)
    with pytest.raises(BudgetExceededError, match=r"^dry run: does not fit the budget of 'ibm.least_busy' in "
                                                  r"the worst case: 1 episodes x 500 steps at most could use "
                                                  r"500 jobs.*A real run would be refused before the first "
                                                  r"job; 0 episodes fit\.$"):
        cli_hardware.evaluate(trained_run, "ibm.least_busy", episodes=1, dry_run=True)
    printed = capsys.readouterr().out
    assert "nothing was submitted" in printed and "QPU seconds" in printed
    assert "FakeBrisbane" in printed
    assert not (trained_run / "eval_ibm.least_busy.csv").exists()
    after = len(Ledger(trained_run / "jobs.sqlite").jobs()) if (trained_run / "jobs.sqlite").exists() else 0
    assert after == before


def test_the_whole_evaluation_cost_is_checked_before_the_first_job(trained_run, monkeypatch):
    from qrl.hardware.retry import BudgetExceededError

    ledger = trained_run / "jobs.sqlite"
    before = len(Ledger(ledger).jobs()) if ledger.exists() else 0
    with pytest.raises(BudgetExceededError, match=r"^evaluate on 'ibm.fake.manila': 1 episodes x 500 steps at "
                                                  r"most could use 500 jobs, 512,000 shots, about 1,133 QPU s"
                                                  r"( after the \d+ jobs already in the ledger)?; that exceeds "
                                                  r"the budget \(jobs \d+ > 2\)\. Nothing was "
                                                  r"submitted\. Lower --episodes \(0 fit\)"):
        cli_hardware.evaluate(trained_run, "ibm.fake.manila", episodes=1, budget={"jobs": 2})
    after = len(Ledger(ledger).jobs()) if ledger.exists() else 0
    assert after == before
    assert not (trained_run / "eval_ibm.fake.manila.csv").exists() or before > 0


@pytest.mark.parametrize("budget, code, line", [
    ("2", 2, "error: dry run: does not fit the budget of 'ibm.fake.manila': jobs"),
    ("1000000", 0, "fits the budget of 'ibm.fake.manila' (worst case: 1 episodes x 500 steps at most could "
                   "use 500 jobs"),
])
def test_the_dry_run_says_in_one_line_whether_the_run_fits(trained_run, monkeypatch, budget, code, line):
    from qrl.cli import app

    res = CliRunner().invoke(app, ["evaluate", "--run", str(trained_run), "--backend", "ibm.fake.manila",
                                   "--episodes", "1", "--dry-run", "--budget-jobs", budget])
    assert res.exit_code == code, res.output
    assert line in " ".join(res.output.split())


def test_evaluate_refuses_what_it_cannot_do(trained_run, tmp_path):
    with pytest.raises(ValueError, match="not a trained run directory"):
        cli_hardware.evaluate(tmp_path, "aer.fast")
    with pytest.raises(ValueError, match="--dry-run applies to qrl.qiskit backends"):
        cli_hardware.evaluate(trained_run, "default.qubit", dry_run=True)


def test_evaluate_sends_multi_agent_runs_to_qrl_load(tmp_path):
    (tmp_path / "config.yaml").write_text("algo: classical.marl.train\n")
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="a classical.marl.train run is loaded with qrl.load"):
        cli_hardware.evaluate(tmp_path, "default.qubit")


def test_evaluate_with_a_backends_file_reaches_only_the_circuits(tmp_path):
    """``--backends FILE`` goes into circuit specs only: an MLP run evaluates on an entry of that file,
    and so does a PPO run whose critic (not only its actor) is a circuit."""
    from qrl.cli import app

    backends = tmp_path / "my_backends.yaml"
    backends.write_text("default: mysim\nbackends:\n  mysim: {device: qrl.torch, diff_method: backprop}\n")
    presets = {
        "mlp": "algo: classical.rl.reinforce\nmodel: {type: mlp, hidden: [8]}\nbatch_episodes: 2\n"
               "eval_episodes: 0\nenv_kwargs: {max_episode_steps: 5}\n",
        "ppo": "algo: classical.rl.ppo\nactor: {type: vqc, n_layers: 1}\ncritic: {type: vqc, n_layers: 1}\n"
               "backend: qrl.torch\nn_envs: 1\nn_steps: 8\nminibatch_size: 8\nepochs: 1\neval_episodes: 0\n"
               "env_kwargs: {max_episode_steps: 5}\n"}
    runner = CliRunner()
    for name, text in presets.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        run = tmp_path / name
        res = runner.invoke(app, ["train", "--config", str(tmp_path / f"{name}.yaml"), "--episodes", "2",
                                  "--out", str(run)])
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["evaluate", "--run", str(run), "--backend", "mysim", "--backends", str(backends),
                                  "--episodes", "1"])
        assert res.exit_code == 0, res.output
        assert f"appended 1 rows to {run / 'eval_mysim.csv'}" in " ".join(res.output.split())
        with (run / "eval_mysim.csv").open() as f:
            (row,) = list(csv.DictReader(f))
        assert row["backend"] == "mysim" and int(row["steps"]) == 5 and float(row["return"]) == 5.0


def test_every_circuit_network_is_counted_and_budgeted_not_only_a_policy(tmp_path):
    """A PPO run (circuit ``actor``, no ``policy`` attribute) reports its jobs per episode and has its
    whole evaluation cost checked before the first job, as a REINFORCE run does."""
    from qrl.cli import app
    from qrl.hardware.retry import BudgetExceededError

    (tmp_path / "ppo.yaml").write_text(
        "algo: classical.rl.ppo\nactor: {type: vqc, n_layers: 1}\ncritic: {type: mlp, hidden: [8]}\n"
        "backend: qrl.torch\nn_envs: 1\nn_steps: 8\nminibatch_size: 8\nepochs: 1\neval_episodes: 0\n"
        "env_kwargs: {max_episode_steps: 5}\n")
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "ppo.yaml"), "--episodes", "2",
                                   "--out", str(run)])
    assert res.exit_code == 0, res.output
    (row,) = cli_hardware.evaluate(run, "aer.fast", episodes=1)
    assert row["steps"] == 5 and row["jobs"] == 5  # one job per environment step, counted
    assert len(Ledger(run / "jobs.sqlite").jobs("eval:aer.fast")) == 5
    with pytest.raises(BudgetExceededError, match=r"^evaluate on 'ibm.fake.manila': 1 episodes x 5 steps at "
                                                  r"most could use 5 jobs, 5,120 shots, .*that exceeds the "
                                                  r"budget \(jobs 5 > 2\)\. Nothing was submitted\. Lower "
                                                  r"--episodes \(0 fit\)"):
        cli_hardware.evaluate(run, "ibm.fake.manila", episodes=1, budget={"jobs": 2})
    assert Ledger(run / "jobs.sqlite").jobs("eval:ibm.fake.manila") == []

"""TensorBoard tracking through RunDir: event files read back with TensorBoard's EventAccumulator."""

import sys
import types

import pytest
import torch
from typer.testing import CliRunner

from classical.common.rundir import RunDir
from classical.common.tracking import read_scalars
from qrl.cli import app

TINY = ("algo: classical.rl.reinforce\nmodel: {type: mlp, hidden: [8]}\nlr: {default: 0.01}\n"
        "batch_episodes: 2\nepisodes: 6\neval_episodes: 2\nenv_kwargs: {max_episode_steps: 10}\n")


def rows_of(run_dir):
    return [{k: float(v) for k, v in r.items()} for r in RunDir(run_dir, resume=True).read_metrics()]


def assert_events_match_metrics(run_dir):
    rows = rows_of(run_dir)
    scalars = read_scalars(run_dir / "tb")
    for column in rows[0]:
        series = scalars[f"metrics/{column}"]
        assert [s for s, _ in series] == [int(r["env_steps"]) for r in rows], column
        assert [v for _, v in series] == pytest.approx([r[column] for r in rows], rel=1e-6), column
    return scalars


def test_every_numeric_column_is_a_scalar_at_its_env_step(tmp_path):
    run = RunDir(tmp_path)
    for i in range(1, 6):
        run.log({"episode": i, "return": 10.0 * i + 0.5, "env_steps": 7 * i, "note": "text",
                 "loss": torch.tensor(1.0 / i)})
    run.close()
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["metrics/return"] == [(7 * i, pytest.approx(10.0 * i + 0.5)) for i in range(1, 6)]
    assert [v for _, v in scalars["metrics/loss"]] == pytest.approx([1.0 / i for i in range(1, 6)])
    assert "metrics/note" not in scalars


def test_rows_without_env_steps_use_the_row_number(tmp_path):
    run = RunDir(tmp_path, metrics_name="rounds.csv")
    for r in range(1, 4):
        run.log({"round": r, "mean_return": float(r * r)})
    run.close()
    assert read_scalars(tmp_path / "tb")["metrics/mean_return"] == [(1, 1.0), (2, 4.0), (3, 9.0)]


def test_a_resumed_run_continues_one_stream_without_the_rows_past_its_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    for i in range(1, 4):
        run.log({"episode": i, "return": float(i), "env_steps": 10 * i})
    run.save_checkpoint({"episode": 3})
    for i in range(4, 6):  # written after the checkpoint, then the process dies
        run.log({"episode": i, "return": -100.0, "env_steps": 10 * i})
    run.close()
    resumed = RunDir(tmp_path, resume=True)
    assert resumed.load_checkpoint()["episode"] == 3
    for i in range(4, 7):
        resumed.log({"episode": i, "return": float(i), "env_steps": 10 * i})
    resumed.close()
    assert read_scalars(tmp_path / "tb")["metrics/return"] == [(10 * i, float(i)) for i in range(1, 7)]
    assert_events_match_metrics(tmp_path)


def test_optimiser_groups_give_learning_rates_and_gradient_norms(tmp_path):
    from classical.common.training import adam_per_group

    net = torch.nn.Linear(3, 1)
    net.parameter_groups = lambda: {"weights": [net.weight], "output_scaling": [net.bias]}

    class Agent:
        def __init__(self):
            self.optimizer = adam_per_group(net, {"weights": 0.01, "output_scaling": 0.1})

    run = RunDir(tmp_path)
    run.watch(Agent())
    net(torch.ones(1, 3)).sum().backward()
    run.log({"episode": 1, "env_steps": 5, "wall_seconds": 0.5})
    run.close()
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["train/lr/weights"] == [(5, pytest.approx(0.01))]
    assert scalars["train/lr/output_scaling"] == [(5, pytest.approx(0.1))]
    assert scalars["train/grad_norm/weights"] == [(5, pytest.approx(3 ** 0.5))]  # d/dw of w.1 = 1 each
    assert scalars["train/grad_norm/output_scaling"] == [(5, pytest.approx(1.0))]
    assert scalars["train/env_steps_per_s"] == [(5, pytest.approx(10.0))]


def test_qrl_train_writes_tensorboard_matching_metrics_csv_and_no_tensorboard_writes_none(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    scalars = assert_events_match_metrics(out)
    assert len(scalars["metrics/return"]) == 6
    assert "train/lr/weights" in scalars and "train/grad_norm/weights" in scalars
    assert scalars["eval/return_mean"][0][0] == int(rows_of(out)[-1]["env_steps"])
    out2 = tmp_path / "quiet"
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(out2), "--no-tensorboard"])
    assert res.exit_code == 0, res.output
    assert (out2 / "metrics.csv").exists() and not (out2 / "tb").exists()


def test_wandb_is_optional_and_gets_the_same_scalars(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY)
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "a"),
                                   "--wandb-project", "qrl-test"])
    assert res.exit_code == 2
    assert "Weights & Biases is not installed; `pip install wandb`" in " ".join(res.output.split())

    logged, inits = [], []

    class FakeRun:
        def log(self, values, step):
            logged.append((step, values))

        def finish(self):
            logged.append("finished")

    fake = types.SimpleNamespace(init=lambda **kw: inits.append(kw) or FakeRun(),
                                 util=types.SimpleNamespace(generate_id=lambda: "abc123"))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "b"),
                                   "--wandb-project", "qrl-test"])
    assert res.exit_code == 0, res.output
    assert inits[0]["project"] == "qrl-test" and inits[0]["id"] == "abc123"
    assert inits[0]["config"]["algo"] == "classical.rl.reinforce"
    rows = rows_of(tmp_path / "b")
    returns = [v["metrics/return"] for _, v in logged[:6]]
    assert returns == [r["return"] for r in rows] and logged[-1] == "finished"


def _exit_without_close(tmp_path, delete: bool):
    """A run logged to but never closed, its folder deleted (or not) before the interpreter exits."""
    import subprocess
    import sys

    script = f"""
import shutil
from classical.common.rundir import RunDir
run = RunDir({str(tmp_path / "run")!r})
for i in range(3):
    run.log({{"episode": i + 1, "return": float(i), "env_steps": 10 * (i + 1)}})
if {delete}:
    shutil.rmtree({str(tmp_path / "run")!r})
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_an_unclosed_run_is_flushed_at_exit_and_a_deleted_one_is_silent(tmp_path):
    from classical.common.tracking import read_scalars

    kept = _exit_without_close(tmp_path, delete=False)
    assert kept.returncode == 0 and kept.stderr == ""
    assert [v for _, v in read_scalars(tmp_path / "run" / "tb")["metrics/return"]] == [0.0, 1.0, 2.0]
    deleted = _exit_without_close(tmp_path / "other", delete=True)
    assert deleted.returncode == 0 and deleted.stderr == ""   # no FileNotFoundError from the writer thread
    assert not (tmp_path / "other" / "run").exists()          # and nothing recreated

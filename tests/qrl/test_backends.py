import pytest
from typer.testing import CliRunner

from qrl import backends as B
from qrl.cli import app

runner = CliRunner()


def write(tmp_path, text):
    p = tmp_path / "backends.yaml"
    p.write_text(text)
    return p


GOOD = """default: sim
backends:
  sim:
    device: default.qubit
    diff_method: backprop
  manila:
    device: qiskit.aer
    fake_backend: FakeManilaV2
    shots: 100
"""


def cli(*args):
    return runner.invoke(app, list(args))


def test_shipped_backends_file_has_the_required_entries():
    spec = B.load(B.PACKAGED)
    devices = {e.device for e in spec.backends.values()}
    assert {"default.qubit", "lightning.qubit", "qiskit.aer"} <= devices
    assert any(e.fake_backend for e in spec.backends.values())
    assert any(e.shots for e in spec.backends.values())


def test_device_for_a_name(tmp_path):
    dev = B.device("sim", 3, write(tmp_path, GOOD))
    assert dev.name == "default.qubit" and len(dev.wires) == 3


def test_list_prints_every_entry(tmp_path):
    res = cli("backends", "list", "--backends", str(write(tmp_path, GOOD)))
    assert res.exit_code == 0
    assert "sim (default)" in res.output and "FakeManilaV2" in res.output and "100" in res.output


def test_check_runs_a_bell_circuit(tmp_path):
    res = cli("backends", "check", "sim", "--backends", str(write(tmp_path, GOOD)))
    assert res.exit_code == 0
    assert "<Z0 Z1> = 1.0000" in res.output


def test_noisy_bell_is_below_one():
    value, _ = B.bell_check("aer.noisy.manila", B.PACKAGED)
    assert 0.6 < value < 0.99


@pytest.mark.parametrize("text, args, message", [
    (GOOD, ("check", "nope"), "unknown backend 'nope' in {f}; valid names: sim, manila."),
    ("default: sim\nbackends:\n  sim: {device: default.qubit\n", ("list",),
     "{f}: malformed YAML at line 4, column 1"),
    (GOOD.replace("    diff_method: backprop", "    difff_method: backprop"), ("list",),
     "{f}: entry 'sim': unknown key 'difff_method'. Remove it or check its spelling."),
    (GOOD.replace("shots: 100", "shots: many"), ("list",),
     "{f}: entry 'manila': key 'shots' = 'many': Input should be a valid integer"),
    (GOOD.replace("FakeManilaV2", "FakeManila"), ("list",),
     "{f}: entry 'manila': unknown fake backend 'FakeManila'. Did you mean FakeManilaV2?"),
])
def test_bad_input_gets_a_message_and_exit_code_2(tmp_path, text, args, message):
    f = write(tmp_path, text)
    res = cli("backends", *args, "--backends", str(f))
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    assert message.format(f=f) in flat
    assert "Traceback" not in res.output


def test_more_wires_than_the_fake_backend_has(tmp_path):
    with pytest.raises(B.BackendError, match=r"backend 'manila' has 5 qubits \(fake backend FakeManilaV2\) "
                                             r"but the circuit needs 7 wires"):
        B.device("manila", 7, write(tmp_path, GOOD))


def test_too_many_wires_through_train_exits_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: vqc, n_qubits: 7, n_layers: 1}\n"
                   "lr: {default: 0.01}\nepisodes: 2\nbatch_episodes: 2\n")
    res = cli("train", "--config", str(cfg), "--backend", "manila", "--out", str(tmp_path / "run"),
              "--backends", str(write(tmp_path, GOOD)))
    assert res.exit_code == 2
    assert "has 5 qubits" in res.output


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    f = write(tmp_path, GOOD + "  sim:\n    device: lightning.qubit\n")
    res = cli("backends", "list", "--backends", str(f))
    assert res.exit_code == 2
    assert f"{f}: malformed YAML at line 10, column 3: duplicate key 'sim' (first at line 3)" in " ".join(res.output.split())


def test_a_backend_handle_carries_its_file_and_ledger(tmp_path):
    f = write(tmp_path, GOOD)
    assert B.device(B.Backend("sim", str(f)), 2).name == "default.qubit"
    assert B.entry(B.Backend(None, str(f))).device == "default.qubit"     # no name: the file's default
    with pytest.raises(B.BackendError, match="unknown backend 'sim'"):
        B.device("sim", 2)                                               # a bare name reads ./backends.yaml
    run = B.Backend.for_run("aer.fast", tmp_path / "run-7")
    assert (run.ledger, run.run_id) == (str(tmp_path / "run-7" / "jobs.sqlite"), "run-7")
    dev = B.device(run, 2)
    assert (dev.ledger_path, dev.run_id) == (tmp_path / "run-7" / "jobs.sqlite", "run-7")


def test_train_reads_the_backends_file_it_is_given_and_leaves_no_trace(tmp_path, monkeypatch):
    import os

    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"algo": "classical.rl.reinforce", "model": {"type": "vqc", "n_layers": 1},
                                   "lr": {"default": 0.05}, "batch_episodes": 2, "episodes": 2,
                                   "eval_episodes": 0, "env_kwargs": {"max_episode_steps": 3}}))
    environ = {k: v for k, v in os.environ.items() if k.startswith("QRL")}
    res = cli("train", "--config", str(cfg), "--backend", "sim", "--out", str(tmp_path / "a"),
              "--backends", str(write(tmp_path, GOOD)))
    assert res.exit_code == 0, res.output
    assert {k: v for k, v in os.environ.items() if k.startswith("QRL")} == environ
    res = cli("train", "--config", str(cfg), "--backend", "sim", "--out", str(tmp_path / "b"))
    assert res.exit_code == 2 and "unknown backend 'sim'" in " ".join(res.output.split())
    assert not (tmp_path / "b").exists()


def test_no_process_wide_backend_state_is_left_in_the_code():
    """The backends file and the run's ledger are passed explicitly; the old globals are gone for good."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    banned = ("QRL_" + "BACKENDS", "_RUN_" + "CONTEXT", "use_run_" + "directory")
    files = [p for d in ("qrl", "classical", "hybrid", "tests", "notebooks", "benchmarks", "docs")
             for p in (root / d).rglob("*") if p.suffix in (".py", ".ipynb", ".md", ".yaml")]
    files += [root / "README.md", root / "BENCHMARKS.md", root / "Makefile"]
    hits = [f"{p.relative_to(root)}: {word}" for p in files if p.exists() for word in banned
            if word in p.read_text(errors="ignore")]
    assert hits == []

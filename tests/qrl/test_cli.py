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
    from qrl.hardware.ledger import Ledger

    jobs = len(Ledger(out / "jobs.sqlite").jobs())
    assert jobs > 0
    last = [line for line in res.output.splitlines() if line.startswith("reinforce: ")][-1]
    assert f"jobs={jobs} shots=0 qpu_s=0" in last  # progress shows the hardware usage (exact: no shots)
    listing = runner.invoke(app, ["jobs", "list", "--run", str(out)])
    assert listing.exit_code == 0
    assert "aer" in listing.output and "done" in listing.output.lower()
    from classical.common.tracking import read_scalars
    from qrl.hardware.ledger import Ledger

    totals = Ledger(out / "jobs.sqlite").totals("run")
    tracked = read_scalars(out / "tb")
    assert tracked["hardware/jobs"][-1][1] == totals["jobs"] > 0  # jobs so far, in TensorBoard
    assert tracked["hardware/shots"][-1][1] == totals["shots"]
    progress = [line for line in res.output.splitlines() if line.startswith("reinforce: ")]
    assert f"jobs={totals['jobs']} shots={totals['shots']} qpu_s=" in progress[-1]


def test_fake_backends_without_the_v2_suffix_are_accepted():
    from qrl import backends as B

    names = B.fake_backend_names()
    assert {"FakeManilaV2", "FakeBrisbane", "FakeTorino"} <= set(names)


def _metrics(path):
    import csv

    with open(path / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_steps_and_episodes_flags_set_the_budget_of_any_trainer(tmp_path):
    ppo = tmp_path / "ppo.yaml"   # a step-budget preset cut short by --episodes
    ppo.write_text("algo: classical.rl.ppo\nactor: {type: mlp, hidden: [8]}\ncritic: {type: mlp, hidden: [8]}\n"
                   "n_envs: 2\nn_steps: 8\nminibatch_size: 16\nepochs: 1\ntotal_env_steps: 100000\n"
                   "eval_episodes: 0\nenv_kwargs: {max_episode_steps: 5}\n")
    res = runner.invoke(app, ["train", "--config", str(ppo), "--episodes", "6", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    rows = _metrics(tmp_path / "p")
    # two rollouts of 2 envs x 8 steps: episodes of 5 end at steps 5, 10, 15 in each env
    assert len(rows) == 6 and int(rows[-1]["env_steps"]) == 30
    reinforce = tmp_path / "r.yaml"   # an episode-budget preset cut short by --steps
    reinforce.write_text("algo: classical.rl.reinforce\nmodel: {type: mlp, hidden: [8]}\nbatch_episodes: 2\n"
                         "episodes: 1000\neval_episodes: 0\nenv_kwargs: {max_episode_steps: 5}\n")
    res = runner.invoke(app, ["train", "--config", str(reinforce), "--steps", "20", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert [int(r["env_steps"]) for r in _metrics(tmp_path / "r")][-1] == 20   # batches of 2 x 5 steps


def test_a_renamed_key_exits_2_naming_the_new_key(tmp_path):
    cfg = tmp_path / "old.yaml"
    cfg.write_text("algo: classical.rl.ppo\ntotal_steps: 100\n")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{cfg}: key 'total_steps' was renamed; use total_env_steps" in " ".join(res.output.split())


def test_train_announces_itself_once_the_run_really_starts(tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: mlp, hidden: [8]}\nbatch_episodes: 2\n"
                   "episodes: 2\neval_episodes: 0\nenv_kwargs: {max_episode_steps: 5}\n")
    out = tmp_path / "r"
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == f"training classical.rl.reinforce -> {out}"
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "--resume", "--extend-budget",
                              "--episodes", "4"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:2] == ["extending episodes from 2 to 4",
                                           f"training classical.rl.reinforce -> {out}"]
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "--episodes", "6"])
    assert res.exit_code == 2 and "training" not in res.output  # refused: the folder holds a run

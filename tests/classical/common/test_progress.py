"""The shared progress display: one line per update in logs, a live bar on terminals only."""

import io

from classical.common.progress import Progress


def test_non_interactive_output_is_one_plain_line_per_update():
    out = io.StringIO()
    bar = Progress(total=3, unit="ep", desc="train", stream=out, min_interval=0)
    for i in range(3):
        bar.update(1, mean_return=float(i))
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split(" elapsed")[0] for line in lines] == [
        "train: 1/3 ep (33%) mean_return=0", "train: 2/3 ep (67%) mean_return=1",
        "train: 3/3 ep (100%) mean_return=2"]


def test_lines_are_throttled_but_the_last_state_is_always_printed():
    out = io.StringIO()
    bar = Progress(total=100, unit="step", stream=out, min_interval=3600)
    for _ in range(100):
        bar.update(1)
    bar.close()
    assert [line.split(" elapsed")[0] for line in out.getvalue().splitlines()] == [
        "1/100 step (1%)", "100/100 step (100%)"]


def test_polled_fields_show_while_an_update_runs():
    out = io.StringIO()
    jobs = iter(range(1, 1000))
    bar = Progress(total=1, unit="ep", stream=out, min_interval=0)
    bar.poll(lambda: {"jobs": next(jobs)}, every=0.01)
    import time

    time.sleep(0.2)
    bar.close()
    assert any("jobs=2" in line for line in out.getvalue().splitlines())


def test_a_marl_run_prints_progress_lines(tmp_path, capsys):
    from classical.common.rundir import RunDir
    from classical.marl import train as marl
    from qrl.training import _start_progress

    cfg = marl.Config(algo_name="iql", env_id="particle", env_kwargs={"n_agents": 2, "max_cycles": 5},
                      episodes=4, warmup_steps=5, batch_size=4, eval_episodes=1)
    run = RunDir(tmp_path / "run")
    _start_progress(run, cfg, "classical.marl.train")  # what qrl train does before run()
    marl.run(cfg, run)
    run.close()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("marl: ")]
    assert lines
    assert lines[-1].startswith("marl: 4/4 ep (100%) mean_return=")
    assert "env_steps=20" in lines[-1]


def test_fed_train_shows_client_episodes(tmp_path):
    from typer.testing import CliRunner

    from qrl.cli import app

    cfg = tmp_path / "fed.yaml"
    cfg.write_text("algo: classical.federated.train\nnum_clients: 2\nepisodes: 4\nlocal_episodes: 2\n"
                   "engine: inprocess\neval_episodes: 1\n")
    res = CliRunner().invoke(app, ["fed", "train", "--config", str(cfg), "--out", str(tmp_path / "fed")])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("federated: ")]
    assert lines[-1].startswith("federated: 4/4 ep (100%) mean_return=")  # 2 rounds of 2 client episodes

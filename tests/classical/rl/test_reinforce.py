import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import qrl.models  # noqa: F401  (registers the vqc model type)
from classical.common.rollouts import Episode
from classical.common.rundir import RunDir
from classical.rl.reinforce import Config, Reinforce, load_agent, run
from qrl.cli import app

MLP = {"type": "mlp", "hidden": [16]}


@pytest.mark.parametrize("model, lr", [(MLP, {"weights": 0.05}),
                                       ({"type": "vqc", "n_layers": 2}, {"input_scaling": 0.1, "weights": 0.1,
                                                                         "output_scaling": 0.1})])
def test_update_raises_log_probability_of_rewarded_action(model, lr):
    agent = Reinforce(Config(model=model, lr=lr, backend="default.qubit", normalize_returns=False, seed=0))
    obs = np.array([[0.1, 0.0, -0.05, 0.2]] * 3, dtype=np.float32)
    ep = Episode(observations=obs, actions=np.array([1, 1, 1]), rewards=np.array([1.0, 1.0, 1.0]))

    def logp():
        with torch.no_grad():
            return agent.policy(agent._obs(obs[:1])).log_softmax(-1)[0, 1].item()

    before = logp()
    agent.update([ep])
    assert logp() > before


def test_rewards_of_the_other_sign_lower_it():
    agent = Reinforce(Config(model=MLP, lr={"weights": 0.05}, normalize_returns=False, seed=0))
    obs = np.zeros((2, 4), dtype=np.float32)
    ep = Episode(observations=obs, actions=np.array([0, 0]), rewards=np.array([-1.0, -1.0]))
    with torch.no_grad():
        before = agent.policy(agent._obs(obs[:1])).log_softmax(-1)[0, 0].item()
    agent.update([ep])
    with torch.no_grad():
        assert agent.policy(agent._obs(obs[:1])).log_softmax(-1)[0, 0].item() < before


def metrics(path):
    return [(r["episode"], r["return"], r["env_steps"]) for r in RunDir(path, resume=True).read_metrics()]


@pytest.mark.parametrize("model", [MLP, {"type": "vqc", "n_layers": 1}])
def test_resume_continues_to_the_same_metrics(tmp_path, model):
    base = dict(model=model, lr={"default": 0.05}, backend="default.qubit", batch_episodes=3, seed=7,
                eval_episodes=1)
    run(Config(**base, episodes=12), RunDir(tmp_path / "full"))
    run(Config(**base, episodes=6), RunDir(tmp_path / "part"))
    run(Config(**base, episodes=12), RunDir(tmp_path / "part", resume=True))
    assert metrics(tmp_path / "part") == metrics(tmp_path / "full")
    assert len(metrics(tmp_path / "full")) == 12


def test_resume_drops_rows_written_after_the_checkpoint(tmp_path):
    cfg = Config(model=MLP, batch_episodes=2, episodes=4, seed=1, eval_episodes=1)
    run(cfg, RunDir(tmp_path))
    with open(tmp_path / "metrics.csv", "a") as f:  # a row from an update that never checkpointed
        f.write("5,99.0,999,1.0\n")
    agent = Reinforce(cfg)
    agent.load_state_dict(RunDir(tmp_path, resume=True).load_checkpoint())
    assert len(metrics(tmp_path)) == 4 and agent.episodes_done == 4


def test_save_load_roundtrip_predicts_the_same(tmp_path):
    agent = Reinforce(Config(model=MLP, seed=3))
    agent.save(tmp_path / "a.pt")
    other = Reinforce.load(tmp_path / "a.pt")
    obs = np.random.default_rng(0).normal(size=(5, 4))
    assert (agent.predict(obs)[0] == other.predict(obs)[0]).all()


def test_cli_train_writes_the_run_directory_and_resumes(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: vqc, n_layers: 1}\n"
                   "lr: {default: 0.05}\nbatch_episodes: 2\nepisodes: 4\neval_episodes: 2\n"
                   "env_kwargs: {max_episode_steps: 40}\n")
    out = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--config", str(cfg), "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("config.yaml", "metrics.csv", "checkpoint.pt", "curve.png", "eval.csv"):
        assert (out / name).exists(), name
    assert RunDir(out, resume=True).read_config()["seed"] == 3
    res = runner.invoke(app, ["train", "--config", str(cfg), "--seed", "3", "--episodes", "6", "--out", str(out),
                              "--resume", "--extend-budget"])
    assert res.exit_code == 0, res.output
    assert len(metrics(out)) == 6
    agent = load_agent(out)
    assert agent.episodes_done == 6


@pytest.mark.parametrize("text, message", [
    ("model: {type: mlp}\n", "missing key 'algo'"),
    ("algo: classical.rl.nothing\n", "algo 'classical.rl.nothing' is not a module of this installation"),
    ("algo: classical.rl.reinforce\nepisodez: 3\n", "unknown key 'episodez'. Remove it or check its spelling."),
    ("algo: classical.rl.reinforce\nbatch_episodes: 0\n", "key 'batch_episodes' = 0: Input should be greater than 0"),
    ("algo: classical.rl.reinforce\nmodel: {type: vqc}\nlr: {weights: 0.1}\n",
     "lr has no learning rate for parameter group 'input_scaling'; add one of the keys "
     "['input_scaling', 'default']"),
    ("algo: classical.rl.reinforce\nepsilon_decay: 0.9\n",
     "key 'epsilon_decay' was renamed; use epsilon.decay (epsilon: {start: 1.0, end: 0.01, decay: 0.99})"),
])
def test_bad_training_configs_exit_2(tmp_path, text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())


def test_unknown_backend_on_the_command_line_exits_2(tmp_path):
    res = CliRunner().invoke(app, ["train", "--config", "configs/cartpole_vqc_reinforce.yaml",
                                   "--backend", "qpu9", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "unknown backend 'qpu9'" in res.output


@pytest.mark.learning
def test_mlp_reinforce_learns_cartpole(tmp_path):
    cfg = Config(model={"type": "mlp", "hidden": [32]}, lr={"weights": 0.02}, gamma=1.0,
                 obs_scale=[2.4, 2.5, 0.21, 2.5], batch_episodes=10, episodes=200, seed=0, eval_episodes=5)
    run(cfg, RunDir(tmp_path))
    returns = [float(r[1]) for r in metrics(tmp_path)]
    assert np.mean(returns[:20]) < 40
    assert np.mean(returns[-20:]) > 120

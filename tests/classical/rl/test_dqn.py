import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import qrl.models  # noqa: F401  (registers the vqc model type)
from classical.common.rundir import RunDir
from classical.rl.dqn import DQN, Config, load_agent, run
from qrl.cli import app

MLP = {"type": "mlp", "hidden": [16]}
VQC = {"type": "vqc", "n_qubits": 4, "n_layers": 1}


def _batch(obs, action, reward, terminated=1.0):
    n = len(obs)
    return {"obs": torch.as_tensor(obs, dtype=torch.float32), "action": torch.full((n,), action),
            "reward": torch.full((n,), reward), "next_obs": torch.as_tensor(obs, dtype=torch.float32),
            "terminated": torch.full((n,), terminated)}


@pytest.mark.parametrize("model, lr", [(MLP, {"weights": 0.01}), (VQC, {"default": 0.05})])
def test_update_moves_q_towards_the_terminal_reward(model, lr):
    agent = DQN(Config(model=model, lr=lr, backend="default.qubit", seed=0))
    obs = np.array([[0.1, 0.0, -0.05, 0.2]] * 4, dtype=np.float32)
    with torch.no_grad():
        before = agent.q(agent._obs(obs[:1]))[0, 1].item()
    target = before + 1.0
    for _ in range(5):
        agent.update(_batch(obs, 1, target))
    with torch.no_grad():
        after = agent.q(agent._obs(obs[:1]))[0, 1].item()
    assert abs(after - target) < abs(before - target)


def test_bootstrap_uses_the_target_network_not_the_online_one():
    agent = DQN(Config(model=MLP, lr={"weights": 0.0}, gamma=0.5, seed=0))
    with torch.no_grad():
        for p in agent.target_q.parameters():
            p.zero_()
        agent.target_q.net[-1].bias.fill_(4.0)  # target says every Q is 4
    obs = np.zeros((2, 4), dtype=np.float32)
    batch = _batch(obs, 0, 1.0, terminated=0.0)
    q0 = agent.q(agent._obs(obs))[:, 0].detach()
    expected = torch.nn.functional.huber_loss(q0, torch.full_like(q0, 1.0 + 0.5 * 4.0)).item()
    assert agent.update(batch) == pytest.approx(expected, rel=1e-5)


def test_n_step_targets_sum_rewards_and_bootstrap_with_gamma_to_the_k():
    agent = DQN(Config(model=MLP, lr={"weights": 0.0}, gamma=0.5, n_step=3, seed=0))
    with torch.no_grad():
        for p in agent.target_q.parameters():
            p.zero_()
        agent.target_q.net[-1].bias.fill_(4.0)  # target says every Q is 4
    obs = np.zeros((1, 4), dtype=np.float32)
    for t in range(4):  # rewards 1, 2, 3, 4; the episode is cut by its time limit after the 4th step
        agent.buffer.add(obs=obs, action=np.zeros(1, dtype=np.int64), reward=np.array([t + 1.0], np.float32),
                         next_obs=obs, terminated=np.zeros(1, np.float32),
                         truncated=np.array([t == 3], np.float32))
    batch = agent.buffer.sample_n_step(32, 3, 0.5, np.random.default_rng(0))
    by_first_reward = {float(k): (float(r), float(d))
                       for k, r, d in zip(batch["step_reward"], batch["reward"], batch["discount"])}
    assert by_first_reward[1.0] == pytest.approx((1 + 0.5 * 2 + 0.25 * 3, 0.125))   # three steps
    assert by_first_reward[3.0] == pytest.approx((3 + 0.5 * 4, 0.25))               # two, cut at the episode end
    assert by_first_reward[4.0] == pytest.approx((4.0, 0.5))
    q0 = agent.q(agent._obs(batch["obs"]))[:, 0].detach()
    expected = torch.nn.functional.huber_loss(q0, batch["reward"] + batch["discount"] * 4.0).item()
    assert agent.update(batch) == pytest.approx(expected, rel=1e-5)


def test_n_step_dqn_trains_end_to_end(tmp_path):
    summary = run(Config(model=MLP, n_step=3, batch_size=8, learning_starts=8, train_every=1, episodes=3,
                         eval_episodes=1, seed=0), RunDir(tmp_path))
    assert summary["episodes"] == 3 and np.isfinite(summary["eval_return_mean"])


def test_epsilon_decays_per_episode_to_its_floor(tmp_path):
    cfg = Config(model=MLP, episodes=5, epsilon={"start": 1.0, "end": 0.1, "decay": 0.5}, eval_episodes=0,
                 env_kwargs={"max_episode_steps": 10})
    run(cfg, RunDir(tmp_path))
    eps = [float(r["epsilon"]) for r in RunDir(tmp_path, resume=True).read_metrics()]
    assert eps == [1.0, 0.5, 0.25, 0.125, 0.1]


def test_learning_rates_fall_linearly_to_their_final_fraction():
    cfg = Config(model=VQC, backend="qrl.torch", episodes=4, lr_final_fraction=0.2, eval_episodes=0,
                 lr={"input_scaling": 0.01, "weights": 0.001, "output_scaling": 0.1},
                 env_kwargs={"max_episode_steps": 5})
    agent = DQN(cfg)
    agent.episodes_done = 2
    agent._anneal_lr()
    assert [g["lr"] for g in agent.optimizer.param_groups] == pytest.approx([0.006, 0.0006, 0.06])
    agent = DQN(cfg).learn(progress=False)
    assert [g["lr"] for g in agent.optimizer.param_groups] == pytest.approx([0.002, 0.0002, 0.02])


def test_acting_network_is_a_polyak_average_of_the_online_one(tmp_path):
    agent = DQN(Config(model=MLP, lr={"weights": 0.05}, acting_average=0.25, seed=0))
    before = [p.detach().clone() for p in agent.q.parameters()]
    obs = np.array([[0.1, 0.0, -0.05, 0.2]] * 4, dtype=np.float32)
    agent.update(_batch(obs, 1, 3.0))
    for avg, old, new in zip(agent.acting_q.parameters(), before, agent.q.parameters()):
        assert torch.allclose(avg, 0.75 * old + 0.25 * new, atol=1e-6)
    assert not torch.allclose(before[-1], next(reversed(list(agent.q.parameters()))))
    with torch.no_grad():
        expected = agent.acting_q(agent._obs(obs)).argmax(-1).numpy()
    assert (agent.predict(obs)[0] == expected).all()
    agent.save(tmp_path / "a.pt")
    other = DQN.load(tmp_path / "a.pt")
    assert all(torch.equal(a, b) for a, b in zip(other.acting_q.parameters(), agent.acting_q.parameters()))


def test_learning_stops_for_good_once_the_recent_mean_reaches_freeze_return(tmp_path):
    # Episodes 1-3 learn; after episode 3 the mean of the last 3 returns (>= 8 in CartPole) reaches 8,
    # so episodes 4-6 only act: no gradient step, the same weights, and the episode is recorded.
    base = dict(model=MLP, lr={"weights": 0.01}, batch_size=8, learning_starts=8, train_every=1,
                epsilon={"start": 1.0, "end": 0.01, "decay": 0.8}, seed=2, eval_episodes=1, freeze_return=8.0,
                freeze_window=3)
    agent = DQN(Config(**base, episodes=3)).learn(progress=False)
    updates, weights = agent.updates_done, [p.detach().clone() for p in agent.q.parameters()]
    assert updates > 0 and agent.learning_stopped_at == 3
    agent.cfg = Config(**base, episodes=6)
    agent.learn(progress=False)
    assert agent.episodes_done == 6 and agent.updates_done == updates
    assert all(torch.equal(a, b) for a, b in zip(weights, agent.q.parameters()))
    agent.save(tmp_path / "a.pt")
    assert DQN.load(tmp_path / "a.pt").learning_stopped_at == 3
    summary = run(Config(**base, episodes=6), RunDir(tmp_path / "r"))
    assert summary["learning_stopped_at"] == 3
    with pytest.raises(ValueError, match=r"freeze_window \(20\) must not exceed solved_window \(10\)"):
        Config(freeze_return=500, freeze_window=20, solved_window=10)


def test_checkpoint_without_an_average_starts_acting_average_at_the_online_weights(tmp_path):
    plain = DQN(Config(model=MLP, lr={"weights": 0.05}, seed=0))
    plain.update(_batch(np.ones((4, 4), dtype=np.float32), 1, 3.0))
    averaged = DQN(Config(model=MLP, lr={"weights": 0.05}, acting_average=0.1, seed=1))
    averaged.load_state_dict(plain.state_dict())
    assert all(torch.equal(a, q) for a, q in zip(averaged.acting_q.parameters(), plain.q.parameters()))


def metrics(path):
    return [(r["episode"], r["return"], r["env_steps"]) for r in RunDir(path, resume=True).read_metrics()]


def test_resume_continues_to_the_same_metrics(tmp_path):
    base = dict(model=MLP, lr={"weights": 0.01}, batch_size=8, learning_starts=8, train_every=1,
                checkpoint_every=2, epsilon={"start": 1.0, "end": 0.01, "decay": 0.8}, seed=5,
                eval_episodes=1)
    run(Config(**base, episodes=8), RunDir(tmp_path / "full"))
    run(Config(**base, episodes=4), RunDir(tmp_path / "part"))
    run(Config(**base, episodes=8), RunDir(tmp_path / "part", resume=True))
    assert metrics(tmp_path / "part") == metrics(tmp_path / "full")
    assert len(metrics(tmp_path / "full")) == 8


def test_save_load_roundtrip_predicts_the_same(tmp_path):
    agent = DQN(Config(model=MLP, seed=3))
    agent.save(tmp_path / "a.pt")
    other = DQN.load(tmp_path / "a.pt")
    obs = np.random.default_rng(0).normal(size=(5, 4))
    assert (agent.predict(obs)[0] == other.predict(obs)[0]).all()


def test_vqdqn_config_trains_through_the_cli_and_reloads(tmp_path):
    spec = yaml.safe_load(open("configs/cartpole_vqdqn.yaml"))
    spec.update(eval_episodes=1, env_kwargs={"max_episode_steps": 15})  # keep the smoke test short
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--episodes", "2",
                                   "--backend", "default.qubit", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("config.yaml", "metrics.csv", "checkpoint.pt", "curve.png", "eval.csv"):
        assert (out / name).exists(), name
    agent = load_agent(out)
    assert agent.q.n_params == 4 * 5 + 6 * 4 * 3 + 1 and agent.episodes_done == 2  # one shared output scale
    assert agent.q.vqc.observables == ["Z0Z1", "Z2Z3"]


def test_missing_learning_rate_group_is_named():
    with pytest.raises(ValueError, match=r"lr has no learning rate for parameter group 'output_scaling'; add one of the keys "
                                           r"\['output_scaling', 'default'\]"):
        DQN(Config(model=VQC, lr={"input_scaling": 0.1, "weights": 0.1}, backend="default.qubit"))


def test_observations_are_scaled_then_squashed_with_arctan():
    agent = DQN(Config(model=MLP, obs_scale=[2.0, 1.0, 1.0, 1.0], obs_squash="arctan"))
    x = agent._obs(np.array([[4.0, -1.0, 0.0, 100.0]]))
    torch.testing.assert_close(x, torch.atan(torch.tensor([[2.0, -1.0, 0.0, 100.0]])))


@pytest.mark.learning
def test_vqdqn_preset_learns_cartpole(tmp_path):
    # The committed preset, cut to 250 episodes, on seed 1001, one of the fresh seeds 1000-1019 on which its
    # success rate was measured (BENCHMARKS.md, issue 18, session 8). The mean of the last 20 training returns
    # at episode 250 on those seeds: 433 342 35 255 21 83 71 (1000-1006); a random policy scores ~22, and on
    # the tuning seeds 0-9 it was 23 291 105 29 47 22 124 91 29 157. Seed 1001 (342) learns early, which keeps
    # the test short; 100 leaves room for platform noise.
    spec = yaml.safe_load(open("configs/cartpole_vqdqn.yaml"))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    summary = run(Config(**{**spec, "episodes": 250, "seed": 1001, "eval_episodes": 0}), RunDir(tmp_path))
    returns = [float(r["return"]) for r in RunDir(tmp_path, resume=True).read_metrics()]
    assert summary["episodes"] == 250 and summary["learning_stopped_at"] is None
    assert np.mean(returns[-20:]) >= 100, np.mean(returns[-20:])


@pytest.mark.learning
def test_vqc_q_learning_preset_solves_frozenlake(tmp_path):
    # The committed preset (400 episodes) on seed 1022, one of the fresh seeds 1020-1039 on which its success
    # rate was measured (BENCHMARKS.md, issue 18). The untrained circuit's greedy policy walks right and left
    # at the start forever, and the first goal came only in training episode 76, so the test fails if the
    # exploration before the first reward breaks. Training keeps epsilon at 0.1, so the training episodes
    # succeed less often than the greedy policy.
    spec = yaml.safe_load(open("configs/frozenlake_vqc_qlearning.yaml"))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    summary = run(Config(**{**spec, "seed": 1022}), RunDir(tmp_path))
    assert summary["eval_success_mean"] == 1.0
    assert summary["train_return_mean_recent"] >= 0.75

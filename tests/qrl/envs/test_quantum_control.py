import gymnasium as gym
import numpy as np
import pytest

from qrl.envs import BinaryObservation, QuantumControlEnv
from qrl.envs.quantum_control import parse_gate, target_state


@pytest.mark.parametrize("n, target, plan", [(1, "plus", ["H0"]), (2, "bell", ["H0", "CNOT01"]),
                                             (3, "ghz", ["H0", "CNOT01", "CNOT12"]),
                                             (3, "plus", ["H0", "H1", "H2"])])
def test_known_circuits_prepare_the_targets(n, target, plan):
    env = QuantumControlEnv(n, target, gates=plan + ["X0"])
    env.reset(seed=0)
    for step, _ in enumerate(plan):
        obs, reward, terminated, truncated, info = env.step(step)
    assert terminated and not truncated and info["success"]
    assert info["fidelity"] == pytest.approx(1.0) and info["steps"] == len(plan)
    assert obs.shape == (2 * 2 ** n,)


def test_gain_rewards_telescope_and_the_step_limit_truncates():
    env = QuantumControlEnv(2, "bell", gates=["X0", "X1"], max_steps=4, step_penalty=0.01)
    env.reset(seed=0)
    f0, total = env.fidelity(), 0.0
    for t in range(4):
        _, r, terminated, truncated, info = env.step(t % 2)
        total += r
    assert truncated and not terminated
    assert total == pytest.approx(info["fidelity"] - f0 - 0.04)


def test_random_target_is_seeded_and_normalised():
    a, b = target_state("random", 3, seed=7), target_state("random", 3, seed=7)
    assert np.allclose(a, b) and np.linalg.norm(a) == pytest.approx(1.0)
    assert not np.allclose(a, target_state("random", 3, seed=8))


@pytest.mark.parametrize("spec, message", [("Q0", "cannot read gate"), ("CNOT02", "qubits 0..1"),
                                           ("RY0(abc)", "check its angle")])
def test_bad_gates_are_refused_with_the_fix(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_gate(spec, 2)


def test_rotation_angles_read_pi_fractions():
    _, u = parse_gate("RY0(-pi/2)", 1)
    assert np.allclose(u, [[np.cos(-np.pi / 4), -np.sin(-np.pi / 4)], [np.sin(-np.pi / 4), np.cos(-np.pi / 4)]])


def test_registered_ids_make_through_gymnasium():
    env = gym.make("qrl.envs:qrl/QuantumControl-v0", n_qubits=2, target="bell")
    assert env.action_space.n == 5  # H0 H1 S0 S1 CNOT01
    lake = gym.make("qrl.envs:qrl/FrozenLakeBits-v0", is_slippery=False)
    obs, _ = lake.reset(seed=0)
    assert obs.tolist() == [0, 0, 0, 0]
    for a in [2, 2, 1, 1, 1]:
        obs, *_ = lake.step(a)
    assert obs.tolist() == [1, 1, 1, 0]  # state 14
    *_, info = lake.step(2)
    assert info["success"]


def test_binary_observation_needs_discrete_states():
    with pytest.raises(ValueError, match="Discrete observation space"):
        BinaryObservation(gym.make("CartPole-v1"))


@pytest.mark.learning
@pytest.mark.parametrize("config, model, lr", [
    ("configs/quantum_control_2q.yaml", {"type": "mlp", "hidden": [64]}, {"weights": 0.003}),
])
def test_dqn_agent_prepares_the_bell_state(tmp_path, config, model, lr):
    import yaml

    import qrl.models  # noqa: F401
    from classical.common.rundir import RunDir
    from classical.rl.dqn import Config, run

    spec = yaml.safe_load(open(config))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    spec.update(model=model, lr=lr, episodes=150, epsilon={"start": 1.0, "end": 0.02, "decay": 0.97}, seed=0)
    summary = run(Config(**spec), RunDir(tmp_path))
    assert summary["eval_success_mean"] == 1.0 and summary["eval_fidelity_mean"] > 0.95


@pytest.mark.learning
@pytest.mark.parametrize("seed", [1002, 1003])
def test_vqdqn_learns_the_one_qubit_plus_state(tmp_path, seed):
    import yaml

    import qrl.models  # noqa: F401
    from classical.common.rundir import RunDir
    from classical.rl.dqn import DQN, Config, run

    spec = yaml.safe_load(open("configs/quantum_control_1q.yaml"))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    cfg = Config(**{**spec, "seed": seed, "eval_episodes": 1})
    # Seeds outside the tuning seeds 0-9 whose untrained circuit applies S (no change) forever, so the
    # agent has to learn; the preset's fresh-seed rate (seeds 1000-1019) is in BENCHMARKS.md (issue 18).
    assert not DQN(cfg).evaluate(1)[0]["success"]
    summary = run(cfg, RunDir(tmp_path))
    assert summary["eval_success_mean"] == 1.0 and summary["eval_fidelity_mean"] > 0.95


@pytest.mark.learning
def test_circuit_agent_preset_prepares_the_bell_state(tmp_path):
    import yaml

    import qrl.models  # noqa: F401
    from classical.common.rundir import RunDir
    from classical.rl.dqn import DQN, Config, run

    spec = yaml.safe_load(open("configs/quantum_control_2q.yaml"))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    # Seed 1003 is outside the tuning seeds 0-9; its untrained circuit waits at |00> (fidelity 0.5). The
    # preset's fresh-seed rate over seeds 1000-1019 is in BENCHMARKS.md (issue 18).
    cfg = Config(**{**spec, "seed": 1003, "eval_episodes": 1})
    assert DQN(cfg).evaluate(1)[0]["fidelity"] == pytest.approx(0.5)
    summary = run(cfg, RunDir(tmp_path))
    assert summary["eval_success_mean"] == 1.0
    assert summary["eval_return_mean"] == pytest.approx(0.5 - 2 * 0.1, abs=1e-6)   # 0.5 -> 1.0 in 2 gates


@pytest.mark.learning
def test_circuit_agent_prepares_ghz_on_three_qubits(tmp_path):
    import yaml

    import qrl.models  # noqa: F401
    from classical.common.rundir import RunDir
    from classical.rl.dqn import Config, run

    spec = yaml.safe_load(open("configs/quantum_control_3q.yaml"))
    spec.pop("algo")
    spec.pop("solved", None)   # read by `qrl seeds`, not by the trainer
    # the preset's 150 episodes on seed 1016, one of the fresh seeds 1000-1019 on which its success rate was
    # measured (BENCHMARKS.md, issue 18: 16 of 20 reach GHZ greedily in the optimal 3 gates; the misses wait
    # at |000> with fidelity 0.5). 1016 was one of the quickest there.
    summary = run(Config(**{**spec, "seed": 1016, "eval_episodes": 1}), RunDir(tmp_path))
    assert summary["eval_fidelity_mean"] == pytest.approx(1.0, abs=1e-6)
    assert summary["eval_return_mean"] == pytest.approx(0.5 - 3 * 0.05, abs=1e-6)   # 0.5 -> 1.0 in 3 gates

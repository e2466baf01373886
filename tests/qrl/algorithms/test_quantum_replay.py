"""Quantum-inspired replay (Wei et al. 2021): amplitudes from Grover circuits, sampling = amplitudes²."""

import numpy as np
import pytest
from scipy import stats

import qrl.models  # noqa: F401  (registers replay type quantum)
from classical.common.buffers import build_buffer
from classical.rl import dqn
from qrl.algorithms.amplitude_estimation import BanditTask, good_probability
from qrl.algorithms.quantum_replay import QuantumReplayBuffer


def test_amplitudes_are_those_of_grover_circuits():
    buf = QuantumReplayBuffer(capacity=16, p0=0.02, depreciation=0.5)
    buf.add(x=np.arange(6.0))
    buf.update_priorities(np.arange(6), np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0]))
    buf.replays[5] = 3                                   # depreciation: floor(0.5 * 3) = 1 iteration less
    # a circuit with the base state RY(2θ0) on the "replay me" qubit, then m Grover iterations
    base = BanditTask(policy=[0.5, 0.5], rewards=[0.02, 0.02])
    m = buf.effective_iterations()
    assert buf.m_max == 5 and m.tolist() == [0, 0, 1, 2, 3, 4]
    expected = [good_probability(base, int(k), "default.qubit") for k in m]
    np.testing.assert_allclose(buf.amplitudes() ** 2, expected, atol=1e-9)


def test_sampling_distribution_equals_the_squared_amplitudes():
    buf = QuantumReplayBuffer(capacity=16, p0=0.02)
    buf.add(x=np.arange(8.0))
    buf.update_priorities(np.arange(8), np.arange(8.0))
    p = buf.probabilities()
    np.testing.assert_allclose(p, buf.amplitudes() ** 2 / np.sum(buf.amplitudes() ** 2))
    idx = buf.sample(20_000, np.random.default_rng(1235))["indices"].numpy()
    counts = np.bincount(idx, minlength=8)
    chi2 = stats.chisquare(counts, 20_000 * p)
    assert chi2.pvalue > 0.01
    assert buf.replays[:8].sum() == 20_000


def test_new_transitions_start_fully_amplified_and_replays_depreciate():
    buf = QuantumReplayBuffer(capacity=4, p0=0.01, depreciation=1.0)
    buf.add(x=np.arange(2.0))
    assert buf.effective_iterations().tolist() == [buf.m_max] * 2
    assert buf.amplitudes()[0] ** 2 > 0.99
    buf.replays[0] = 2
    assert buf.effective_iterations()[0] == buf.m_max - 2


def test_dqn_trains_with_each_replay_type(tmp_path):
    for replay in ({"type": "uniform"}, {"type": "prioritized"}, {"type": "quantum", "p0": 0.01}):
        cfg = dqn.Config(env_id="CartPole-v1", model={"type": "mlp", "hidden": [16]}, episodes=3, batch_size=8,
                         learning_starts=8, train_every=1, replay=replay, seed=1234)
        agent = dqn.DQN(cfg).learn(progress=False)
        assert agent.updates_done > 0
        assert type(agent.buffer).__name__ == {"uniform": "ReplayBuffer", "prioritized": "PrioritizedReplayBuffer",
                                               "quantum": "QuantumReplayBuffer"}[replay["type"]]
    assert isinstance(build_buffer({"type": "quantum"}, 4), QuantumReplayBuffer)


def test_n_step_needs_uniform_replay():
    with pytest.raises(ValueError, match="replay type 'quantum' samples single transitions; set n_step: 1"):
        dqn.Config(episodes=1, n_step=3, replay={"type": "quantum"})

"""Prioritized replay (Schaul et al. 2016): probabilities and importance weights by hand, and the config key."""

import numpy as np
import pytest

from classical.common.buffers import PrioritizedReplayBuffer, ReplayBuffer, build_buffer


def _filled(alpha=0.5, beta=0.4):
    buf = PrioritizedReplayBuffer(capacity=8, alpha=alpha, beta=beta, beta_steps=100, eps=0.0)
    buf.add(x=np.arange(4.0))
    buf.update_priorities(np.arange(4), np.array([1.0, -4.0, 9.0, 0.0]))
    return buf


def test_probabilities_and_weights_by_hand():
    buf = _filled()
    # p^alpha = [1, 2, 3, 0], sum 6
    np.testing.assert_allclose(buf.probabilities(), [1 / 6, 2 / 6, 3 / 6, 0.0])
    # w_i = (N P_i)^-beta / max_j w_j; the largest weight belongs to the smallest non-zero P = 1/6
    n, beta = 4, 0.4
    w = lambda p: (n * p) ** -beta
    np.testing.assert_allclose(buf.importance_weights(np.array([0, 1, 2])),
                               [1.0, w(2 / 6) / w(1 / 6), w(3 / 6) / w(1 / 6)], rtol=1e-6)


def test_beta_anneals_to_one_and_new_transitions_get_the_top_priority():
    buf = _filled()
    batch = buf.sample(50, np.random.default_rng(1234))
    assert buf.beta == pytest.approx(0.4 + 0.6 * 50 / 100)
    assert set(batch["indices"].tolist()) <= {0, 1, 2}           # priority 0 is never drawn
    assert batch["weights"].shape == (50,) and float(batch["weights"].max()) <= 1.0
    buf.add(x=np.array([7.0]))
    assert buf.priorities[4] == 9.0


def test_sampling_follows_the_probabilities():
    buf = _filled()
    idx = buf.sample(30_000, np.random.default_rng(1234))["indices"].numpy()
    freq = np.bincount(idx, minlength=4) / len(idx)
    np.testing.assert_allclose(freq, buf.probabilities(), atol=0.01)


def test_state_round_trip():
    buf = _filled()
    other = PrioritizedReplayBuffer(capacity=8, alpha=0.5, beta=0.4, beta_steps=100, eps=0.0)
    other.load_state_dict(buf.state_dict())
    np.testing.assert_allclose(other.probabilities(), buf.probabilities())


def test_build_buffer_from_a_config_mapping():
    assert type(build_buffer({"type": "uniform"}, 10)) is ReplayBuffer
    assert build_buffer({"type": "prioritized", "alpha": 0.7}, 10).alpha == 0.7
    with pytest.raises(ValueError, match=r"replay type 'sum_tree' is unknown; use one of"):
        build_buffer({"type": "sum_tree"}, 10)
    with pytest.raises(ValueError, match=r"^replay type 'prioritized' has no option 'alhpa'; its options are "
                                         r"alpha, beta, beta_steps, eps\.$"):
        build_buffer({"type": "prioritized", "alhpa": 0.7}, 10)
    with pytest.raises(ValueError, match=r"^replay type 'prioritized': option 'alpha' = -1 must be a number >= 0\.$"):
        build_buffer({"type": "prioritized", "alpha": -1}, 10)

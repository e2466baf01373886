"""Unit tests of the value-based learners' targets: n-step returns, hard target updates, standardised
n-step sums and targets clipped to the range the rewards allow."""

import numpy as np
import torch

from classical.marl.buffer import MultiAgentReplayBuffer
from classical.marl.envs import JointEnv, ParticleEnv
from classical.marl.loop import LoopSettings, train
from classical.marl.qmix import make_qmix


def filled_buffer(capacity, rewards, ends):
    """A buffer whose transition t has obs t, reward rewards[t] for both agents, and an episode end where ends[t]."""
    buf = MultiAgentReplayBuffer(capacity)
    for t, (r, end) in enumerate(zip(rewards, ends)):
        obs = np.full((2, 1), t, np.float32)
        buf.add_step(obs, np.zeros(1), np.array([0, 0]), np.array([r, r]), obs + 1, np.zeros(1), False, end)
    return buf


def starts(batch):
    return batch["obs"][:, 0, 0].long().tolist()


def test_n_step_returns_sum_discounted_rewards_and_stop_at_episode_ends():
    gamma = 0.5
    rewards = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    buf = filled_buffer(16, rewards, ends=[False, False, True, False, False, False])   # episodes 0-2 and 3-5
    batch = buf.sample_n_step(64, n=3, gamma=gamma, rng=np.random.default_rng(0))
    expected = {0: (1 + 0.5 * 2 + 0.25 * 4, 3, 3), 1: (2 + 0.5 * 4, 2, 3), 2: (4.0, 1, 3),
                3: (8 + 0.5 * 16 + 0.25 * 32, 3, 6), 4: (16 + 0.5 * 32, 2, 6), 5: (32.0, 1, 6)}
    assert set(starts(batch)) == set(expected)
    for row, t in enumerate(starts(batch)):
        ret, k, next_obs = expected[t]
        assert np.isclose(batch["rewards"][row, 0].item(), ret) and np.isclose(batch["rewards"][row, 1].item(), ret)
        assert np.isclose(batch["discount"][row].item(), gamma ** k)
        assert batch["next_obs"][row, 0, 0].item() == next_obs
    # transitions 4 and 5 were cut by the newest transition (an episode still running), not by an end
    assert batch["truncated"][np.array(starts(batch)) == 4].sum() == 0


def test_n_step_does_not_run_across_the_ring_buffer_write_position():
    buf = filled_buffer(4, [1.0] * 6, ends=[False] * 6)          # holds t = 2..5, slot order 4 5 2 3
    batch = buf.sample_n_step(64, n=3, gamma=1.0, rng=np.random.default_rng(0))
    for row, t in enumerate(starts(batch)):
        k = min(3, 6 - t)                                          # t = 5 is the newest transition
        assert batch["rewards"][row, 0].item() == k and batch["next_obs"][row, 0, 0].item() == t + k


def test_hard_target_updates_copy_only_every_k_updates():
    torch.manual_seed(0)
    env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
    learner = make_qmix(env, target_update_every=3, lr=1e-2)
    buf = MultiAgentReplayBuffer(100)
    obs, state = env.reset(seed=0)
    for _ in range(20):
        next_obs, next_state, rewards, term, trunc = env.step(np.array([1, 2]))
        buf.add_step(obs, state, np.array([1, 2]), rewards, next_obs, next_state, term, trunc)
        obs, state = env.reset(seed=1) if term or trunc else (next_obs, next_state)
    initial = [p.clone() for p in learner.target_mixer.parameters()]
    rng = np.random.default_rng(0)
    for n in range(1, 4):
        learner.update(buf.sample(8, rng))
        same = all(torch.equal(a, b) for a, b in zip(initial, learner.target_mixer.parameters()))
        assert same == (n < 3)
    assert all(torch.equal(a, b) for a, b in zip(learner.mixer.parameters(), learner.target_mixer.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(learner.q_net.parameters(), learner.target_q.parameters()))


def test_loop_trains_qmix_on_n_step_batches():
    torch.manual_seed(0)
    env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
    learner = make_qmix(env, n_step=3)
    out = train(env, learner, LoopSettings(episodes=4, warmup_steps=5, batch_size=4))
    assert learner.n_updates == 20 - 5 + 1 and np.all(np.isfinite(out["returns"]))



def test_standardised_n_step_sums_equal_sums_of_standardised_rewards():
    env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
    learner = make_qmix(env, standardize_rewards=True)
    learner.reward_stats.update(np.array([-3.0, -1.0]))                # mean -2, std 1
    gamma = learner.gamma
    rewards = [[-1.0, -0.5], [-2.0, -2.0], [-4.0, -1.0]]               # three steps, two agents
    team = [sum(r) for r in rewards]
    batch = {"rewards": torch.tensor([[sum(gamma ** j * rewards[j][i] for j in range(3)) for i in range(2)]]),
             "step_rewards": torch.tensor([[-2.0, -2.0]]),             # team reward -4: does not move the stats much
             "n_steps": torch.tensor([3.0])}
    got = learner._standardize(batch, batch["rewards"].sum(-1))
    stats = learner.reward_stats
    expected = sum(gamma ** j * (team[j] - stats.mean) / stats.std for j in range(3))
    assert np.isclose(got.item(), expected, atol=1e-5)


def test_clipped_targets_stay_in_the_range_the_rewards_allow():
    env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
    learner = make_qmix(env, clip_targets=True, gamma=0.5)
    batch = {"rewards": torch.tensor([[-1.0, -1.0], [-3.0, -2.0]])}   # team rewards -2 and -5
    clipped = learner._clip_to_reward_range(batch, torch.tensor([30.0, -40.0, -6.0]))
    assert clipped.tolist() == [-4.0, -10.0, -6.0]                     # [-5, -2] / (1 - 0.5)


def test_config_gives_value_learners_their_own_defaults_and_schedule():
    from classical.marl.train import Config, build_env, build_learner

    cfg = Config(algo_name="qmix", env_id="particle", env_kwargs={"n_agents": 2}, episodes=7000,
                 epsilon={"start": 1.0, "end": 0.05, "fraction": 1500 / 7000})
    qmix = build_learner(cfg, build_env(cfg))
    assert qmix.optimizer.param_groups[0]["lr"] == 5e-4 and qmix.n_step == 5 and qmix.clip_targets
    assert np.isclose(qmix.epsilon(1500 / 7000), 0.05) and np.isclose(qmix.epsilon(750 / 7000), 0.525)
    maddpg = build_learner(cfg.model_copy(update={"algo_name": "maddpg"}), build_env(cfg))
    assert maddpg.actor_opt.param_groups[0]["lr"] == 1e-3

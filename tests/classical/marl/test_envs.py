import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from classical.marl.envs import JointEnv, ParticleEnv, make_env, make_mpe


@pytest.mark.parametrize("mode", ["cooperative", "competitive", "mixed"])
@pytest.mark.parametrize("continuous", [False, True])
def test_particle_env_passes_the_parallel_api_test(mode, continuous):
    parallel_api_test(ParticleEnv(n_agents=3, mode=mode, continuous_actions=continuous), num_cycles=60)


def test_particle_rewards_by_mode():
    env = ParticleEnv(n_agents=2, mode="competitive", n_landmarks=1)
    env.reset(seed=0)
    env.pos = np.array([[0.0, 0.0], [3.0, 4.0]])
    env.vel[:] = 0
    env.landmarks = np.array([[0.0, 0.0]])
    _, rewards, *_ = env.step({"agent_0": 0, "agent_1": 0})
    assert rewards["agent_0"] == pytest.approx(5.0) and rewards["agent_1"] == pytest.approx(-5.0)

    env = ParticleEnv(n_agents=2, mode="cooperative", n_landmarks=2)
    env.reset(seed=0)
    env.pos, env.landmarks = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    env.vel[:] = 0
    _, rewards, *_ = env.step({"agent_0": 0, "agent_1": 0})
    assert rewards["agent_0"] == rewards["agent_1"] == pytest.approx(-1.0)


def test_particle_dynamics_have_friction():
    env = ParticleEnv(n_agents=1, friction=0.25, dt=0.1, accel=5.0)
    env.reset(seed=0)
    env.step({"agent_0": 2})                       # push +x once
    v1 = env.vel[0, 0]
    env.step({"agent_0": 0})                       # coast
    assert v1 == pytest.approx(0.5) and env.vel[0, 0] == pytest.approx(0.375)


def test_particle_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        ParticleEnv(mode="friendly")


def test_joint_env_pads_speaker_listener_and_masks_actions():
    env = make_env("simple_speaker_listener")
    obs, state = env.reset(seed=0)
    assert obs.shape == (2, 11) and np.all(obs[0, 3:] == 0)
    assert env.action_mask.sum(1).tolist() == [3, 5]
    steps, done = 0, False
    while not done:
        obs, state, rewards, terminated, truncated = env.step(np.zeros(2, dtype=int))
        done, steps = terminated or truncated, steps + 1
    assert steps == 25 and not terminated


def test_mpe_helpers_build_the_three_tasks():
    assert make_mpe("simple_spread", N=3).action_space("agent_0").n == 5
    assert make_mpe("simple_reference").action_space("agent_0").n == 50
    assert make_mpe("simple_spread", continuous_actions=True).action_space("agent_0").shape == (5,)


def test_joint_env_maps_continuous_actions_from_minus_one_one_onto_the_bounds():
    env = JointEnv(make_mpe("simple_spread", N=3, max_cycles=5, continuous_actions=True))
    assert env.continuous and env.action_dim == 5 and env.action_mask.all()
    assert env._action(0, np.array([-1.0, 1.0, 0.0, 3.0, -3.0])).tolist() == [0.0, 1.0, 0.5, 1.0, 0.0]
    env.reset(seed=0)
    obs, state, rewards, terminated, truncated = env.step(np.zeros((3, 5)))
    assert obs.shape == (3, 18) and rewards.shape == (3,)
    particle = JointEnv(ParticleEnv(n_agents=2, continuous_actions=True))
    assert particle._action(1, np.array([0.25, -0.5])).tolist() == [0.25, -0.5]

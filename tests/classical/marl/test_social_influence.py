"""Social influence: the reward equals the KL worked out by hand, the observation carries the actions, the
counterfactual credit matches the simulator, and the agent round-trips and learns."""

import copy
import math

import numpy as np
import pytest
import torch

from classical.common.rundir import RunDir
from classical.marl.baselines import RandomPolicy
from classical.marl.envs import ParticleEnv, make_joint_env
from classical.marl.loop import EVAL_SEED_BASE, evaluate
from classical.marl.social_influence import (Config, PreviousActionsEnv, SocialInfluenceMAPPO, counterfactual_credit,
                                             influence_rewards, load_agent, make_influence_env, run)

# Agent 1's next policy copies agent 0's last action (a table); agent 0 ignores agent 1; agent 2 reacts to both.
POLICY_0 = [0.3, 0.7]
TABLE_1 = [[0.9, 0.1], [0.2, 0.8]]


def table_policy(obs):
    """Observation of every agent: [onehot(a_0), onehot(a_1)] of the previous step."""
    b = len(obs)
    p0 = torch.tensor(POLICY_0).expand(b, 2)
    p1 = obs[:, 1, :2] @ torch.tensor(TABLE_1)
    p2 = 0.5 * (obs[:, 2, :2] @ torch.tensor(TABLE_1) + obs[:, 2, 2:4] @ torch.tensor(TABLE_1[::-1]))
    return torch.stack([p0, p1, p2], dim=1)


def test_influence_reward_equals_the_kl_worked_out_by_hand():
    onehot = {0: [1.0, 0.0], 1: [0.0, 1.0]}
    # at t agent 0 took action 1 and agent 1 action 0: every next observation is [0, 1, 1, 0]
    next_obs = torch.tensor([[onehot[1] + onehot[0]] * 3])
    obs = next_obs.clone()                                    # at t they had seen the same: π_1(t) = [.2, .8]
    c = influence_rewards(table_policy, obs, next_obs, torch.ones(1), [slice(0, 2), slice(2, 4)])
    # agent 0 on agent 1: p(a_1 | a_0 = 1) = [.2, .8]; marginal .3 [.9, .1] + .7 [.2, .8] = [.41, .59]
    on_1 = 0.2 * math.log(0.2 / 0.41) + 0.8 * math.log(0.8 / 0.59)
    # agent 0 on agent 2: p(a_2 | a_0 = 1, a_1 = 0) = (.5 [.2, .8] + .5 [.2, .8]) = [.2, .8];
    # marginal over a_0: .5 (.3 [.9, .1] + .7 [.2, .8]) + .5 [.2, .8] = [.305, .695]
    on_2 = 0.2 * math.log(0.2 / 0.305) + 0.8 * math.log(0.8 / 0.695)
    assert float(c[0, 0]) == pytest.approx(on_1 + on_2, abs=1e-6)
    # agent 1 moves only agent 2: [.2, .8] vs .5 [.2, .8] + .5 (.2 [.2, .8] + .8 [.9, .1]) = [.48, .52];
    # agent 0 ignores it
    assert float(c[0, 1]) == pytest.approx(0.2 * math.log(0.2 / 0.48) + 0.8 * math.log(0.8 / 0.52), abs=1e-6)
    assert float(c[0, 2]) == 0.0                                   # agent 2's action is in nobody's observation
    assert float(influence_rewards(table_policy, obs, next_obs, torch.zeros(1), [slice(0, 2), slice(2, 4)]).sum()) \
        == 0.0                                                       # an episode's last step has no next policy


def test_influence_through_the_actor_matches_a_loop_over_counterfactual_actions():
    torch.manual_seed(0)
    agent = SocialInfluenceMAPPO(Config(env_kwargs={"n_agents": 3, "max_steps": 4}))
    env = agent.env
    obs, _ = env.reset(seed=1)
    rows = [obs]
    for a in ([1, 2, 3], [4, 0, 2], [3, 3, 1]):
        obs, *_ = env.step(np.array(a))
        rows.append(obs)
    seq = torch.as_tensor(np.stack(rows))
    c = influence_rewards(agent.probs, seq[:-1], seq[1:], torch.ones(3), agent.blocks)
    for t in range(3):
        pi_now = agent.probs(seq[t][None])[0]
        for k in range(3):
            expected = 0.0
            actual = agent.probs(seq[t + 1][None])[0]
            mixtures = torch.zeros(3, 5)
            for alt in range(5):
                cf = seq[t + 1].clone()
                cf[:, agent.blocks[k]] = torch.eye(5)[alt]
                mixtures += pi_now[k, alt] * agent.probs(cf[None])[0]
            for j in range(3):
                if j != k:
                    expected += float((actual[j] * (actual[j] / mixtures[j]).log()).sum().detach())
            assert float(c[t, k]) == pytest.approx(expected, rel=1e-3, abs=2e-6)
    assert float(c.sum()) > 0.0


def test_observations_end_with_the_previous_joint_action():
    env = make_influence_env("particle", {"n_agents": 2, "max_steps": 3})
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 20) and env.obs_dim == 20 and not obs[:, 10:].any()
    obs, *_ = env.step(np.array([2, 4]))
    np.testing.assert_array_equal(obs[:, 10:], np.tile(np.eye(5)[[2, 4]].ravel(), (2, 1)))
    obs, _ = env.reset(seed=1)
    assert not obs[:, 10:].any()
    with pytest.raises(ValueError, match="social influence marginalises over an agent's discrete actions"):
        PreviousActionsEnv(ParticleEnv(n_agents=2, continuous_actions=True))


def test_counterfactual_credit_is_the_reward_minus_its_policy_average():
    torch.manual_seed(0)
    agent = SocialInfluenceMAPPO(Config(env_kwargs={"n_agents": 2, "max_steps": 1}))
    env = agent.env
    credit = counterfactual_credit(env, agent, episodes=1, seed=0)
    obs, _ = env.reset(seed=EVAL_SEED_BASE)
    pi = agent.probs(torch.as_tensor(obs)[None])[0].detach().numpy()
    greedy = pi.argmax(-1)

    def team_reward(joint):
        sim = copy.deepcopy(env)
        return float(sim.step(np.array(joint))[2].sum())

    for k in range(2):
        average = sum(pi[k, a] * team_reward([a if i == k else greedy[i] for i in range(2)]) for a in range(5))
        assert credit[k] == pytest.approx(team_reward(greedy) - average, abs=1e-6)   # env rewards are float32


def test_predict_carries_the_previous_action_and_the_agent_round_trips(tmp_path):
    agent = SocialInfluenceMAPPO(Config(env_kwargs={"n_agents": 2, "max_steps": 5}))
    raw = ParticleEnv(n_agents=2, max_steps=5)
    obs, _ = raw.reset(seed=0)
    actions, state = agent.predict(obs)
    assert sorted(actions) == ["agent_0", "agent_1"] and state.tolist() == [actions["agent_0"], actions["agent_1"]]
    again, _ = agent.predict(obs, state=np.array([4, 4]))
    agent.save(tmp_path / "influence.pt")
    loaded = SocialInfluenceMAPPO.load(tmp_path / "influence.pt")
    assert loaded.predict(obs, state=np.array([4, 4]))[0] == again and loaded.cfg == agent.cfg


def test_run_reports_influence_and_credit_per_agent_and_loads_from_its_folder(tmp_path):
    from qrl.training import train_from_config

    config = {"algo": "classical.marl.social_influence", "env_kwargs": {"n_agents": 2, "max_steps": 5},
              "episodes": 8, "episodes_per_update": 4, "eval_episodes": 2, "credit_episodes": 2}
    summary = train_from_config(config, out=tmp_path / "run")
    assert summary["episodes"] == 8 and summary["env_steps"] == 40
    assert summary["influence_agent_0"] > 0 and summary["influence_agent_1"] > 0
    assert {"credit_agent_0", "credit_agent_1"} <= set(summary)
    agent = load_agent(tmp_path / "run")
    obs = ParticleEnv(n_agents=2, max_steps=5).reset(seed=3)[0]
    trained = SocialInfluenceMAPPO(Config(**config_without_algo(config)))
    trained.load_state_dict(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["learner"])
    assert agent.predict(obs, state=np.array([1, 2]))[0] == trained.predict(obs, state=np.array([1, 2]))[0]


def config_without_algo(config):
    return {k: v for k, v in config.items() if k != "algo"}


@pytest.mark.learning
def test_influence_learner_beats_random_on_position_control_particles(tmp_path):
    kw = {"n_agents": 2, "mode": "cooperative", "max_steps": 5, "friction": 1.0, "accel": 20.0}
    cfg = Config(env_kwargs=kw, episodes=300, eval_episodes=50, seed=11, gamma=0.9, lr={"default": 3e-3},
                 episodes_per_update=8, minibatches=2, ent_coef=0.0, influence_weight=0.1, credit_episodes=0)
    summary = run(cfg, RunDir(tmp_path))
    env = make_joint_env("particle", kw)
    random = np.mean([r["return"] for r in evaluate(env, RandomPolicy(env), 50, seed=11)])
    assert summary["eval_return_mean"] >= random + 1.5, (summary["eval_return_mean"], random)

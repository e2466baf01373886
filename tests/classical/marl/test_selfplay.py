import csv

import numpy as np
import pytest

from classical.common.rundir import RunDir
from classical.marl import selfplay
from classical.marl.envs import make_joint_env

TINY = dict(env_kwargs={"n_agents": 2, "mode": "competitive", "max_steps": 5}, iterations=2, oracle_episodes=4,
            episodes_per_update=2, meta_episodes=2, eval_episodes=4, curve_eval_episodes=2)


def test_psro_self_play_grows_both_populations_and_solves_the_meta_game(tmp_path):
    summary = selfplay.run(selfplay.Config(**TINY), RunDir(tmp_path))
    assert summary["population"] == 3 and summary["episodes"] == 16 and summary["env_steps"] == 80
    payoff = np.array(summary["meta_payoff"])
    x, y = np.array(summary["meta_strategy_0"]), np.array(summary["meta_strategy_1"])
    assert payoff.shape == (3, 3) and x.sum() == pytest.approx(1) and y.sum() == pytest.approx(1)
    assert (payoff @ y).max() - (x @ payoff).min() <= 1e-3    # they solve the meta-game (summary rounds to 1e-4)
    assert len(summary["nash_conv"]) == 2 and min(summary["nash_conv"]) >= 0
    for name in ("metrics.csv", "eval.csv", "psro.csv"):
        assert (tmp_path / name).exists(), name
    with open(tmp_path / "psro.csv") as f:
        curve = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in curve] == [1, 2]
    assert 0 <= float(curve[-1]["player0_vs_scripted_win_rate"]) <= 1
    for opponent in ("random", "scripted", "first"):
        for me in (0, 1):
            low, high = summary[f"player{me}_vs_{opponent}_win_rate_ci"]
            assert low <= summary[f"player{me}_vs_{opponent}_win_rate"] <= high


def test_players_are_teams_or_the_two_agents():
    assert selfplay.player_agents(make_joint_env("simple_adversary", {"max_cycles": 5})) == [[0], [1, 2]]
    assert selfplay.player_agents(make_joint_env("simple_tag", {"max_cycles": 5})) == [[0, 1, 2], [3]]
    assert selfplay.player_agents(make_joint_env("particle", {"n_agents": 2, "mode": "competitive"})) == [[0], [1]]
    with pytest.raises(ValueError, match="self-play needs two players"):
        selfplay.player_agents(make_joint_env("particle", {"n_agents": 3, "mode": "competitive"}))


@pytest.mark.parametrize("task, teams", [("simple_adversary", ("adversary", "agent")),
                                         ("simple_tag", ("adversary", "agent"))])
def test_team_tasks_run_one_iteration_with_per_team_returns(tmp_path, task, teams):
    cfg = selfplay.Config(**{**TINY, "env_id": task, "env_kwargs": {"max_cycles": 5}, "iterations": 1})
    summary = selfplay.run(cfg, RunDir(tmp_path))
    assert summary["population"] == 2
    for me in (0, 1):
        for opponent in ("random", "first", "scripted"):
            low, high = summary[f"player{me}_vs_{opponent}_win_rate_ci"]
            assert low <= summary[f"player{me}_vs_{opponent}_win_rate"] <= high
            assert 0 <= summary[f"player{me}_vs_{opponent}_reference_win_rate"] <= 1
            for team in teams:
                assert f"player{me}_vs_{opponent}_team_return_{team}" in summary
    if task == "simple_tag":    # the predators' team return is 10 per contact per predator: never negative
        assert summary["player1_vs_random_team_return_adversary"] >= 0


def test_winners_follow_each_tasks_criterion():
    tag, adv = [[0, 1, 2], [3]], [[0], [1, 2]]
    assert selfplay.winner("simple_tag", tag, np.array([10.0, 10.0, 10.0, -10.0])) == 0      # one catch
    assert selfplay.winner("simple_tag", tag, np.array([0.0, 0.0, 0.0, -3.0])) == 1          # out of bounds only
    assert selfplay.winner("simple_adversary", adv, np.array([-20.0, 4.0, 4.0])) == 1        # good nearer the target
    assert selfplay.winner("simple_adversary", adv, np.array([-5.0, -2.0, -2.0])) == 0
    assert selfplay.winner("particle", [[0], [1]], np.array([1.5, -1.5])) == 0
    assert selfplay.winner("particle", [[0], [1]], np.array([0.0, 0.0])) is None


@pytest.mark.parametrize("task", ["simple_tag", "simple_adversary"])
def test_the_scripted_teams_beat_random_teams_on_both_sides(task):
    # 60 layouts, seeds 0-59: a scripted team wins most episodes against a uniformly random one, in either seat.
    env = make_joint_env(task, {"max_cycles": 25})
    players = selfplay.player_agents(env)
    for me in (0, 1):
        pair = [selfplay.RandomOpponent(players[1 - me], env.n_actions)]
        pair.insert(me, selfplay.scripted_team(env, task, players[me]))
        wins = [selfplay.play(env, players, pair, seed=k, explore=False, env_id=task)["winner"] == me
                for k in range(60)]
        assert np.mean(wins) >= 0.6, (task, me, np.mean(wins))


def test_the_scripted_adversary_team_estimates_its_velocity_from_the_landmarks():
    # simple_adversary's observations carry no velocity: the controller's estimate must match mpe2's state.
    env = make_joint_env("simple_adversary", {"max_cycles": 25})
    team = selfplay.scripted_team(env, "simple_adversary", [0, 1, 2])
    obs, _ = env.reset(seed=3)
    team.reset()
    world = env.env.unwrapped.world
    for _ in range(6):
        actions = team.act(obs, False, None)
        obs, *_ = env.step(np.array([actions[i] for i in range(3)]))
        for i in range(3):
            landmarks = obs[i, : 4].reshape(-1, 2) if i == 0 else obs[i, 2: 6].reshape(-1, 2)
            assert np.allclose(team._velocity(i, landmarks), world.agents[i].state.p_vel, atol=1e-5)


def test_the_scripted_opponent_beats_a_random_one():
    # The reference opponent is strong: steering to the nearest landmark wins the zero-sum particle game.
    env = make_joint_env("particle", {"n_agents": 2, "mode": "competitive", "max_steps": 10})
    players = [[0], [1]]
    scripted = selfplay.ScriptedOpponent([0], env.n_actions, n_landmarks=2)
    rand = selfplay.RandomOpponent([1], env.n_actions)
    payoffs = [selfplay.play(env, players, (scripted, rand), seed=k)["payoff"] for k in range(40)]
    assert np.mean(np.array(payoffs) > 0) >= 0.8 and np.mean(payoffs) > 1.0

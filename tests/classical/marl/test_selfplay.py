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


def test_team_tasks_run_one_iteration(tmp_path):
    cfg = selfplay.Config(**{**TINY, "env_id": "simple_adversary", "env_kwargs": {"max_cycles": 5},
                             "iterations": 1})
    summary = selfplay.run(cfg, RunDir(tmp_path))
    assert summary["population"] == 2 and "player0_vs_scripted_win_rate" not in summary


def test_the_scripted_opponent_beats_a_random_one():
    # The reference opponent is strong: steering to the nearest landmark wins the zero-sum particle game.
    env = make_joint_env("particle", {"n_agents": 2, "mode": "competitive", "max_steps": 10})
    players = [[0], [1]]
    scripted = selfplay.ScriptedOpponent([0], env.n_actions, n_landmarks=2)
    rand = selfplay.RandomOpponent([1], env.n_actions)
    payoffs = [selfplay.play(env, players, (scripted, rand), seed=k)["payoff"] for k in range(40)]
    assert np.mean(np.array(payoffs) > 0) >= 0.8 and np.mean(payoffs) > 1.0

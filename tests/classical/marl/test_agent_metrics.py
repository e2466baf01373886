import csv

import numpy as np
import pytest

from classical.common.rundir import RunDir
from classical.marl import train
from classical.marl.envs import JointEnv, ParticleEnv
from classical.marl.loop import evaluate
from classical.marl.metrics import agent_returns, team_of


def competitive_config(**kw):
    env_kwargs = {"mode": "competitive", "n_agents": 3, "max_cycles": 10}
    return train.Config(**{"env_id": "particle", "env_kwargs": env_kwargs, "episodes": 4, "warmup_steps": 10,
                           "batch_size": 8, "eval_episodes": 4, "algo_name": "maddpg", **kw})


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_a_zero_sum_run_reports_per_agent_returns_that_sum_to_zero(tmp_path):
    summary = train.run(competitive_config(), RunDir(tmp_path))
    agents = [f"agent_{i}" for i in range(3)]
    for rows in (read(tmp_path / "metrics.csv"), read(tmp_path / "eval.csv")):
        for row in rows:
            per_agent = np.array([float(row[f"return_{a}"]) for a in agents])
            assert np.abs(per_agent).max() > 1e-3                     # not the all-zero team sum
            assert per_agent.sum() == pytest.approx(0.0, abs=1e-4)
            assert float(row["return"]) == pytest.approx(0.0, abs=1e-4)
            wins = [float(row[f"win_{a}"]) for a in agents]
            assert sum(wins) == 1.0 and wins[int(per_agent.argmax())] == 1.0
    means = [summary[f"eval_return_{a}_mean"] for a in agents]
    assert max(abs(m) for m in means) > 1e-3 and sum(means) == pytest.approx(0.0, abs=1e-4)
    assert sum(summary[f"win_rate_{a}"] for a in agents) == pytest.approx(1.0)


def test_cooperative_runs_have_per_agent_columns_and_no_wins():
    env = JointEnv(ParticleEnv(n_agents=2, mode="mixed", max_steps=5))
    from classical.marl.baselines import RandomPolicy
    rows = evaluate(env, RandomPolicy(env), episodes=3)
    for row in rows:
        assert row["return"] == pytest.approx(row["return_agent_0"] + row["return_agent_1"], abs=1e-4)
        assert not any(k.startswith(("win_", "team_")) for k in row)


def test_teams_are_named_by_the_agent_name_prefix():
    assert [team_of(a) for a in ("adversary_0", "agent_1", "leadadversary_0", "speaker")] == \
        ["adversary", "agent", "leadadversary", "speaker"]
    row = agent_returns(np.array([3.0, -1.0, -2.0]), ["adversary_0", "agent_0", "agent_1"])
    assert row["team_return_adversary"] == 3.0 and row["team_return_agent"] == -3.0
    tie = agent_returns(np.array([1.0, 1.0, -2.0]), ["agent_0", "agent_1", "agent_2"], zero_sum=True)
    assert [tie[f"win_agent_{i}"] for i in range(3)] == [0.0, 0.0, 0.0]

"""The causal-RL environment, discovery of the reward's parents, and the shift experiment."""

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch

from classical.causal.agent import collect_discovery_data, discover_reward_parents
from classical.causal.env import ENV_ID, FEATURES, CausalShiftEnv
from classical.causal.train import Config, run
from classical.common.config import load_yaml, validate
from classical.common.rundir import RunDir


def test_env_shift_flips_only_the_spurious_feature():
    def corr_s_y(shift):
        env = CausalShiftEnv(shift=shift, horizon=400)
        obs, info = env.reset(seed=1)
        s, y = [], []
        for _ in range(400):
            s.append(obs[3])
            y.append(info["y"])
            obs, _, _, _, info = env.step(0)
        return np.corrcoef(s, y)[0, 1]

    assert corr_s_y(False) > 0.9 and corr_s_y(True) < -0.9
    a = CausalShiftEnv(shift=False).reset(seed=3)[0]
    b = CausalShiftEnv(shift=True).reset(seed=3)[0]
    assert np.array_equal(a[:3], b[:3]) and a[3] != b[3]


def test_env_via_gym_make_and_feature_selection():
    env = gym.make(ENV_ID, features=["c1", "c2"], horizon=5)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2,)
    steps = 0
    done = False
    while not done:
        obs, r, term, trunc, _ = env.step(1)
        assert r in (-1.0, 1.0)
        steps += 1
        done = term or trunc
    assert steps == 5
    with pytest.raises(ValueError, match="unknown feature"):
        CausalShiftEnv(features=["colour"])


def test_pc_finds_causal_parents_not_the_spurious_effect():
    data, names = collect_discovery_data(episodes=20, seed=4)
    assert names == [*FEATURES, "signed_reward"]
    assert [names[i] for i in discover_reward_parents(data, "pc")] == ["c1", "c2"]


def test_preset_validates():
    data = load_yaml("configs/causal_shift_pg.yaml")
    assert data.pop("algo") == "classical.causal.train"
    cfg = validate(Config, data, "configs/causal_shift_pg.yaml")
    assert cfg.features == "causal"


@pytest.mark.learning
def test_causal_policy_keeps_return_after_shift_and_all_features_policy_loses_it(tmp_path):
    torch.set_num_threads(1)
    results = {}
    for features in ("causal", "all"):
        run_dir = RunDir(tmp_path / features)
        cfg = Config(features=features, seed=0, episodes=200, eval_episodes=10)
        results[features] = run(cfg, run_dir)
        for name in ("metrics.csv", "checkpoint.pt", "curve.png", "eval.csv", "discovery.yaml"):
            assert (run_dir.path / name).exists(), name
        with open(run_dir.path / "eval.csv") as f:
            rows = list(csv.DictReader(f))
        assert {"episode", "return", "shifted"} <= set(rows[0])
        assert len(rows) == 20
    causal, full = results["causal"], results["all"]
    assert causal["features"] == ["c1", "c2"]
    # before the shift, reading the spurious feature pays (it leaks the outcome) ...
    assert full["eval_return_mean"] > causal["eval_return_mean"] > 30
    # ... after it, only the causal policy keeps its return (max 50, chance 0)
    assert causal["eval_return_shifted_mean"] > 30
    assert full["eval_return_shifted_mean"] < causal["eval_return_shifted_mean"] - 20

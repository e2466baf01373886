"""The agent contract (classical/rl/base.py) over every loadable algorithm, as SB3's tests/test_run.py:
build from a tiny config, learn a few steps, predict, save, and load in a fresh interpreter
(``qrl.load(run_dir)`` and ``Class.load(path)``) predicting the same actions."""

import json
import subprocess
import sys

import numpy as np
import pytest

import qrl

TINY_MLP = {"type": "mlp", "hidden": [8]}
CASES = {
    "reinforce_mlp": {"algo": "classical.rl.reinforce", "model": TINY_MLP, "batch_episodes": 2, "episodes": 4},
    "reinforce_vqc": {"algo": "classical.rl.reinforce", "model": {"type": "vqc", "n_layers": 1},
                      "lr": {"default": 0.05}, "batch_episodes": 2, "episodes": 2},
    "dqn_mlp": {"algo": "classical.rl.dqn", "model": TINY_MLP, "episodes": 3, "batch_size": 4, "learning_starts": 4},
    "ppo_discrete": {"algo": "classical.rl.ppo", "actor": TINY_MLP, "critic": TINY_MLP, "n_envs": 2, "n_steps": 8,
                     "minibatch_size": 8, "epochs": 1, "total_env_steps": 32},
    "ppo_gaussian": {"algo": "classical.rl.ppo", "env_id": "Pendulum-v1", "actor": TINY_MLP, "critic": TINY_MLP,
                     "n_envs": 1, "n_steps": 16, "minibatch_size": 16, "epochs": 1, "total_env_steps": 32},
    "causal_pg": {"algo": "classical.causal.train", "episodes": 10, "discovery_episodes": 10},
}
OBS = {"Pendulum-v1": np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]])}

FRESH = """
import json, sys
import numpy as np
import qrl
run_dir, saved, obs = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]))
agent = qrl.load(run_dir)
again = type(agent).load(saved)
print(json.dumps([np.asarray(agent.predict(obs)[0]).tolist(), np.asarray(again.predict(obs)[0]).tolist()]))
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_learn_predict_save_and_load_in_a_fresh_interpreter(name, tmp_path):
    config = dict(CASES[name], eval_episodes=1, env_kwargs=CASES[name].get("env_kwargs", {}))
    if config["algo"] != "classical.causal.train":
        config["env_kwargs"] = {"max_episode_steps": 10, **config["env_kwargs"]}
    else:
        config.pop("env_kwargs")
    summary = qrl.train_from_config(config, out=tmp_path / "run")
    assert {"episodes", "env_steps", "eval_return_mean", "n_params"} <= set(summary)
    agent = qrl.load(tmp_path / "run")
    env_id = config.get("env_id", "CartPole-v1")
    obs = OBS.get(env_id, np.random.default_rng(0).normal(size=(3, agent.obs_dim)))
    action, state = agent.predict(obs)                       # greedy by default, no recurrent state
    assert state is None and len(action) == len(obs)
    single, _ = agent.predict(obs[0])                        # one observation gives one action
    assert np.shape(single) == np.shape(action[0]) and np.all(single == action[0])
    agent.save(tmp_path / "agent.pt")
    out = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "run"), str(tmp_path / "agent.pt"),
                          json.dumps(obs.tolist())], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    from_run, from_file = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(from_run, np.asarray(action, dtype=float), rtol=1e-6)
    np.testing.assert_allclose(from_file, np.asarray(action, dtype=float), rtol=1e-6)


def test_a_run_without_an_agent_says_so(tmp_path):
    with pytest.raises(ValueError, match="not a trained run directory"):
        qrl.load(tmp_path)


def test_quantum_environments_exist_after_import_qrl_in_a_fresh_interpreter():
    code = "import gymnasium as gym, qrl; print(gym.make('qrl/FrozenLakeBits-v0').observation_space.shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("(4,)")

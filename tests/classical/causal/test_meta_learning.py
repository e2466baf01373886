"""Causal meta-learning: the quiz task against closed forms, and interventions beating observation."""

import numpy as np
import pytest
import torch

from classical.causal.meta_learning import CausalQuiz, Config, MetaAgent, evaluate, run
from classical.common.rundir import RunDir


def test_graphs_are_dags_and_samples_follow_the_structural_equations():
    task = CausalQuiz(n_nodes=5, noise_std=1e-9, generator=torch.Generator().manual_seed(0))
    task.reset(batch=64)
    w = task.weights
    assert torch.all(torch.linalg.matrix_power(w.abs(), 5) == 0)      # nilpotent: acyclic
    assert set(w.unique().tolist()) <= {-1.0, 0.0, 1.0}
    for node in range(5):
        x = task.sample(torch.full((64,), node))
        assert torch.allclose(x[:, node], torch.full((64,), 5.0))
        # noiseless: every node is 5 × (total effect of the intervened node on it)
        expect = 5 * task.total_effects()[:, node, :]
        expect[:, node] = 5.0
        assert torch.allclose(x, expect, atol=1e-5)


def test_quiz_reward_is_the_total_effect_of_the_choice_on_the_target():
    task = CausalQuiz(n_nodes=4, info_steps=1, noise_std=1e-9, generator=torch.Generator().manual_seed(1))
    task.reset(batch=32)
    task.step(torch.zeros(32, dtype=torch.long))
    choice = (task.target + 1) % 4
    _, reward, done = task.step(choice)
    effects = task.total_effects()[torch.arange(32), choice, task.target]
    assert done and torch.allclose(reward, effects, atol=1e-6)


def test_observational_information_ignores_the_chosen_node():
    task = CausalQuiz(n_nodes=4, observational=True, generator=torch.Generator().manual_seed(2))
    task.reset(batch=8)
    obs, reward, done = task.step(torch.zeros(8, dtype=torch.long))
    assert not done and torch.all(reward == 0) and torch.all(obs[:, 4:8] == 0)   # no intervention one-hot


def test_the_target_is_never_a_quiz_answer_and_save_load_round_trips(tmp_path):
    cfg = Config(env_kwargs={"n_nodes": 4, "info_steps": 2}, head_inputs=8, core_hidden=8)
    agent = MetaAgent(cfg)
    obs = torch.zeros(6, 14)
    obs[:, 12] = 1.0                                   # quiz phase
    obs[torch.arange(6), 8 + torch.arange(6) % 4] = 1  # targets 0,1,2,3,0,1
    for _ in range(5):
        action, _ = agent.predict(obs, deterministic=False)
        assert np.all(action != np.arange(6) % 4)
    agent.save(tmp_path / "meta.pt")
    again = MetaAgent.load(tmp_path / "meta.pt")
    for a, b in zip(agent.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_unknown_task_setting_is_refused():
    with pytest.raises(ValueError, match=r"unknown CausalQuiz setting\(s\) \['nodes'\]"):
        Config(env_kwargs={"nodes": 4})


def test_untrained_agent_is_near_random_and_oracle_is_above():
    cfg = Config(env_kwargs={"n_nodes": 4, "info_steps": 3})
    result = evaluate(MetaAgent(cfg), cfg, 2000, seed=5)
    assert result["oracle"] > result["random"] + 0.3
    assert result["optimal_rate"] <= 1.0


@pytest.mark.learning
def test_meta_learner_beats_the_no_intervention_agent(tmp_path):
    out = {}
    for observational in (False, True):
        cfg = Config(env_kwargs={"n_nodes": 4, "info_steps": 3, "observational": observational},
                     batch_episodes=128, episodes=128 * 400, eval_episodes=2000, seed=123)
        out[observational] = run(cfg, RunDir(tmp_path / str(observational)))
    interventional, passive = out[False], out[True]
    assert interventional["eval_return_mean"] > passive["eval_return_mean"] + 0.1
    assert interventional["eval_return_mean"] > 0.6 * interventional["oracle_return_mean"]

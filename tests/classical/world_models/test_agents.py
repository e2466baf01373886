import csv

import numpy as np
import pytest
import torch

from classical.common.rundir import RunDir
from classical.world_models import dreamer, i2a
from classical.world_models.dreamer import lambda_returns
from classical.world_models.envs import FOUR_D_ID, fixed_policy_return


def test_lambda_returns_match_their_recursive_definition():
    g = torch.Generator().manual_seed(0)
    r, v, d = torch.randn(4, 2, generator=g), torch.randn(5, 2, generator=g), torch.rand(4, 2, generator=g)
    lam = 0.7
    out = lambda_returns(r, v, d, lam)
    expected = v[-1]
    for t in reversed(range(4)):
        expected = r[t] + d[t] * ((1 - lam) * v[t + 1] + lam * expected)
        torch.testing.assert_close(out[t], expected)
    # λ = 0 is the one-step TD target
    torch.testing.assert_close(lambda_returns(r, v, d, 0.0), r + d * v[1:])


def read_eval(path):
    with open(path / "eval.csv") as f:
        return [float(r["return"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("actor_input", ["latent", "obs"])
def test_dreamer_trains_end_to_end(tmp_path, actor_input):
    cfg = dreamer.Config(total_env_steps=120, prefill_steps=60, train_every=30, updates_per_round=2,
                         batch_size=4, seq_len=8, imag_horizon=4, deter_dim=16, stoch_dim=4, width=16,
                         actor={"type": "mlp", "hidden": [16]}, actor_input=actor_input, eval_episodes=2)
    run = RunDir(tmp_path)
    summary = dreamer.run(cfg, run)
    assert summary["env_steps"] == 120
    rows = run.read_metrics()
    assert np.isfinite(float(rows[-1]["wm_loss"])) and float(rows[-1]["kl"]) >= 0
    assert len(read_eval(tmp_path)) == 2 and np.isfinite(read_eval(tmp_path)).all()


def test_dreamer_actor_gradient_reaches_through_imagined_dynamics():
    cfg = dreamer.Config(deter_dim=16, stoch_dim=4, width=16, imag_horizon=3, actor={"type": "mlp", "hidden": [8]})
    agent = dreamer.build_agent(cfg, 4, 2, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    post, _ = agent.wm.observe({"obs": torch.randn(2, 5, 4), "action": torch.randn(2, 5, 2),
                                "is_first": torch.zeros(2, 5)})
    actor_loss, critic_loss, _ = agent.behaviour_losses(post)
    actor_loss.backward()
    grads = [p.grad for p in agent.actor.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in agent.critic.parameters())  # critic loss not yet backpropagated


def test_i2a_trains_end_to_end(tmp_path):
    cfg = i2a.Config(total_env_steps=200, model_warmup_steps=50, refit_every=100, model_fit_steps=10,
                     n_rollouts=2, rollout_depth=3, width=16, code_dim=4, eval_episodes=2)
    run = RunDir(tmp_path)
    summary = i2a.run(cfg, run)
    assert summary["env_steps"] == 200
    losses = [float(r["loss"]) for r in run.read_metrics() if r["loss"] != "nan"]
    assert len(losses) >= 2 and np.isfinite(losses).all()
    assert len(read_eval(tmp_path)) == 2


def test_i2a_value_rescaling_keeps_predicted_values():
    agent = i2a.I2A(i2a.DynamicsModel(4, 2, hidden=8), 4, 2, -1.0, 1.0, i2a.Config(width=8, code_dim=4))
    joint = torch.randn(6, agent.value[0].in_features)
    before = agent.value(joint).squeeze(-1) * agent.return_scale
    scale = agent.rescale_value(torch.full((6,), -50.0))
    torch.testing.assert_close(scale, torch.tensor(0.9 * 1.0 + 0.1 * 50.0))
    torch.testing.assert_close(agent.return_scale, scale)
    torch.testing.assert_close(agent.value(joint).squeeze(-1) * agent.return_scale, before)


def test_i2a_policy_mean_stays_inside_the_action_bounds():
    agent = i2a.I2A(i2a.DynamicsModel(4, 2, hidden=8), 4, 2, -2.0, 2.0, i2a.Config(width=8, code_dim=4))
    with torch.no_grad():
        agent.policy.mean[-1].bias.fill_(100.0)  # an extreme pre-squash mean
    dist, _ = agent(torch.randn(5, 4))
    assert (dist.mean <= 2.0).all() and (dist.mean >= -2.0).all()


@pytest.mark.learning
def test_i2a_learns_to_beat_the_zero_action_on_the_four_d_task(tmp_path):
    # the preset's agent at 4,000 of its 5,000 steps. Measured over 5 evaluation episodes,
    # seeds 0/1/2: -10.2/-16.4/-9.4 against the zero action's -33.9/-59.9/-56.4 (0.17-0.30 of it);
    # before the bounded mean and rescaled value it diverged (-599 at 5,000 steps, seed 0)
    summary = i2a.run(i2a.Config(seed=0, total_env_steps=4000, eval_episodes=5), RunDir(tmp_path))
    zero = fixed_policy_return(FOUR_D_ID, "zero", seed=0, episodes=5)
    assert summary["eval_return_mean"] > 0.5 * zero


@pytest.mark.learning
def test_dreamer_learns_to_beat_the_zero_action_on_the_four_d_task(tmp_path):
    # the preset's latent-actor agent with smaller batches, 2,000 of its 3,000 steps. Measured over
    # 5 evaluation episodes, seeds 0/1/2: -7.2/-11.6/-7.8 against the zero action's -33.9/-59.9/-56.4
    # (0.14-0.21 of it); with 1,500 steps and 15 updates per round it failed in 2 of 3 seeds
    cfg = dreamer.Config(seed=0, total_env_steps=2000, batch_size=8, seq_len=16, imag_horizon=10, eval_episodes=5)
    summary = dreamer.run(cfg, RunDir(tmp_path))
    zero = fixed_policy_return(FOUR_D_ID, "zero", seed=0, episodes=5)
    assert summary["eval_return_mean"] > 0.5 * zero

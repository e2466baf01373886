import numpy as np
import torch

from classical.world_models.cem import CEMPlanner, cem_plan, rollout_returns
from classical.world_models.envs import FourDControlEnv, four_d_dynamics, four_d_reward


def quadratic_step(target):
    """Known model: s' = s + a, reward -(s' - target)²; the optimum reaches target in one step."""
    def step(s, a):
        nxt = s + a
        return nxt, -((nxt - target) ** 2).sum(-1), None
    return step


def test_cem_finds_optimum_of_known_quadratic_reward_for_a_batch():
    target = torch.tensor([0.3, -0.6])
    states = torch.tensor([[0.0, 0.0], [0.5, -0.2], [-0.4, 0.1]])
    plan, best = cem_plan(quadratic_step(target), states, horizon=4, low=[-1, -1], high=[1, 1],
                          n_candidates=500, n_elites=25, n_iters=15,
                          generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(plan[:, 0], target - states, atol=0.05, rtol=0)
    torch.testing.assert_close(plan[:, 1:], torch.zeros(3, 3, 2), atol=0.05, rtol=0)
    assert (best > -0.05).all()


def test_cem_respects_action_bounds():
    # optimum lies outside the bounds: the plan must sit on the bound, never beyond it
    plan, _ = cem_plan(quadratic_step(torch.tensor([5.0])), torch.zeros(2, 1), horizon=3,
                       low=[-0.5], high=[0.5], n_candidates=200, n_elites=20, n_iters=5)
    assert (plan <= 0.5 + 1e-6).all() and (plan >= -0.5 - 1e-6).all()
    assert (plan[:, 0] > 0.45).all()


def test_rollout_returns_applies_discount_and_continue_probability():
    def step(s, a):
        return s, torch.ones(s.shape[0]), torch.full((s.shape[0],), 0.5)
    ret = rollout_returns(step, torch.zeros(1, 1), torch.zeros(1, 3, 1), discount=0.9,
                          terminal_value=lambda s: torch.full((s.shape[0],), 10.0))
    w1, w2, w3 = 1.0, 0.45, 0.45**2
    assert abs(float(ret) - (w1 + w2 + w3 + 10.0 * 0.45**3)) < 1e-5


def test_planner_warm_start_shifts_previous_plan():
    seen = []

    def step(s, a):
        seen.append(a)
        return quadratic_step(torch.tensor([0.0]))(s, a)
    planner = CEMPlanner(step, low=[-1.0], high=[1.0], horizon=3, n_candidates=50, n_elites=5, n_iters=1)
    planner.act(torch.tensor([[0.5]]))
    old_plan = planner._plan.clone()
    seen.clear()
    planner.act(torch.tensor([[0.5]]))
    # candidate 0 of the first iteration is the shifted previous plan
    first = torch.stack([seen[t][0] for t in range(3)])
    torch.testing.assert_close(first[:2, 0], old_plan[0, 1:, 0])
    assert float(first[2, 0]) == 0.0


def test_pets_style_planner_controls_the_four_d_task_with_its_true_model():
    def step(s, a):
        nxt = four_d_dynamics(s, a)
        return nxt, four_d_reward(nxt, a), None
    env = FourDControlEnv(max_steps=30)
    planner = CEMPlanner(step, env.action_space.low, env.action_space.high, horizon=8,
                         n_candidates=200, n_elites=20, n_iters=3)
    obs, _ = env.reset(seed=0)
    x0 = obs.copy()
    total_plan, total_zero = 0.0, 0.0
    for _ in range(30):
        a = planner.act(torch.as_tensor(obs)[None])[0].numpy()
        obs, r, *_ = env.step(a)
        total_plan += r
    env.reset(seed=0)
    for _ in range(30):
        _, r, *_ = env.step(np.zeros(2))
        total_zero += r
    assert np.allclose(env.reset(seed=0)[0], x0)
    assert total_plan > total_zero + 5.0, (total_plan, total_zero)

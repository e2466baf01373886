import numpy as np
import pytest
import torch
from torch import distributions as D

from classical.world_models.envs import FourDControlEnv
from classical.world_models.rssm import RSSM, categorical_kl, gaussian_kl
from classical.world_models.world_model import SequenceReplay, WorldModel


def test_gaussian_kl_matches_torch_and_is_nonnegative():
    g = torch.Generator().manual_seed(0)
    mq, mp = torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)
    sq, sp = torch.rand(64, 5, generator=g) + 0.05, torch.rand(64, 5, generator=g) + 0.05
    ours = gaussian_kl(mq, sq, mp, sp)
    ref = D.kl_divergence(D.Independent(D.Normal(mq, sq), 1), D.Independent(D.Normal(mp, sp), 1))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert (ours >= 0).all()
    assert torch.allclose(gaussian_kl(mq, sq, mq, sq), torch.zeros(64), atol=1e-6)


def test_categorical_kl_matches_torch():
    g = torch.Generator().manual_seed(1)
    lq, lp = torch.randn(16, 4, 6, generator=g), torch.randn(16, 4, 6, generator=g)
    ref = D.kl_divergence(D.Independent(D.Categorical(logits=lq), 1), D.Independent(D.Categorical(logits=lp), 1))
    torch.testing.assert_close(categorical_kl(lq, lp), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("latent", ["gaussian", "categorical"])
def test_rssm_kl_of_observed_sequence_equals_torch_distributions(latent):
    torch.manual_seed(0)
    rssm = RSSM(action_dim=2, embed_dim=8, deter_dim=16, stoch_dim=4, hidden=16, latent=latent,
                n_groups=3, n_classes=5)
    post, prior = rssm.observe(torch.randn(6, 4, 8), torch.randn(6, 4, 2))
    kl = rssm.kl(post, prior)
    ref = D.kl_divergence(rssm.distribution(post), rssm.distribution(prior))
    torch.testing.assert_close(kl, ref, rtol=1e-4, atol=1e-5)
    assert (kl >= 0).all()
    # KL balancing changes the gradients, not the value
    torch.testing.assert_close(rssm.kl(post, prior, balance=0.8), kl)


def test_observe_uses_actions_taken():
    torch.manual_seed(0)
    rssm = RSSM(action_dim=2, embed_dim=8, deter_dim=16, stoch_dim=4, hidden=16)
    embeds = torch.randn(4, 2, 8)
    a = torch.randn(4, 2, 2)
    post_a, _ = rssm.observe(embeds, a)
    post_b, _ = rssm.observe(embeds, a + 1.0)
    assert not torch.allclose(post_a.h[1:], post_b.h[1:])
    imagined_a = rssm.imagine(rssm.initial(2), a)
    imagined_b = rssm.imagine(rssm.initial(2), a + 1.0)
    assert not torch.allclose(imagined_a.h, imagined_b.h)


def collect_four_d(n_episodes: int, seed: int) -> SequenceReplay:
    env = FourDControlEnv(max_steps=50)
    rng = np.random.default_rng(seed)
    replay = SequenceReplay(n_episodes * 51)
    for ep in range(n_episodes):
        obs, _ = env.reset(seed=seed * 1000 + ep)
        replay.add(obs=obs, action=np.zeros(2), reward=0.0, cont=1.0, is_first=True)
        done = False
        while not done:
            action = rng.uniform(-1, 1, 2)
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            replay.add(obs=obs, action=action, reward=reward, cont=1.0 - terminated, is_first=False)
    return replay


def test_world_model_one_step_prediction_beats_constant_baseline():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = collect_four_d(30, seed=0), collect_four_d(4, seed=1)
    wm = WorldModel(4, 2, deter_dim=64, stoch_dim=8, hidden=64, free_nats=1.0)
    opt = torch.optim.Adam(wm.parameters(), lr=3e-3)
    for _ in range(300):
        loss, metrics, _ = wm.loss(train.sample(16, 16, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert metrics["kl"] >= 0
    batch = test.sample(32, 16, np.random.default_rng(1))
    err = wm.one_step_prediction_error(batch)
    obs = batch["obs"]
    constant = float(((obs - train.sample(512, 1, rng)["obs"].mean((0, 1))) ** 2).mean())
    assert err < 0.2 * constant, (err, constant)

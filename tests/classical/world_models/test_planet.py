"""PlaNet: latent CEM returns bounded actions, the pixel model runs, and short training beats zero torque."""

import numpy as np
import pytest
import torch

from classical.common.rundir import RunDir
from classical.world_models.planet import (Config, ConvDecoder, ConvEncoder, PlaNetAgent, make_planet_env,
                                           play_episode, run)
from classical.world_models.world_model import SequenceReplay


def test_conv_encoder_and_decoder_shapes():
    enc, dec = ConvEncoder(32, 24), ConvDecoder(40, 32)
    assert enc(torch.zeros(3, 5, 1024)).shape == (3, 5, 24)
    assert dec(torch.zeros(3, 5, 40)).shape == (3, 5, 1024)


def test_pixel_observations_are_grey_frames_in_the_unit_interval():
    env = make_planet_env(Config(pixels=True, image_size=16))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (256,) and 0.0 <= obs.min() < obs.max() <= 1.0
    with pytest.raises(ValueError, match="image_size = 12; the conv encoder needs a multiple of 8"):
        make_planet_env(Config(pixels=True, image_size=12))


def test_pixel_agent_plans_bounded_actions_and_fills_replay():
    cfg = Config(pixels=True, image_size=16, n_candidates=16, n_elites=4, n_iters=2, horizon=3,
                 action_repeat=4)
    agent, replay = PlaNetAgent(cfg), SequenceReplay(100)
    ret, steps = play_episode(agent, make_planet_env(cfg), 0, cfg, np.random.default_rng(0), replay,
                              max_env_steps=12)
    assert steps == 12 and len(replay) == 4 and replay.sample(2, 3, np.random.default_rng(0))["obs"].shape == (2, 3, 256)


def test_save_load_round_trip(tmp_path):
    agent = PlaNetAgent(Config(n_candidates=10, n_elites=2, n_iters=1, horizon=2))
    agent.save(tmp_path / "planet.pt")
    again = PlaNetAgent.load(tmp_path / "planet.pt")
    for a, b in zip(agent.wm.state_dict().values(), again.wm.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.learning
def test_latent_cem_after_short_training_beats_zero_torque(tmp_path):
    cfg = Config(obs_scale=[1.0, 1.0, 8.0], total_env_steps=1600, seed_episodes=4, train_steps=60,
                 n_candidates=150, n_elites=15, n_iters=4, horizon=10, eval_episodes=0, seed=123)
    run(cfg, RunDir(tmp_path))
    agent = PlaNetAgent.load(tmp_path / "checkpoint.pt", action_repeat=cfg.action_repeat)
    env = make_planet_env(cfg)
    planned, zero, actions = [], [], []
    for ep in range(2):
        planned.append(play_episode(agent, env, 5000 + ep, cfg, np.random.default_rng(0), explore=False)[0])
        obs, _ = env.reset(seed=5000 + ep)
        total = 0.0
        for _ in range(200):
            obs, r, *_ = env.step(np.zeros(1, np.float32))
            total += r
        zero.append(total)
        agent.reset()
        actions += [agent.predict(obs)[0][0] for _ in range(5)]
    assert all(abs(a) <= 2.0 for a in actions) and any(abs(a) > 0.1 for a in actions)
    assert np.mean(planned) > np.mean(zero) + 100, (planned, zero)

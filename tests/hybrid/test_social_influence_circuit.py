"""The social-influence learner takes a circuit actor through the model registry."""

import numpy as np
import torch

import qrl.models  # noqa: F401  (registers type: vqc)
from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything
from classical.marl.social_influence import Config, SocialInfluenceMAPPO, influence_rewards, run


def test_circuit_actor_trains_and_its_influence_is_a_nonnegative_kl(tmp_path):
    cfg = Config(env_kwargs={"n_agents": 2, "max_steps": 3}, actor={"type": "vqc", "n_qubits": 4, "n_layers": 1},
                 episodes=4, episodes_per_update=2, epochs=1, eval_episodes=1, credit_episodes=1)
    seed_everything(cfg.seed)
    agent = SocialInfluenceMAPPO(cfg)
    assert type(agent.actor).__name__ == "ReuploadingPolicy"
    obs, _ = agent.env.reset(seed=0)
    nxt, *_ = agent.env.step(np.array([1, 3]))
    c = influence_rewards(agent.probs, torch.as_tensor(obs)[None], torch.as_tensor(nxt)[None], torch.ones(1),
                          agent.blocks)
    assert c.shape == (1, 2) and bool((c > 0).all())            # the circuit reads the previous actions
    initial = {k: v.clone() for k, v in agent.actor.state_dict().items()}
    summary = run(cfg, RunDir(tmp_path))
    assert summary["episodes"] == 4 and np.isfinite(summary["eval_return_mean"])
    trained = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["learner"]["actor"]
    assert any(not torch.equal(trained[k], initial[k]) for k in initial)

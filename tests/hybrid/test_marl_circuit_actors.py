"""Circuit actors in MAPPO and in the PSRO self-play population, through the model registry."""

import numpy as np
import torch

import qrl.models  # noqa: F401  (registers type: vqc)
from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything
from classical.marl import mappo, selfplay

VQC = {"type": "vqc", "n_qubits": 4, "n_layers": 1}


def test_mappo_trains_a_circuit_actor(tmp_path):
    cfg = mappo.Config(env_id="particle", env_kwargs={"n_agents": 2, "max_steps": 3}, actor=VQC, episodes=4,
                       episodes_per_update=2, epochs=1, eval_episodes=1,
                       lr={"default": 1e-3, "actor.output_scaling": 0.1})
    agent = mappo.MAPPO(cfg)
    assert type(agent.actor).__name__ == "ReuploadingPolicy"
    rates = {g["name"]: g["lr"] for g in agent.opt.param_groups}
    assert rates["actor.output_scaling"] == 0.1 and rates["critic.weights"] == 1e-3
    seed_everything(cfg.seed)                                    # run() builds its learner after this
    initial = {k: v.clone() for k, v in mappo.MAPPO(cfg).actor.state_dict().items()}
    summary = mappo.run(cfg, RunDir(tmp_path))
    assert np.isfinite(summary["eval_return_mean"]) and summary["episodes"] == 4
    trained = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["learner"]["actor"]
    assert trained.keys() == initial.keys()
    assert any(not torch.equal(trained[k], initial[k]) for k in initial)      # the circuit's parameters moved

def test_self_play_population_of_circuit_actors(tmp_path):
    cfg = selfplay.Config(env_kwargs={"n_agents": 2, "mode": "competitive", "max_steps": 3}, actor=VQC,
                          iterations=1, oracle_episodes=2, episodes_per_update=2, epochs=1, meta_episodes=1,
                          eval_episodes=2)
    summary = selfplay.run(cfg, RunDir(tmp_path))
    assert summary["population"] == 2 and len(summary["meta_strategy_0"]) == 2
    # The agent a run leaves rebuilds its circuit members on the run's resolved backend (entry, backends
    # file, ledger), not on the config's entry name alone: 'mysim' exists only in the run's backends file.
    from qrl.backends import Backend

    backends = tmp_path / "my_backends.yaml"
    backends.write_text("default: mysim\nbackends:\n  mysim: {device: qrl.torch, diff_method: backprop}\n")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["learner"]
    moved = selfplay.PSROAgent(cfg.model_copy(update={"backend": "mysim"}),
                               backend=Backend.for_run("mysim", tmp_path, backends))
    moved.load_state_dict(state)
    here = selfplay.PSROAgent(cfg)
    here.load_state_dict(state)
    members = [net for pop in moved.populations for pol in pop for net in pol.actors]
    assert len(members) == 4 and {net.vqc.backend for net in members} == {"mysim"}
    obs = torch.linspace(-1, 1, moved.env.obs_dim)[None]
    for a, b in zip(members, [net for pop in here.populations for pol in pop for net in pol.actors]):
        assert torch.allclose(a(obs), b(obs), atol=1e-6)

import numpy as np

from classical.common.rundir import RunDir, load_checkpoint_file
from classical.rl.models import build_model
from classical.world_models import cem_mpc, dreamer
from hybrid.world_model_vqc import cem_value_configs, dreamer_configs


def test_classical_twins_match_the_circuits_parameter_count():
    for configs, slot, head, dims in ((cem_value_configs(), "critic", "value", (3, 1)),
                                      (dreamer_configs(), "actor", "policy", (4, 4))):
        vqc, mlp = [getattr(c, slot) for name, c in configs.items() if getattr(c, slot)][:2]
        n_vqc = build_model(vqc, head, *dims, backend="qrl.torch").n_params
        n_mlp = build_model(mlp, head, *dims).n_params
        assert vqc["type"] == "vqc" and mlp["type"] == "mlp"
        assert abs(n_vqc - n_mlp) <= 0.1 * n_vqc


def test_cem_mpc_with_vqc_terminal_value_runs(tmp_path):
    cfg = cem_value_configs(total_env_steps=60, random_steps=30, refit_every=30, horizon=3, n_candidates=16,
                            n_elites=4, n_iters=2, hidden=[16, 16], fit_steps=10, critic_fit_steps=3,
                            critic_tail=5, eval_episodes=1, env_id="qrl/FourDControl-v0")["vqc_value"]
    summary = cem_mpc.run(cfg, RunDir(tmp_path))
    assert np.isfinite(summary["eval_return_mean"])


def test_dreamer_with_vqc_actor_updates_the_circuit(tmp_path):
    cfg = dreamer_configs(total_env_steps=80, prefill_steps=40, train_every=40, updates_per_round=2,
                          batch_size=2, seq_len=6, imag_horizon=3, deter_dim=16, stoch_dim=4,
                          width=16, eval_episodes=1)["vqc_actor"]
    agent = dreamer.build_agent(cfg, 4, 2, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    before = agent.actor.net.vqc.weights.detach().clone()
    summary = dreamer.run(cfg, RunDir(tmp_path))
    assert np.isfinite(summary["eval_return_mean"])
    import torch
    state = load_checkpoint_file(tmp_path / "checkpoint.pt")["agent"]
    assert not torch.allclose(state["actor.net.vqc.weights"], before)

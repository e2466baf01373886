"""Federated circuit policies: the server averages circuit parameters, with DP and SecAgg on."""

import numpy as np
import pytest

from classical.common.rundir import RunDir
from classical.federated.server_app import FederationConfig
from classical.federated.simulation import run_federation
from classical.federated.task import get_weights
from hybrid import federated_vqc


def test_federated_vqc_round_with_dp_and_secagg(tmp_path):
    cfg = federated_vqc.Config(num_clients=2, episodes=2, local_episodes=1, eval_episodes=1,
                               model={"type": "vqc", "n_qubits": 4, "n_layers": 1}, env_kwargs={"max_episode_steps": 15}, engine="inprocess", noise_multiplier=0.5)
    assert cfg.dp and cfg.secure_aggregation  # the hybrid default
    summary = federated_vqc.run(cfg, RunDir(tmp_path, metrics_name="rounds.csv"))
    rows = RunDir(tmp_path, resume=True, metrics_name="rounds.csv").read_metrics()
    assert [int(r["round"]) for r in rows] == [1, 2]
    assert float(rows[-1]["epsilon"]) == pytest.approx(summary["epsilon"]) and summary["epsilon"] > 0
    # only circuit parameters travel (λ, θ, w; not the fixed readout buffer): 4*1 + 2*4*3 + 2 = 30 floats
    assert summary["n_params"] == 30
    assert all(int(r["bytes_up"]) == 2 * 30 * 4 for r in rows)


def test_server_averages_circuit_parameters():
    """With one local episode and no DP, the new global angles are the mean of the clients' angles."""
    factory = federated_vqc.vqc_policy_factory(n_qubits=4, n_layers=1)
    seen = []
    cfg = FederationConfig(num_clients=2, episodes=1, local_episodes=1, eval_episodes=1,
                           env_kwargs={"max_episode_steps": 10},
                           engine="inprocess")
    from classical.federated.client_app import from_record
    final = run_federation(cfg, lambda row, w: None, policy_factory=factory,
                           on_receive=lambda m: seen.append(from_record(m.content["arrays"])))
    import torch
    torch.manual_seed(cfg.seed)
    initial = get_weights(factory(4, 2))
    assert set(final) == {"policy.vqc.input_scaling", "policy.vqc.weights", "policy.vqc.output_scaling"}
    for k in final:
        np.testing.assert_allclose(final[k], initial[k] + (seen[0][k] + seen[1][k]) / 2, atol=1e-6)
    assert any(np.abs(u).max() > 0 for u in seen[0].values())

import numpy as np
import pytest
import torch

from classical.common.rundir import RunDir
from hybrid.marl_quantum import Config, MultiAgentCircuit, _shift_word, run


def test_shift_word_moves_a_pauli_word_to_an_agents_block():
    assert _shift_word("Z0Z1", 3) == "Z3Z4" and _shift_word("Z2", 10) == "Z12"


def test_entangling_layer_is_what_couples_the_agents():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3)
    moved = x.clone()
    moved[:, 1] += 1.0                              # change only agent 1's observation
    product = MultiAgentCircuit(2, 3, 3, qubits_per_agent=2, n_layers=2, entangle_agents=False)
    entangled = MultiAgentCircuit(2, 3, 3, qubits_per_agent=2, n_layers=2, entangle_agents=True)
    entangled.load_state_dict(product.state_dict())
    assert torch.allclose(product(x)[:, 0], product(moved)[:, 0], atol=1e-6)
    assert not torch.allclose(entangled(x)[:, 0], entangled(moved)[:, 0], atol=1e-4)
    assert product.n_params == entangled.n_params


@pytest.mark.parametrize("variant,algo", [("vqc_actor", "maddpg"), ("vqc_agents", "qmix"),
                                          ("entangled", "qmix"), ("product", "vdn")])
def test_quantum_variants_train_end_to_end(tmp_path, variant, algo):
    cfg = Config(algo_name=algo, variant=variant, env="particle", n_agents=2, max_cycles=4, episodes=3,
                 warmup_steps=4, batch_size=4, eval_episodes=1, n_qubits=3, qubits_per_agent=3, n_layers=1)
    summary = run(cfg, RunDir(tmp_path))
    assert np.isfinite(summary["eval_return_mean"]) and (tmp_path / "curve.png").exists()


def test_variant_and_algorithm_must_fit():
    with pytest.raises(ValueError, match="value-based"):
        run(Config(algo_name="maddpg", variant="entangled"), RunDir("/tmp/unused-marl-run"))

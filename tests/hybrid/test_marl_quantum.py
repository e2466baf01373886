from pathlib import Path

import numpy as np
import pytest
import torch

from classical.common.config import load_yaml
from classical.common.rundir import RunDir
from classical.marl.baselines import RandomPolicy
from classical.marl.loop import evaluate
from classical.marl.train import build_env
from hybrid.marl_quantum import Config, MultiAgentCircuit, _shift_word, parameter_counts, run, scale_step_size

CONFIGS = Path(__file__).parents[2] / "configs"


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


def test_joint_circuit_on_qrl_torch_matches_default_qubit():
    torch.manual_seed(1)
    x = torch.randn(5, 2, 4)
    fast = MultiAgentCircuit(2, 4, 3, qubits_per_agent=3, n_layers=2, backend="qrl.torch")
    reference = MultiAgentCircuit(2, 4, 3, qubits_per_agent=3, n_layers=2, backend="default.qubit")
    reference.load_state_dict(fast.state_dict())
    assert torch.allclose(fast(x), reference(x).to(fast(x).dtype), atol=1e-5)
    assert Config().backend == "qrl.torch"


def test_parameter_counts_split_agents_from_mixer_and_critic():
    sizes = dict(env_id="particle", env_kwargs={"n_agents": 2}, model={"n_qubits": 4, "qubits_per_agent": 3, "n_layers": 2})
    mlp_qmix = parameter_counts(Config(algo_name="qmix", variant="mlp", **sizes))
    product = parameter_counts(Config(algo_name="qmix", variant="product", **sizes))
    vqc_actor = parameter_counts(Config(algo_name="maddpg", variant="vqc_actor", **sizes))
    mlp_maddpg = parameter_counts(Config(algo_name="maddpg", variant="mlp", **sizes))
    # 2 agents x (2 layers x 10 input scalings + 3 x 3 qubits x 3 angles + 5 output weights)
    assert product["agents"] == 2 * (2 * 10 + 3 * 3 * 3 + 5) == 104
    assert mlp_qmix["agents"] == (12 * 64 + 64) + (64 * 64 + 64) + (64 * 5 + 5)
    assert product["central"] == mlp_qmix["central"] > 0            # the same QMIX mixer
    assert vqc_actor["central"] == mlp_maddpg["central"] > 0        # the same centralised critic
    assert vqc_actor["total"] == vqc_actor["agents"] + vqc_actor["central"]


def test_scale_step_size_keeps_the_value_and_multiplies_adams_step():
    torch.manual_seed(0)
    plain, scaled = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    scaled.load_state_dict(plain.state_dict())
    scale_step_size(scaled, 10.0)
    assert torch.allclose(scaled.weight, plain.weight)
    before = plain.weight.detach().clone()
    x = torch.randn(8, 3)
    for model in (plain, scaled):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model(x).sum().backward()
        optimizer.step()
    assert torch.allclose(scaled.weight - before, 10 * (plain.weight - before), atol=1e-6)


@pytest.mark.parametrize("variant,algo", [("vqc_actor", "maddpg"), ("vqc_agents", "qmix"),
                                          ("entangled", "qmix"), ("product", "vdn"), ("mlp", "qmix")])
def test_quantum_variants_train_end_to_end(tmp_path, variant, algo):
    cfg = Config(algo_name=algo, variant=variant, env_id="particle", env_kwargs={"n_agents": 2, "max_cycles": 4},
                 episodes=3, warmup_steps=4, batch_size=4, eval_episodes=1,
                 model={"n_qubits": 3, "qubits_per_agent": 3, "n_layers": 1},
                 circuit_step_scale=3.0)
    summary = run(cfg, RunDir(tmp_path))
    assert np.isfinite(summary["eval_return_mean"]) and (tmp_path / "curve.png").exists()


def test_variant_and_algorithm_must_fit():
    with pytest.raises(ValueError, match="value-based"):
        run(Config(algo_name="maddpg", variant="entangled"), RunDir("/tmp/unused-marl-run"))
    with pytest.raises(ValueError, match="actor-critic"):
        parameter_counts(Config(algo_name="qmix", variant="vqc_actor"))


@pytest.mark.parametrize("name", ["hybrid_marl_vqc_qmix", "hybrid_marl_vqc_maddpg", "hybrid_marl_entangled_qmix"])
def test_presets_validate(name):
    data = load_yaml(CONFIGS / f"{name}.yaml")
    assert data.pop("algo") == "hybrid.marl_quantum"
    cfg = Config(**data)
    assert cfg.backend == "qrl.torch" and parameter_counts(cfg)["agents"] < 200


@pytest.mark.learning
def test_vqc_actors_with_central_critic_beat_random(tmp_path):
    """MADDPG with VQC actors, 150 episodes. Seeds 0/1/2 reached -68.1/-93.2/-63.1 against
    -81.8/-105.9/-75.2 for the random policy on the same layouts: margins 13.7/12.7/12.1.

    The value-based circuit variants (VQC agents or the joint circuit under QMIX, VQC
    agents under VDN/IQL) stay below random at 150 and 300 episodes (BENCHMARKS.md,
    issue 7), so they have smoke tests only.
    """
    cfg = Config(algo_name="maddpg", variant="vqc_actor", env_id="particle", env_kwargs={"n_agents": 2}, episodes=150,
                 warmup_steps=500, batch_size=64, eval_episodes=30, model={"n_qubits": 4, "n_layers": 2}, seed=0)
    trained = run(cfg, RunDir(tmp_path))["eval_return_mean"]
    env = build_env(cfg)
    random = np.mean([r["return"] for r in evaluate(env, RandomPolicy(env), 30, seed=0, coordination=False)])
    assert trained > random + 8.0, (trained, random)

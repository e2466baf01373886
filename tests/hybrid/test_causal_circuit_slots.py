"""Issue-23 learners take circuits through the model registry (model/actor: {type: vqc})."""

import numpy as np
import torch

import qrl.models  # noqa: F401  (registers type: vqc)
from classical.causal.causal_planning import Config as CodaConfig, RewardRegression
from classical.causal.confounded_env import collect_logged_data
from classical.causal.meta_learning import Config as MetaConfig, MetaAgent
from classical.causal.offline_iv import Config as IVConfig, OfflineIVAgent

VQC = {"type": "vqc", "n_qubits": 2, "n_layers": 1}


def _is_circuit(net) -> bool:
    return "input_scaling" in dict(net.parameter_groups())


def test_offline_iv_tau_is_a_circuit_and_trains():
    agent = OfflineIVAgent(IVConfig(model=VQC, backend="qrl.torch", fit_steps=3))
    assert _is_circuit(agent.effects.tau) and agent.n_params < 40
    before = agent.tau([0.5]).copy()
    agent.learn(collect_logged_data(2, seed=0))
    assert not np.allclose(before, agent.tau([0.5]))


def test_meta_learning_actor_head_is_a_circuit():
    cfg = MetaConfig(env_kwargs={"n_nodes": 3}, head_inputs=3, core_hidden=8,
                     actor={"type": "vqc", "n_qubits": 3, "n_layers": 1}, backend="qrl.torch")
    agent = MetaAgent(cfg)
    assert _is_circuit(agent.actor)
    action, state = agent.predict(torch.zeros(4, 11))
    assert action.shape == (4,) and state.shape == (4, 8)


def test_coda_q_network_is_a_circuit_and_fits():
    cfg = CodaConfig(method="coda", model={"type": "vqc", "n_qubits": 4, "n_layers": 1}, backend="qrl.torch",
                     fit_epochs=3)
    learner = RewardRegression(cfg)
    assert _is_circuit(learner.net)
    rng = np.random.default_rng(0)
    loss = learner.fit(rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 2, 32),
                       rng.choice([-1.0, 1.0], 32).astype(np.float32))
    assert np.isfinite(loss) and learner.predict(np.zeros((2, 4)))[0].shape == (2,)

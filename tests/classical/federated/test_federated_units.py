"""Unit tests of the federated pieces: aggregation, compression, privacy, masking."""

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg
from opacus.accountants import RDPAccountant

from classical.federated import compression, privacy, secure_aggregation
from classical.federated.task import from_record, to_record
from classical.federated.server_app import FederationConfig, serve
from classical.federated.simulation import in_process_identity
from classical.federated.strategy import UpdateDecoding


def _replies(updates, weights):
    """Train replies as Flower delivers them (node i sent ``updates[i]`` with weight ``weights[i]``)."""
    out = []
    for i, (u, w) in enumerate(zip(updates, weights)):
        ins = Message(RecordDict({"config": ConfigRecord()}), dst_node_id=1000 + i, message_type="train")
        ins.metadata.__dict__["_message_id"] = f"m{i}"
        out.append(Message(RecordDict({"arrays": to_record(u), "metrics": MetricRecord(
            {"num-examples": w, "train-return": 1.0, "partition-id": i})}), reply_to=ins))
    return out


def _decoding(rule, shapes, **kw):
    strategy = UpdateDecoding(rule, shapes, **kw)
    strategy._global = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    return strategy


def test_fedavg_of_known_arrays_is_the_weighted_mean():
    updates = [{"w": np.array([1.0, 2.0], np.float32), "b": np.array([[0.0]], np.float32)},
               {"w": np.array([3.0, 6.0], np.float32), "b": np.array([[3.0]], np.float32)},
               {"w": np.array([-1.0, 0.0], np.float32), "b": np.array([[6.0]], np.float32)}]
    weights = [1, 2, 3]
    with in_process_identity():
        arrays, _ = _decoding(FedAvg(), {"w": (2,), "b": (1, 1)}).aggregate_train(1, _replies(updates, weights))
    got = from_record(arrays)
    np.testing.assert_allclose(got["w"], [(1 + 6 - 3) / 6, (2 + 12 + 0) / 6], rtol=1e-6)
    np.testing.assert_allclose(got["b"], [[(0 + 6 + 18) / 6]], rtol=1e-6)


@pytest.mark.parametrize("method, ratio", [("topk", 0.1), ("int8", 0.0)])
def test_compression_cuts_bytes_by_the_expected_factor(method, ratio):
    rng = np.random.default_rng(0)
    update = {"0.weight": rng.normal(size=(16, 4)).astype(np.float32),
              "2.weight": rng.normal(size=(2, 16)).astype(np.float32), "2.bias": np.zeros(2, np.float32)}
    wire, _ = compression.encode(update, method, ratio, None, rng)
    factor = compression.payload_bytes(update) / compression.payload_bytes(wire)
    # top-k 10%: 4-byte value + 2-byte index per kept entry -> 4/(0.1*6) = 6.7x;
    # int8: 1 byte per entry plus an 8-byte (min, step) header per tensor -> 392/(98+24)
    expected = {"topk": 4 / (0.1 * 6), "int8": 392 / (98 + 3 * 8)}[method]
    assert factor == pytest.approx(expected, rel=0.12)
    assert factor == pytest.approx(compression.expected_ratio(method, ratio, [64, 32, 2]), rel=1e-9)


def test_topk_error_feedback_loses_nothing_over_rounds():
    rng = np.random.default_rng(1)
    residual, sent = None, np.zeros(50, np.float32)
    total = np.zeros(50, np.float32)
    for _ in range(5):
        u = {"w": rng.normal(size=50).astype(np.float32)}
        total += u["w"]
        wire, residual = compression.encode(u, "topk", 0.2, residual, rng)
        sent += compression.decode(wire, "topk", {"w": (50,)})["w"]
    np.testing.assert_allclose(sent + residual["w"], total, atol=1e-5)


def test_int8_quantisation_is_unbiased_and_within_one_step():
    rng = np.random.default_rng(2)
    u = {"w": rng.normal(size=2000).astype(np.float32)}
    decoded = [compression.decode(compression.encode(u, "int8", 0, None, rng)[0], "int8", {"w": (2000,)})["w"]
               for _ in range(50)]
    step = (u["w"].max() - u["w"].min()) / 255
    assert np.max(np.abs(decoded[0] - u["w"])) <= step * 1.001
    assert np.abs(np.mean(decoded, axis=0) - u["w"]).mean() < step / 5


def test_clipping_bounds_the_update_norm():
    u = {"a": np.full(3, 4.0, np.float32), "b": np.full(1, 3.0, np.float32)}
    assert privacy.update_norm(privacy.clip_update(u, 1.0)) == pytest.approx(1.0, rel=1e-5)
    assert privacy.clip_update(u, 100.0)["a"][0] == pytest.approx(4.0)


def test_epsilon_matches_opacus_accountant_step_by_step():
    accountant = RDPAccountant()
    for _ in range(7):
        accountant.step(noise_multiplier=1.3, sample_rate=0.5)
    assert privacy.epsilon_spent(1.3, 0.5, 7, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-12)
    assert privacy.epsilon_spent(1.3, 0.5, 14, 1e-5) > privacy.epsilon_spent(1.3, 0.5, 7, 1e-5)


def test_dp_wrapper_adds_noise_of_the_configured_scale():
    """Zero updates in, noise out: its std must be noise_multiplier * clip / n."""
    n, z, clip = 4, 2.0, 0.5
    updates = [{"w": np.zeros(20_000, np.float32)} for _ in range(n)]
    strategy = DifferentialPrivacyClientSideFixedClipping(
        _decoding(FedAvg(), {"w": (20_000,)}), noise_multiplier=z, clipping_norm=clip, num_sampled_clients=n)
    np.random.seed(0)
    with in_process_identity():
        arrays, _ = strategy.aggregate_train(1, _replies(updates, [1] * n))
    assert from_record(arrays)["w"].std() == pytest.approx(z * clip / n, rel=0.03)


def test_pairwise_masks_hide_each_update_and_cancel_in_the_sum():
    rng = np.random.default_rng(3)
    keys = {nid: secure_aggregation.new_key_pair() for nid in (11, 12, 13)}
    public = {n: k[1] for n, k in keys.items()}
    updates = {n: {"w": (0.01 * rng.normal(size=500)).astype(np.float32)} for n in public}
    masked = [secure_aggregation.mask_update(updates[n], n, keys[n][0], public, b"7") for n in public]
    for n, m in zip(public, masked):
        plain = secure_aggregation.to_fixed_point(updates[n])["w"].astype(np.int32)
        assert np.mean(m["w"].astype(np.int32) == plain) < 0.01
        assert np.abs(m["w"].astype(np.int32).astype(float)).mean() > 2**29  # looks uniform, not small
    mean = secure_aggregation.unmask_mean(masked, {"w": (500,)})["w"]
    np.testing.assert_allclose(mean, np.mean([u["w"] for u in updates.values()], axis=0), atol=2**-15)


def test_impossible_combinations_are_refused_with_the_fix():
    cfg = FederationConfig(secure_aggregation=True, strategy="krum", engine="inprocess")
    with pytest.raises(ValueError, match="choose strategy fedavg or fedprox"):
        serve(None, cfg, None, None)
    with pytest.raises(ValueError, match="compression: none"):
        FederationConfig(secure_aggregation=True, compression="topk").check()


def test_deploy_project_is_a_valid_flower_app_whose_run_config_is_a_federation_config():
    import tomllib
    from pathlib import Path

    from flwr.common.config import validate_config

    project = Path(__file__).parents[3] / "classical" / "federated" / "deploy"
    conf = tomllib.loads((project / "pyproject.toml").read_text())
    valid, errors, _ = validate_config(conf, check_module=True, project_dir=project)
    assert valid, errors
    run_config = conf["tool"]["flwr"]["app"]["config"]
    assert "hidden" not in run_config  # the deployed ClientApp always builds the default MLP
    FederationConfig(**{k.replace("-", "_"): v for k, v in run_config.items()})  # what the ServerApp does
    # Flower needs every overridable key declared with a value; those values are FederationConfig's
    # defaults, which stay the one place the federation's defaults are defined
    defaults = FederationConfig()
    assert {k: v for k, v in run_config.items()} == {k: getattr(defaults, k.replace("-", "_")) for k in run_config}


def test_every_part_of_a_federation_builds_the_same_default_policy():
    from classical.federated import client_app
    from classical.federated.task import DEFAULT_MODEL, mlp_policy, mlp_policy_factory

    assert FederationConfig().model == DEFAULT_MODEL == {"type": "mlp", "hidden": [16]}
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n_params(mlp_policy(4, 2)) == n_params(mlp_policy_factory()(4, 2)) == 4 * 16 + 16 + 16 * 2 + 2
    assert n_params(mlp_policy_factory({"type": "mlp", "hidden": [8, 8]})(4, 2)) == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    with pytest.raises(ValueError, match="federated clients train {type: mlp, hidden"):
        mlp_policy_factory({"type": "vqc"})
    assert client_app.app is not None


def test_local_training_is_reinforce_with_its_one_loss(monkeypatch):
    """Clients train with classical.rl.reinforce's loss (one update per episode), checked by hand too."""
    from classical.common.rollouts import Episode
    from classical.federated import task
    from classical.rl.reinforce import reinforce_loss

    logits = torch.tensor([[0.0, float(np.log(3.0))], [0.0, 0.0]])   # pi(1|s0) = 3/4, pi(0|s1) = 1/2
    ep = Episode(np.zeros((2, 4)), np.array([1, 0]), np.array([1.0, 1.0]))
    # returns-to-go (2, 1) standardised to (1, -1): loss = -(ln 3/4 - ln 1/2)
    assert reinforce_loss(logits, [ep], gamma=1.0).item() == pytest.approx(-np.log(1.5), abs=1e-6)
    calls = []

    def spy(logits, episodes, gamma, normalize=True):
        calls.append((len(episodes), gamma))
        return reinforce_loss(logits, episodes, gamma, normalize)

    monkeypatch.setattr(task, "reinforce_loss", spy)
    env = task.make_env(task.CartPoleDynamics(), seed=0)
    returns = task.train_reinforce(task.mlp_policy(4, 2), env, episodes=3, lr=0.01, seed=0, gamma=0.9)
    assert len(returns) == 3 and calls == [(1, 0.9)] * 3

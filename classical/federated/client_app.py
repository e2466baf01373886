"""The Flower ClientApp: one CartPole client that trains locally and returns its update.

A train message carries the global weights (``arrays``) and the task settings
(``config``). The client trains REINFORCE for ``local-episodes`` episodes on its own
CartPole (physics from its ``partition-id``) and returns its *update*, processed in
this order:

1. (simulated attack) a malicious client flips, scales or replaces its update;
2. (DP) clip to ``clipping_norm`` (the key Flower's DP wrappers inject);
3. (compression) top-k with error feedback or 8-bit quantisation;
4. (SecAgg) fixed-point encoding plus pairwise masks.

Between rounds the client keeps its error-feedback residual and its SecAgg private
key in ``context.state``. ``evaluate`` reports the greedy return of the global policy
on the client's own CartPole.

**Example** (deployment, flwr 1.42; the simulation passes the object to the engine
instead; all steps in ``classical/federated/deploy/README.md``)::

    flower-supernode --insecure --superlink 127.0.0.1:8000 \\
        --node-config "partition-id=0 num-partitions=3"
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from classical.federated import compression, privacy, secure_aggregation
from classical.federated.task import (ATTACKS, N_ACTIONS, OBS_DIM, PolicyFactory, client_dynamics, evaluate,
                                      from_record, get_weights, make_env, mlp_policy_factory, set_weights,
                                      to_record, train_reinforce)


def client_seed(seed: int, partition_id: int, global_round: int) -> int:
    return int(seed) * 100_003 + int(partition_id) * 1_009 + int(global_round)


def attack_update(update: dict[str, np.ndarray], attack: str, scale: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What a malicious client sends instead of its honest ``update``."""
    if attack == "sign_flip":
        return {k: -scale * v for k, v in update.items()}
    if attack == "scale":
        return {k: scale * v for k, v in update.items()}
    if attack == "random":
        norm = privacy.update_norm(update)
        noise = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in update.items()}
        return {k: (scale * norm / (privacy.update_norm(noise) + 1e-12) * v).astype(np.float32)
                for k, v in noise.items()}
    raise ValueError(f"unknown attack '{attack}'; use one of {ATTACKS}.")


def make_client_app(policy_factory: PolicyFactory | None = None) -> ClientApp:
    """A ClientApp training the policy ``policy_factory(obs_dim, n_actions)`` builds (default: the
    federation's default MLP, ``classical.federated.task.DEFAULT_MODEL``)."""
    policy_factory = policy_factory or mlp_policy_factory()
    app = ClientApp()

    @app.query("secagg_keys")
    def secagg_keys(msg: Message, context: Context) -> Message:
        # A fresh key pair per round; only the public half leaves the client.
        private, public = secure_aggregation.new_key_pair()
        context.state["secagg"] = ConfigRecord({"private-key": private})
        return Message(RecordDict({"keys": ConfigRecord({"public-key": public})}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        cfg = msg.content["config"]
        pid, n = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
        global_round = int(cfg["global-round"])
        seed = client_seed(cfg["seed"], pid, global_round)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)

        policy = policy_factory(OBS_DIM, N_ACTIONS)
        global_weights = from_record(msg.content["arrays"])
        set_weights(policy, global_weights)
        env = make_env(client_dynamics(pid, n, float(cfg["heterogeneity"])), seed, int(cfg["max-steps"]))
        returns = train_reinforce(policy, env, int(cfg["local-episodes"]), float(cfg["lr"]), seed,
                                  gamma=float(cfg["gamma"]), proximal_mu=float(cfg.get("proximal-mu", 0.0)),
                                  anchor=global_weights)
        local = get_weights(policy)
        update = {k: (local[k] - global_weights[k]).astype(np.float32) for k in global_weights}

        if pid < int(cfg["n-malicious"]):
            update = attack_update(update, str(cfg["attack"]), float(cfg["attack-scale"]), rng)
        if "clipping_norm" in cfg:
            update = privacy.clip_update(update, float(cfg["clipping_norm"]))

        method = str(cfg["compression"])
        residual = (from_record(context.state["residual"])
                    if method == "topk" and "residual" in context.state else None)
        wire, residual = compression.encode(update, method, float(cfg["topk-ratio"]), residual, rng)
        if residual is not None:
            context.state["residual"] = to_record(residual)

        if cfg.get("secagg-node-ids"):
            keys = dict(zip((int(i) for i in cfg["secagg-node-ids"]), cfg["secagg-public-keys"]))
            private = context.state["secagg"]["private-key"]
            wire = secure_aggregation.mask_update(update, context.node_id, private, keys,
                                                  round_salt=str(global_round).encode())

        metrics = MetricRecord({"num-examples": int(cfg["local-episodes"]),
                                "train-return": float(np.mean(returns)), "partition-id": pid})
        return Message(RecordDict({"arrays": to_record(wire), "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate_global(msg: Message, context: Context) -> Message:
        cfg = msg.content["config"]
        pid, n = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
        policy = policy_factory(OBS_DIM, N_ACTIONS)
        set_weights(policy, from_record(msg.content["arrays"]))
        env = make_env(client_dynamics(pid, n, float(cfg["heterogeneity"])), 0, int(cfg["max-steps"]))
        ret = evaluate(policy, env, int(cfg["eval-episodes"]), seed=10_000 + pid)
        metrics = MetricRecord({"return": ret, "num-examples": 1, "partition-id": pid})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    return app


app = make_client_app()

"""Server-side strategy: Flower's aggregation rules behind a decoder for RL updates.

Clients send *updates* (local minus global weights), possibly compressed or masked.
:class:`UpdateDecoding` wraps one of Flower's strategies (``FedAvg``, ``FedProx``,
``FedTrimmedAvg``, ``Krum``): before aggregation it turns each reply back into full
weights (global plus decoded update) and hands those to the wrapped rule; under
secure aggregation it can only unmask the *sum*, so the wrapped rule receives one
reply holding the mean and never an individual update. It also counts bytes on the
wire and remembers each client's evaluation return for the round's log row.

Differential privacy wraps around this (Flower's
``DifferentialPrivacyClientSideFixedClipping``): it injects the clipping norm into
the train config and adds Gaussian noise to the aggregated weights.

**Example**

>>> from flwr.serverapp.strategy import FedAvg
>>> strategy = UpdateDecoding(FedAvg(), shapes={"w": (2,)}, compression="none")
>>> strategy.bytes_up
0
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Callable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from classical.federated import compression, secure_aggregation
from classical.federated.task import from_record, to_record


class UpdateDecoding(Strategy):
    """Wrap ``strategy`` so that it aggregates full weights rebuilt from clients' updates.

    Args:
        strategy: the Flower aggregation rule (FedAvg, FedProx, FedTrimmedAvg, Krum, ...).
        shapes: parameter name -> shape of the model.
        compression: how clients encode updates (``none``, ``topk``, ``int8``).
        secure_aggregation: clients mask their updates; only the sum is recoverable.
        round_offset: added to Flower's round number (for resumed runs).
        seed: server-side randomness (client sampling, DP noise) is reseeded from
            ``(seed, round)`` every round, so runs and resumed runs repeat exactly.
        on_receive: called with every raw train reply before decoding (tests use it to
            check what the server-side code sees).
    """

    def __init__(self, strategy: Strategy, shapes: dict[str, tuple], compression: str = "none",
                 secure_aggregation: bool = False, round_offset: int = 0, seed: int = 0,
                 on_receive: Callable[[Message], None] | None = None):
        self.strategy = strategy
        self.shapes = shapes
        self.compression = compression
        self.secure_aggregation = secure_aggregation
        self.round_offset = round_offset
        self.seed = seed
        self.on_receive = on_receive
        self._global: dict[str, np.ndarray] | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        self.train_returns: dict[int, float] = {}
        self.client_returns: dict[int, float] = {}

    def summary(self) -> None:
        self.strategy.summary()

    # -- training ------------------------------------------------------------
    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._global = from_record(arrays)
        global_round = server_round + self.round_offset
        config["global-round"] = global_round
        # Flower samples with `random`, its DP wrapper draws noise from `np.random`
        random.seed(self.seed * 100_003 + global_round)
        np.random.seed((self.seed * 100_003 + global_round) % 2**32)
        messages = list(self.strategy.configure_train(server_round, arrays, config, grid))
        if self.secure_aggregation and messages:
            node_ids, public_keys = self._exchange_keys(grid, [m.metadata.dst_node_id for m in messages])
            for m in messages:
                m.content["config"]["secagg-node-ids"] = node_ids
                m.content["config"]["secagg-public-keys"] = public_keys
        self.bytes_down = sum(compression.payload_bytes(from_record(m.content["arrays"])) for m in messages)
        return messages

    def _exchange_keys(self, grid: Grid, node_ids: list[int]) -> tuple[list[int], list[bytes]]:
        queries = [Message(RecordDict({"keys": ConfigRecord()}), dst_node_id=nid,
                           message_type=f"{MessageType.QUERY}.secagg_keys") for nid in node_ids]
        replies = list(grid.send_and_receive(queries))
        if len(replies) != len(node_ids) or any(r.has_error() for r in replies):
            raise RuntimeError("secure aggregation needs a public key from every sampled client; "
                               "a client failed during key exchange.")
        keys = {r.metadata.src_node_id: r.content["keys"]["public-key"] for r in replies}
        ordered = sorted(keys)
        return ordered, [keys[i] for i in ordered]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]
                        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = [r for r in replies if not r.has_error()]
        if not replies:
            return None, None
        assert self._global is not None, "configure_train must run before aggregate_train"
        self.bytes_up = 0
        self.train_returns = {}
        for r in replies:
            if self.on_receive is not None:
                self.on_receive(r)
            self.bytes_up += compression.payload_bytes(from_record(r.content["arrays"]))
            m = r.content["metrics"]
            self.train_returns[int(m["partition-id"])] = float(m["train-return"])

        if self.secure_aggregation:
            mean_update = secure_aggregation.unmask_mean(
                [from_record(r.content["arrays"]) for r in replies], self.shapes)
            aggregate = replies[0]
            aggregate.content = RecordDict({
                "arrays": to_record(self._apply(mean_update)),
                "metrics": MetricRecord({"num-examples": sum(int(r.content["metrics"]["num-examples"])
                                                             for r in replies)})})
            decoded = [aggregate]
        else:
            decoded = []
            for r in replies:
                update = compression.decode(from_record(r.content["arrays"]), self.compression, self.shapes)
                r.content = RecordDict({"arrays": to_record(self._apply(update)),
                                        "metrics": r.content["metrics"]})
                decoded.append(r)
        return self.strategy.aggregate_train(server_round, decoded)

    def _apply(self, update: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: (self._global[k] + update[k]).astype(np.float32) for k in self._global}

    # -- evaluation ----------------------------------------------------------
    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        replies = list(replies)
        self.client_returns = {int(r.content["metrics"]["partition-id"]): float(r.content["metrics"]["return"])
                               for r in replies if not r.has_error()}
        return self.strategy.aggregate_evaluate(server_round, replies)

"""Running the ServerApp and ClientApp on one machine: Flower's engine or an in-process grid.

:func:`run_federation` runs :func:`~classical.federated.server_app.serve` against the
clients of :func:`~classical.federated.client_app.make_client_app` either on Flower's
simulation engine (``flwr.simulation.run_simulation``; Ray, one CPU per client, about
15-30 s of start-up here) or on :class:`InProcessGrid`, a Flower ``Grid`` that
delivers each message by calling the same ``ClientApp`` object in this process, with
one persistent ``Context`` per node as the engine keeps. The in-process grid exists
because Ray's start-up dominates small runs and tests; both run identical app code.

**Example**

>>> from classical.federated.server_app import FederationConfig
>>> cfg = FederationConfig(num_clients=2, episodes=1, local_episodes=1, eval_episodes=1, engine="inprocess")
>>> rows = []
>>> _ = run_federation(cfg, on_round=lambda row, w: rows.append(row))
>>> rows[0]["round"]
1
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
import uuid
from collections.abc import Iterable
from typing import Callable

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.task_identity import TaskIdentity

from classical.federated.client_app import make_client_app
from classical.federated.server_app import FederationConfig, serve
from classical.federated.task import PolicyFactory, mlp_policy_factory


class InProcessGrid(Grid):
    """A Flower ``Grid`` whose nodes are ``client_app`` called in this process.

    Node ``i`` (id ``1000 + i``) has ``node_config = {"partition-id": i,
    "num-partitions": n}`` and keeps its ``Context`` (hence ``context.state``) for the
    whole run, as a SuperNode does.
    """

    def __init__(self, client_app: ClientApp, num_nodes: int):
        self.client_app = client_app
        self.contexts = {
            1000 + i: Context(run_id=1, node_id=1000 + i, state=RecordDict(), run_config={},
                              node_config={"partition-id": i, "num-partitions": num_nodes})
            for i in range(num_nodes)}
        self._run = None
        self._replies: dict[str, Message] = {}

    def set_run(self, run) -> None:
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            try:
                reply = self.client_app(msg, self.contexts[msg.metadata.dst_node_id])
            except Exception as err:  # a failing client is a failed reply, as on the engine
                reply = Message(Error(code=0, reason=f"{err!r}\n{traceback.format_exc()}"), reply_to=msg)
            self._replies[msg.metadata.message_id] = reply
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


@contextlib.contextmanager
def in_process_identity():
    """Act as the server of run 1 while inside (Flower stamps messages with this identity).

    Flower's engine sets the process's task identity itself; the in-process grid has to.
    Flower's per-round INFO logging is lowered to WARNING meanwhile.
    """
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    flwr_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
        flwr_logger.setLevel(level)


def run_federation(cfg: FederationConfig, on_round: Callable[[dict, dict], None],
                   policy_factory: PolicyFactory | None = None, start: dict | None = None,
                   on_receive: Callable[[Message], None] | None = None):
    """Run one federation as ``cfg.engine`` says; return the final global weights."""
    policy_factory = policy_factory or mlp_policy_factory(cfg.model)
    client_app = make_client_app(policy_factory)
    if cfg.engine == "inprocess":
        with in_process_identity():
            return serve(InProcessGrid(client_app, cfg.num_clients), cfg, policy_factory, on_round,
                         start=start, on_receive=on_receive)

    from flwr.simulation import run_simulation

    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    outcome: dict = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            outcome["weights"] = serve(grid, cfg, policy_factory, on_round, start=start, on_receive=on_receive)
        except BaseException as err:  # the engine logs and swallows server errors; re-raise them here
            outcome["error"] = err
            raise

    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=cfg.num_clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": min(cfg.num_clients, os.cpu_count() or 1),
                                                 "include_dashboard": False}})
    if "error" in outcome:
        raise outcome["error"]
    if "weights" not in outcome:
        raise RuntimeError("Flower's simulation ended without finishing the federation; see its log above.")
    return outcome["weights"]

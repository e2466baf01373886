"""The Flower ServerApp: FedAvg / FedProx / trimmed mean / Krum over CartPole clients.

:func:`serve` is the whole server: it builds the aggregation rule from the config
(Flower's strategies), wraps it in :class:`~classical.federated.strategy.UpdateDecoding`
(compressed or masked updates) and, with DP on, in Flower's
``DifferentialPrivacyClientSideFixedClipping``; then it runs Flower's
``Strategy.start`` loop. After every round it evaluates the global policy on a
held-out CartPole, computes the privacy spent so far with Opacus's RDP accountant and
hands one row (round, per-client returns, ε, bytes) to ``on_round``.

The same function runs under Flower's simulation engine, under the in-process grid
of :mod:`classical.federated.simulation`, and deployed, where this module's ``app`` is
the ServerApp and ``classical.federated.client_app:app`` the ClientApp of the Flower app
project in ``classical/federated/deploy/`` (its ``pyproject.toml`` names them and declares
the run config, the fields of :class:`FederationConfig` with ``-`` for ``_``). One
SuperLink (``flower-superlink``, HTTP port 8000 in flwr 1.42), one SuperNode per client
(``flower-supernode --superlink HOST:8000 --node-config "partition-id=0 num-partitions=3"``),
then ``flwr run . NAME`` in that folder; the steps are in its ``README.md``. The deployed
ServerApp logs each round's row to Flower's log. Checked on one machine over loopback (two
rounds equal to the in-process grid's), not across machines.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Literal

import numpy as np
import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (DifferentialPrivacyClientSideFixedClipping, FedAvg, FedProx,
                                     FedTrimmedAvg, Krum, Strategy)
from pydantic import Field, model_validator

from classical.common.config import TrainerConfig
from classical.common.training import lr_for
from classical.federated import privacy
from classical.federated.compression import METHODS
from classical.federated.strategy import UpdateDecoding
from classical.federated.task import (ATTACKS, DEFAULT_MODEL, N_ACTIONS, OBS_DIM, PolicyFactory, evaluate,
                                      from_record, get_weights, held_out_dynamics, make_env, mlp_policy_factory,
                                      set_weights, to_record)


class FederationConfig(TrainerConfig):
    """Settings of one federated RL run (clients, aggregation, privacy, compression).

    The budget is ``episodes``: REINFORCE episodes each client trains over the whole run,
    ``local_episodes`` of them per round, so the run has ``episodes / local_episodes`` rounds.
    """

    seed: int = Field(0, description="Seed of the server and, combined with client ids, of every client.")
    num_clients: int = Field(3, ge=1, description="Number of clients (SuperNodes), each with its own CartPole.")
    env_id: Literal["CartPole-v1"] = Field("CartPole-v1", description="Each client's CartPole (dynamics "
                                                                     "spread by heterogeneity).")
    env_kwargs: dict[str, Any] = Field(default_factory=dict,
                                       description="CartPole settings: max_episode_steps (200, the episode cap).")
    episodes: int | None = Field(100, ge=1, description="Training episodes of each client over the run "
                                                       "(a multiple of local_episodes; rounds = episodes / "
                                                       "local_episodes).")
    total_env_steps: int | None = Field(None, description="Not used: federated runs count episodes per "
                                                          "client (leave unset).")
    local_episodes: int = Field(5, ge=1, description="REINFORCE episodes each client trains per round.")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 0.01},
                                 description="Adam learning rate of local training, key default (README: lr).")
    gamma: float = Field(0.99, description="Discount factor.")
    heterogeneity: float = Field(0.5, ge=0, lt=1, description="Spread of pole length/mass/gravity across clients.")
    eval_episodes: int = Field(5, ge=1, description="Greedy episodes per evaluation (each client and held-out).")
    model: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_MODEL),
                                  description="Policy network spec (an MLP here: {type: mlp, hidden: [16]}).")
    strategy: Literal["fedavg", "fedprox", "trimmed_mean", "krum"] = Field(
        "fedavg", description="Aggregation rule (Flower's FedAvg, FedProx, FedTrimmedAvg, Krum).")
    proximal_mu: float = Field(0.1, ge=0, description="FedProx proximal weight (used by strategy fedprox).")
    trim_beta: float = Field(0.2, ge=0, lt=0.5, description="Fraction trimmed at each end by trimmed_mean.")
    krum_malicious: int | None = Field(None, description="Malicious clients Krum assumes (default: the configured number).")
    fraction_train: float = Field(1.0, gt=0, le=1, description="Fraction of clients sampled per round.")
    malicious_fraction: float = Field(0.0, ge=0, lt=1, description="Fraction of clients that attack.")
    attack: str = Field("sign_flip", description=f"Malicious behaviour: one of {ATTACKS}.")
    attack_scale: float = Field(5.0, description="Magnitude factor of the attack.")
    dp: bool = Field(False, description="Client-level DP: clip updates on clients, Gaussian noise on the server.")
    noise_multiplier: float = Field(1.0, ge=0, description="DP noise std divided by the clipping norm (per round).")
    clipping_norm: float = Field(0.5, gt=0, description="L2 bound on each client's update.")
    delta: float = Field(1e-5, gt=0, lt=1, description="δ at which ε is reported.")
    secure_aggregation: bool = Field(False, description="Pairwise-masked updates: the server sees only the sum.")
    compression: str = Field("none", description=f"Update encoding: one of {METHODS}.")
    topk_ratio: float = Field(0.1, gt=0, le=1, description="Fraction of entries top-k keeps.")
    engine: Literal["simulation", "inprocess"] = Field(
        "simulation", description="Flower's simulation engine (Ray) or the in-process grid (fast, one process).")
    checkpoint_every: int = Field(5, ge=1, description="Rounds between checkpoints.")

    @model_validator(mode="after")
    def _budget_in_rounds(self):
        if self.total_env_steps is not None:
            raise ValueError("federated runs count episodes per client, not environment steps: set episodes "
                             "(rounds = episodes / local_episodes) and leave total_env_steps unset")
        if self.episodes % self.local_episodes:
            raise ValueError(f"episodes ({self.episodes}) must be a multiple of local_episodes "
                             f"({self.local_episodes}): each round trains every client local_episodes")
        unknown = sorted(set(self.env_kwargs) - {"max_episode_steps"})
        if unknown:
            raise ValueError(f"env_kwargs {unknown} are not CartPole settings here; use max_episode_steps")
        unknown = sorted(set(self.lr) - {"default"})
        if unknown:
            raise ValueError(f"lr keys {unknown} are not used (one rate for local training); use default")
        return self

    @property
    def rounds(self) -> int:
        """Federated rounds: ``episodes / local_episodes``."""
        return self.episodes // self.local_episodes

    @property
    def max_steps(self) -> int:
        """Episode length cap of every client's CartPole."""
        return int(self.env_kwargs.get("max_episode_steps", 200))

    @property
    def n_malicious(self) -> int:
        return int(round(self.malicious_fraction * self.num_clients))

    @property
    def n_sampled(self) -> int:
        return max(1, int(self.num_clients * self.fraction_train))

    def check(self) -> None:
        """Raise ValueError for combinations that cannot work, saying which to change."""
        if self.attack not in ATTACKS:
            raise ValueError(f"attack '{self.attack}' is unknown; use one of {ATTACKS}.")
        if self.compression not in METHODS:
            raise ValueError(f"compression '{self.compression}' is unknown; use one of {METHODS}.")
        if self.secure_aggregation and self.compression != "none":
            raise ValueError("secure_aggregation masks dense fixed-point updates; set compression: none.")
        if self.secure_aggregation and self.strategy in ("trimmed_mean", "krum"):
            raise ValueError("secure_aggregation reveals only the sum, which trimmed_mean and krum cannot "
                             "use; choose strategy fedavg or fedprox.")


def build_rule(cfg: FederationConfig) -> Strategy:
    """Flower's aggregation rule named by ``cfg.strategy``."""
    common = dict(fraction_train=cfg.fraction_train, min_train_nodes=cfg.n_sampled,
                  min_evaluate_nodes=cfg.num_clients, min_available_nodes=cfg.num_clients)
    if cfg.strategy == "fedavg":
        return FedAvg(**common)
    if cfg.strategy == "fedprox":
        return FedProx(**common, proximal_mu=cfg.proximal_mu)
    if cfg.strategy == "trimmed_mean":
        return FedTrimmedAvg(**common, beta=cfg.trim_beta)
    f = cfg.n_malicious if cfg.krum_malicious is None else cfg.krum_malicious
    return Krum(**common, num_malicious_nodes=f)


def task_config(cfg: FederationConfig) -> ConfigRecord:
    """What every train/evaluate message tells clients about the task."""
    return ConfigRecord({
        "seed": cfg.seed, "heterogeneity": cfg.heterogeneity, "max-steps": cfg.max_steps,
        "local-episodes": cfg.local_episodes, "lr": lr_for(cfg.lr, "default"), "gamma": cfg.gamma,
        "eval-episodes": cfg.eval_episodes, "n-malicious": cfg.n_malicious, "attack": cfg.attack,
        "attack-scale": cfg.attack_scale, "compression": cfg.compression, "topk-ratio": cfg.topk_ratio,
    })


def epsilon_after(cfg: FederationConfig, rounds: int) -> float | str:
    """ε spent after ``rounds`` rounds ('' when DP is off)."""
    if not cfg.dp:
        return ""
    return privacy.epsilon_spent(cfg.noise_multiplier, cfg.n_sampled / cfg.num_clients, rounds, cfg.delta)


def serve(grid: Grid, cfg: FederationConfig, policy_factory: PolicyFactory,
          on_round: Callable[[dict, dict], None], start: dict | None = None,
          on_receive: Callable[[Message], None] | None = None) -> dict[str, np.ndarray]:
    """Run the federation on ``grid``; return the final global weights.

    ``on_round(row, weights)`` receives each round's log row and global weights;
    ``start`` (``{"round", "weights"}``) resumes from a checkpoint.
    """
    cfg.check()
    torch.manual_seed(cfg.seed)
    weights = get_weights(policy_factory(OBS_DIM, N_ACTIONS)) if start is None else start["weights"]
    done = 0 if start is None else int(start["round"])
    shapes = {k: v.shape for k, v in weights.items()}
    decoding = UpdateDecoding(build_rule(cfg), shapes, cfg.compression, cfg.secure_aggregation,
                              round_offset=done, seed=cfg.seed, on_receive=on_receive)
    strategy: Strategy = decoding
    if cfg.dp:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            decoding, noise_multiplier=cfg.noise_multiplier, clipping_norm=cfg.clipping_norm,
            num_sampled_clients=cfg.n_sampled)
    held_out = make_env(held_out_dynamics(cfg.heterogeneity), cfg.seed, cfg.max_steps)
    final = {"weights": weights}
    t0 = time.perf_counter()

    def after_round(server_round: int, arrays) -> MetricRecord | None:
        if server_round == 0:
            return None
        r = server_round + done
        global_weights = from_record(arrays)
        policy = policy_factory(OBS_DIM, N_ACTIONS)
        set_weights(policy, global_weights)
        held_out_return = evaluate(policy, held_out, cfg.eval_episodes, seed=20_000)
        client_returns = decoding.client_returns
        row = {"round": r, "episode": r * cfg.local_episodes,   # each client's episodes so far: the budget's unit
               "mean_return": float(np.mean(list(client_returns.values()))) if client_returns else "",
               "held_out_return": held_out_return,
               "train_return": float(np.mean(list(decoding.train_returns.values()))),
               **{f"return_c{i}": client_returns.get(i, "") for i in range(cfg.num_clients)},
               "epsilon": epsilon_after(cfg, r), "delta": cfg.delta if cfg.dp else "",
               "bytes_up": decoding.bytes_up, "bytes_down": decoding.bytes_down,
               "seconds": round(time.perf_counter() - t0, 2)}
        final["weights"] = global_weights
        on_round(row, global_weights)
        return MetricRecord({"held-out-return": held_out_return})

    if cfg.rounds > done:
        strategy.start(grid, initial_arrays=to_record(weights), num_rounds=cfg.rounds - done,
                       train_config=task_config(cfg), evaluate_config=task_config(cfg),
                       evaluate_fn=after_round)
    return final["weights"]


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployed entry: settings come from the run config (``flwr run . --run-config ...``)."""
    cfg = FederationConfig(**{k.replace("-", "_"): v for k, v in context.run_config.items()})
    serve(grid, cfg, mlp_policy_factory(cfg.model),
          on_round=lambda row, w: logging.getLogger("flwr").info("round %s: %s", row["round"], row))

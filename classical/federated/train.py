"""Training entry for federated RL (``qrl fed train --config FILE --out DIR``).

Runs one federation (:func:`~classical.federated.simulation.run_federation`) and
writes the run directory: ``rounds.csv`` (one row per round: ``round``,
``episode`` (each client's episodes so far, the unit of the ``episodes`` budget), ``mean_return`` over the clients' own CartPoles, ``held_out_return``, per-client
``return_c<i>``, ``epsilon``/``delta`` when DP is on, ``bytes_up``/``bytes_down``),
``checkpoint.pt`` every ``checkpoint_every`` rounds (global weights and round; a
resumed run restarts clients' error-feedback memory), ``curve.png`` (mean return
per round) and ``eval.csv`` (greedy returns of the final global policy on every
client's CartPole and on the held-out one).

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(num_clients=2, episodes=1, local_episodes=1, eval_episodes=1, engine="inprocess")
>>> summary = run(cfg, RunDir(tempfile.mkdtemp(), metrics_name="rounds.csv"))
>>> summary["rounds"], summary["epsilon"]
(1, '')
"""

from __future__ import annotations

import numpy as np
import torch

from classical.common.config import resolve_algo
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import seed_everything
from classical.federated.server_app import FederationConfig, epsilon_after
from classical.federated.simulation import run_federation
from classical.federated.task import (N_ACTIONS, OBS_DIM, PolicyFactory, client_dynamics, evaluate,
                                      get_weights, held_out_dynamics, make_env, mlp_policy_factory, set_weights)
from classical.rl.base import run_checkpoint

Config = FederationConfig
METRICS_FILE = "rounds.csv"  # the CLI opens the run directory with this metrics file


class GlobalPolicy:
    """The federation's global model as an agent: action logits from a CartPole observation.

    ``predict`` is greedy by default (the arg-max logit, as the final evaluation plays) or
    samples the softmax policy the clients train.

    **Example**

    >>> agent = agent_from_config(Config().model_dump())
    >>> action, state = agent.predict(np.zeros(4, np.float32))
    >>> int(action) in (0, 1), state
    (True, None)
    """

    def __init__(self, policy: torch.nn.Module, algo: str, config: dict):
        self.policy, self._origin = policy, (algo, dict(config))

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = True) -> tuple[np.ndarray, None]:
        single = np.ndim(obs) == 1
        logits = self.policy(torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, OBS_DIM))
        action = logits.argmax(-1) if deterministic else torch.distributions.Categorical(logits=logits).sample()
        action = action.numpy()
        return (action[0] if single else action), None

    def save(self, path) -> None:
        algo, config = self._origin
        save_checkpoint_file(path, {"algo": algo, "config": config, "weights": get_weights(self.policy)})

    @classmethod
    def load(cls, path) -> GlobalPolicy:
        """Rebuild a saved global model in a fresh interpreter."""
        state = load_checkpoint_file(path)
        agent = resolve_algo(state["algo"]).agent_from_config(state["config"])
        set_weights(agent.policy, state["weights"])
        return agent


def agent_from_config(config: dict, policy_factory: PolicyFactory | None = None,
                      algo: str = "classical.federated.train") -> GlobalPolicy:
    """An untrained global model for ``config`` (a :class:`Config` as a dict)."""
    cfg = FederationConfig(**{k: v for k, v in config.items() if k in FederationConfig.model_fields})
    policy_factory = policy_factory or mlp_policy_factory(cfg.model)
    return GlobalPolicy(policy_factory(OBS_DIM, N_ACTIONS), algo, config)


def load_agent(run_dir, backend: str | None = None, make_agent=agent_from_config) -> GlobalPolicy:
    """The global model of a federated run folder (its last checkpointed round), ready to ``predict``."""
    config, state = run_checkpoint(run_dir, backend)
    agent = make_agent(config)
    set_weights(agent.policy, state["weights"])
    return agent


def final_evaluation(cfg: FederationConfig, weights: dict, policy_factory: PolicyFactory) -> list[dict]:
    """Greedy returns of ``weights`` on each client's CartPole and on the held-out one."""
    policy = policy_factory(OBS_DIM, N_ACTIONS)
    set_weights(policy, weights)
    envs = [(f"client_{i}", client_dynamics(i, cfg.num_clients, cfg.heterogeneity))
            for i in range(cfg.num_clients)] + [("held_out", held_out_dynamics(cfg.heterogeneity))]
    rows = []
    for name, dyn in envs:
        env = make_env(dyn, cfg.seed, cfg.max_steps)
        for ep in range(cfg.eval_episodes):
            rows.append({"env": name, "episode": ep, "return": evaluate(policy, env, 1, seed=30_000 + ep),
                         "length": dyn.length, "masspole": dyn.masspole, "gravity": dyn.gravity})
    return rows


def run(cfg: FederationConfig, run: RunDir, policy_factory: PolicyFactory | None = None) -> dict:
    """Train one federation into ``run`` (metrics file ``rounds.csv``); return a summary."""
    if run.metrics_name == "metrics.csv":  # the CLI's default; federated runs log rounds
        run = RunDir(run.path, resume=run.resume, metrics_name="rounds.csv", tensorboard=run.tensorboard,
                     config=run.config, backend=run.backend)
    torch.set_num_threads(1)
    seed_everything(cfg.seed)
    policy_factory = policy_factory or mlp_policy_factory(cfg.model)
    start = run.load_checkpoint() if run.resume else None
    if start is not None:
        start = {"round": start["round"], "weights": start["weights"]}

    def on_round(row: dict, weights: dict) -> None:
        run.log(row)
        if row["round"] % cfg.checkpoint_every == 0 or row["round"] == cfg.rounds:
            run.save_checkpoint({"round": row["round"], "weights": weights})

    weights = run_federation(cfg, on_round, policy_factory=policy_factory, start=start)
    if start is not None and start["round"] >= cfg.rounds:
        weights = start["weights"]
    run.plot_curve(x="round", y="mean_return", window=5, title="federated CartPole: mean client return")
    rows = final_evaluation(cfg, weights, policy_factory)
    run.write_eval(rows)
    metrics = run.read_metrics()
    by_env = {}
    for r in rows:
        by_env.setdefault(r["env"], []).append(r["return"])
    return {"epsilon": epsilon_after(cfg, cfg.rounds),
            "episodes": len(metrics) * cfg.local_episodes,
            "eval_return_mean": float(np.mean([r["return"] for r in rows])),
            "n_params": sum(p.numel() for p in policy_factory(OBS_DIM, N_ACTIONS).parameters()),
            "final_held_out_return": float(np.mean(by_env["held_out"])),
            "final_mean_return": float(np.mean([np.mean(v) for k, v in by_env.items() if k != "held_out"])),
            "rounds": len(metrics),
            "bytes_up_total": int(sum(int(m["bytes_up"]) for m in metrics))}

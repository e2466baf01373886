"""Train a multi-agent learner with ``qrl train`` (the training contract).

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(algo_name="vdn", env_id="particle", env_kwargs={"n_agents": 2, "max_cycles": 5}, episodes=4,
...              warmup_steps=10, batch_size=8, eval_episodes=2)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["env_steps"]
20
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file
from classical.common.seeding import seed_everything
from classical.common.training import Epsilon, lr_for
from classical.marl.coma import COMA
from classical.marl.envs import JointEnv, make_env
from classical.marl.iql import make_iql
from classical.marl.loop import LoopSettings, evaluate, train
from classical.marl.maac import MAAC
from classical.marl.maddpg import MADDPG
from classical.marl.metrics import agent_summary, message_goal_information
from classical.marl.networks import BodyFactory, mlp_factory
from classical.marl.qmix import make_qmix
from classical.marl.vdn import make_vdn
from classical.rl.base import load_multi_agent

ALGOS = ("iql", "vdn", "qmix", "maddpg", "maac", "coma")
STOCHASTIC_POLICY_ALGOS = ("maddpg", "maac", "coma")
# Default Adam step sizes. With 1e-3 (and Polyak targets, one-step returns) QMIX's Q_tot on spread rose above
# zero although every reward is negative and the greedy policy drifted (BENCHMARKS.md, issue 7).
VALUE_LR, ACTOR_CRITIC_LR = 5e-4, 1e-3


ENV_SETTINGS = {"n_agents": 3, "max_cycles": 25, "local_ratio": 0.5, "mode": "cooperative"}  # env_kwargs defaults


class Config(TrainerConfig):
    """A multi-agent training run."""

    algo_name: Literal["iql", "vdn", "qmix", "maddpg", "maac", "coma"] = Field("qmix", description="learner")
    env_id: Literal["particle", "simple_spread", "simple_speaker_listener", "simple_reference"] = Field(
        "simple_spread", description="task: the particle ParallelEnv or an mpe2 task")
    env_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="task settings: n_agents (3; particle and simple_spread), max_cycles "
                                          "(25, episode length), local_ratio (0.5; spread, reference, mixed "
                                          "particle), mode (cooperative | competitive | mixed; particle)")
    episodes: int | None = Field(2000, ge=1, description="training budget in episodes")
    total_env_steps: int | None = Field(None, ge=1, description="training budget in joint env steps")
    comm: Literal["none", "continuous", "discrete"] = Field("none", description="learned messages between agents")
    msg_dim: int = Field(4, ge=1, description="message width / vocabulary")
    team_reward: bool = Field(False, description="MADDPG/MAAC critics learn the team reward (sum over agents)")
    lr: dict[str, float] = Field(default_factory=dict,
                                 description="Adam learning rates, keys default, actor, critic (README: lr); "
                                             "empty: 5e-4 for IQL/VDN/QMIX, 1e-3 for actor-critics with "
                                             "COMA's actor at a tenth")
    gamma: float = Field(0.95, gt=0, le=1, description="discount")
    tau: float = Field(0.01, gt=0, le=1, description="Polyak rate of the target networks (all but COMA)")
    target_update_every: int = Field(300, ge=0, description="IQL/VDN/QMIX: copy the targets every this many "
                                     "updates (0: Polyak-average them with tau)")
    n_step: int = Field(5, ge=1, description="IQL/VDN/QMIX: bootstrap from n-step returns")
    epsilon: Epsilon = Field(default_factory=lambda: Epsilon(start=1.0, end=0.05, fraction=0.5),
                             description="IQL/VDN/QMIX: ε-greedy, linear over a fraction of the budget")
    clip_targets: bool = Field(True, description="IQL/VDN/QMIX: clamp bootstrapped values to the range the "
                                                  "rewards seen so far allow")
    standardize_rewards: bool = Field(False, description="IQL/VDN/QMIX regress on running-standardised rewards")
    hidden: list[int] = Field([64, 64], description="hidden widths of the agent networks")
    batch_size: int = Field(128, ge=1, description="off-policy minibatch")
    buffer_size: int = Field(50_000, ge=1, description="replay capacity (joint transitions)")
    warmup_steps: int = Field(1000, ge=0, description="env steps before the first update")
    train_every: int = Field(4, ge=1, description="env steps between off-policy updates")
    episodes_per_update: int = Field(8, ge=1, description="episodes per on-policy (COMA) batch")
    checkpoint_every: int = Field(100, ge=1, description="episodes between checkpoints")
    eval_episodes: int = Field(50, ge=1, description="greedy evaluation episodes at the end")
    seed: int = Field(0, description="random seed")

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> JointEnv:
        """The task, for checks before training (``qrl.train_from_config``)."""
        return make_env(env_id, **{**ENV_SETTINGS, **env_kwargs})

    @model_validator(mode="after")
    def _vocabulary(self):
        unknown = sorted(set(self.env_kwargs) - set(ENV_SETTINGS))
        if unknown:
            raise ValueError(f"env_kwargs {unknown} are not task settings; use {sorted(ENV_SETTINGS)}")
        if self.epsilon.fraction is None:
            raise ValueError("multi-agent learners anneal epsilon over the budget: write epsilon: "
                             "{start: 1.0, end: 0.05, fraction: 0.5}")
        unknown = sorted(set(self.lr) - {"default", "actor", "critic"})
        if unknown:
            raise ValueError(f"lr keys {unknown} are not used here; use default, actor, critic")
        return self


def build_env(cfg: Config) -> JointEnv:
    return make_env(cfg.env_id, **{**ENV_SETTINGS, **cfg.env_kwargs})


def learning_rates(cfg: Config) -> tuple[float, float]:
    """(actor or Q-network rate, critic rate) from ``cfg.lr``, or the learner's defaults when it is empty."""
    if not cfg.lr:
        if cfg.algo_name in ("iql", "vdn", "qmix"):
            return VALUE_LR, VALUE_LR
        # a slower actor is what kept COMA stable here
        return (ACTOR_CRITIC_LR / 10 if cfg.algo_name == "coma" else ACTOR_CRITIC_LR), ACTOR_CRITIC_LR
    return lr_for(cfg.lr, "actor"), lr_for(cfg.lr, "critic")


def build_learner(cfg: Config, env: JointEnv, make_body: BodyFactory | None = None, q_net=None):
    """The learner named by ``cfg.algo_name`` with the config's shared hyperparameters.

    ``make_body`` replaces the agents' MLP body (all learners); ``q_net`` replaces the
    whole joint Q-network (value-based learners only).
    """
    body = make_body or mlp_factory(tuple(cfg.hidden))
    actor_lr, critic_lr = learning_rates(cfg)
    common = dict(gamma=cfg.gamma, make_body=body, comm=cfg.comm, msg_dim=cfg.msg_dim)
    if cfg.algo_name in ("iql", "vdn", "qmix"):
        make = {"iql": make_iql, "vdn": make_vdn, "qmix": make_qmix}[cfg.algo_name]
        return make(env, lr=actor_lr, q_net=q_net, tau=cfg.tau, standardize_rewards=cfg.standardize_rewards,
                    target_update_every=cfg.target_update_every, n_step=cfg.n_step,
                    clip_targets=cfg.clip_targets, eps_start=cfg.epsilon.start, eps_end=cfg.epsilon.end,
                    eps_fraction=cfg.epsilon.fraction, **common)
    if q_net is not None:
        raise ValueError(f"a joint Q-network needs a value-based learner (iql, vdn, qmix), not {cfg.algo_name}.")
    if cfg.algo_name == "maddpg":
        return MADDPG(env, actor_lr=actor_lr, critic_lr=critic_lr, tau=cfg.tau, team_reward=cfg.team_reward, **common)
    if cfg.algo_name == "maac":
        return MAAC(env, actor_lr=actor_lr, critic_lr=critic_lr, tau=cfg.tau, team_reward=cfg.team_reward, **common)
    return COMA(env, actor_lr=actor_lr, critic_lr=critic_lr, **common)


def agent_from_config(config: dict, make_body: BodyFactory | None = None, make_q_net=None):
    """The untrained learner a run of ``config`` (a :class:`Config` as a dict) starts from, with its env.

    It remembers ``algo`` and ``config``, so ``learner.save(path)`` / ``type(learner).load(path)``
    rebuild it in a fresh interpreter (the contract of :class:`classical.rl.base.MultiAgent`).
    """
    cfg = Config(**config)
    env = build_env(cfg)
    learner = build_learner(cfg, env, make_body, make_q_net(env) if make_q_net else None)
    learner._record_origin("classical.marl.train", config)
    learner.settings = loop_settings(cfg)
    return learner


def load_agent(run_dir, backend: str | None = None):
    """The trained learner of a run folder, ready to ``predict({agent: obs})`` (``qrl.load``)."""
    return load_multi_agent(run_dir, agent_from_config, backend)


def loop_settings(cfg: Config) -> LoopSettings:
    return LoopSettings(episodes=cfg.episodes or 10**12, max_env_steps=cfg.total_env_steps, batch_size=cfg.batch_size,
                        buffer_size=cfg.buffer_size, warmup_steps=cfg.warmup_steps, train_every=cfg.train_every,
                        episodes_per_update=cfg.episodes_per_update, checkpoint_every=cfg.checkpoint_every,
                        seed=cfg.seed)


def run(cfg: Config, run: RunDir, learner=None) -> dict:
    """Train, checkpoint, plot ``curve.png``, evaluate greedily into ``eval.csv``; return a summary.

    ``learner``: one built by :func:`agent_from_config` with other networks (``hybrid.marl_quantum``
    puts circuits in the agents), seeded by the caller; default: the config's own.
    """
    torch.set_num_threads(1)
    if learner is None:
        seed_everything(cfg.seed)              # the networks' initial weights
        learner = agent_from_config(cfg.model_dump(mode="json"))
    env = learner.env
    out = train(env, learner, learner.settings, run)
    run.plot_curve(x="episode", y="return", title=f"{cfg.algo_name} on {cfg.env_id}")
    rows = evaluate(env, learner, cfg.eval_episodes, seed=cfg.seed)
    run.write_eval(rows)
    returns = np.array([r["return"] for r in rows])
    summary = {"episodes": len(out["returns"]), "env_steps": out["env_steps"], "eval_return_mean": float(returns.mean()),
               "eval_return_std": float(returns.std()), "n_params": learner.n_params,
               "steps_per_s": out["steps_per_s"],
               "coverage": float(np.mean([r["coverage"] for r in rows])),
               "collisions": float(np.mean([r["collisions"] for r in rows])), **agent_summary(rows)}
    if cfg.algo_name in STOCHASTIC_POLICY_ALGOS:   # also judge the policy they optimise, not only its argmax
        sampled = [r["return"] for r in evaluate(env, learner, cfg.eval_episodes, seed=cfg.seed, explore=True,
                                                 coordination=False)]
        summary["eval_sampled_return_mean"] = float(np.mean(sampled))
    if cfg.env_id == "simple_speaker_listener":
        summary.update(message_goal_information(env, learner, cfg.eval_episodes, seed=cfg.seed))
    return summary


def evaluate_checkpoint(cfg: Config, run: RunDir, episodes: int | None = None) -> dict:
    """Greedy evaluation of the learner saved in ``run``'s checkpoint (e.g. of an unfinished run).

    Returns the same summary keys as :func:`run` plus ``episode`` (training episodes done).
    """
    state = load_checkpoint_file(run.checkpoint_path)
    seed_everything(cfg.seed)
    env = build_env(cfg)
    learner = build_learner(cfg, env)
    learner.load_state_dict(state["learner"])
    rows = evaluate(env, learner, episodes or cfg.eval_episodes, seed=cfg.seed)
    returns = np.array([r["return"] for r in rows])
    return {"episode": state["episode"], "env_steps": state["env_steps"],
            "eval_return_mean": float(returns.mean()), "eval_return_std": float(returns.std()),
            "n_params": learner.n_params, "coverage": float(np.mean([r["coverage"] for r in rows])),
            "collisions": float(np.mean([r["collisions"] for r in rows]))}

"""The one training loop and evaluation shared by every multi-agent learner.

A learner is any object with

- ``_act(obs[N, D], explore: bool, progress: float, rng) -> actions[N]`` (``progress``
  runs from 0 to 1 over the training budget, for exploration schedules);
- ``update(batch: dict[str, Tensor]) -> dict[str, float]`` (losses to log);
- ``on_policy: bool`` — off-policy learners get random minibatches from the replay
  buffer; on-policy ones (COMA) get the last episodes in order, which are then dropped;
- ``team_reward: bool`` — informational; each learner reads ``batch["rewards"]`` itself;
- optionally ``n_step: int`` and ``gamma`` — off-policy batches then hold ``n_step``-step
  returns and a ``discount`` column (``MultiAgentReplayBuffer.sample_n_step``);
- ``state_dict()`` / ``load_state_dict(state)`` for checkpoints.

**Example**

>>> from classical.marl.envs import ParticleEnv, JointEnv
>>> from classical.marl.iql import make_iql
>>> env = JointEnv(ParticleEnv(n_agents=2, max_steps=5))
>>> out = train(env, make_iql(env), LoopSettings(episodes=3, warmup_steps=5, batch_size=4))
>>> len(out["returns"])
3
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from classical.common.rundir import RunDir
from classical.common.seeding import episode_seed, rng_state, seed_everything, set_rng_state
from classical.common.training import LearningSession
from classical.marl.buffer import MultiAgentReplayBuffer
from classical.marl.envs import JointEnv
from classical.marl.metrics import agent_returns, episode_coordination, step_coordination

EVAL_SEED_BASE = 10**9   # evaluation episodes never share a layout with training ones


@dataclass
class LoopSettings:
    """How long and how often to train (the learners' own hyperparameters live in them)."""

    episodes: int = 1000                 # training episodes (the budget)
    max_env_steps: int | None = None     # optional budget in joint env steps (stops first)
    batch_size: int = 64                 # minibatch size for off-policy updates
    buffer_size: int = 50_000            # replay capacity in joint transitions
    warmup_steps: int = 1000             # env steps before the first update
    train_every: int = 1                 # env steps between updates (off-policy)
    updates_per_train: int = 1           # gradient steps per update call (off-policy)
    episodes_per_update: int = 8         # episodes per on-policy batch (COMA)
    checkpoint_every: int = 100          # episodes between checkpoints (when a RunDir is given)
    seed: int = 0


def train(env: JointEnv, learner, settings: LoopSettings, run: RunDir | None = None) -> dict:
    """Train ``learner`` on ``env``; log one row per episode to ``run`` and checkpoint there.

    Returns ``{"returns": [team return per episode], "env_steps": int, "steps_per_s": float}``.
    The team return is the sum over agents of their episode rewards; each ``metrics.csv`` row
    also has the per-agent columns of :func:`~classical.marl.metrics.agent_returns`.
    """
    rng = seed_everything(settings.seed)
    buffer = MultiAgentReplayBuffer(settings.buffer_size)
    episode, env_steps, returns = 0, 0, []
    if run is not None and run.resume:
        state = run.load_checkpoint()
        if state is not None:
            learner.load_state_dict(state["learner"])
            buffer.load_state_dict(state["buffer"])
            set_rng_state(state["rng"], rng)
            episode, env_steps, returns = state["episode"], state["env_steps"], state["returns"]
    if run is not None:
        run.watch(learner)  # learning rates and gradient norms in TensorBoard
    budget_steps = settings.max_env_steps or float("inf")
    start, start_steps = time.perf_counter(), env_steps
    losses: dict[str, float] = {}
    # Ctrl-C stops after the current episode with a whole checkpoint
    with LearningSession(run, settings.checkpoint_every) as session:
        while episode < settings.episodes and env_steps < budget_steps:
            obs, state = env.reset(seed=episode_seed(settings.seed, episode))
            team_return, done, per_agent = 0.0, False, np.zeros(env.n_agents)
            while not done:
                progress = min(1.0, max(episode / settings.episodes, env_steps / budget_steps))
                actions = learner._act(obs, explore=True, progress=progress, rng=rng)
                next_obs, next_state, rewards, terminated, truncated = env.step(actions)
                buffer.add_step(obs, state, actions, rewards, next_obs, next_state, terminated, truncated)
                team_return += float(rewards.sum())
                per_agent += rewards
                obs, state, done = next_obs, next_state, terminated or truncated
                env_steps += 1
                if (not learner.on_policy and env_steps >= settings.warmup_steps
                        and env_steps % settings.train_every == 0):
                    n_step = getattr(learner, "n_step", 1)
                    for _ in range(settings.updates_per_train):
                        batch = (buffer.sample(settings.batch_size, rng) if n_step == 1 else
                                 buffer.sample_n_step(settings.batch_size, n_step, learner.gamma, rng))
                        losses = learner.update(batch)
            episode += 1
            returns.append(team_return)
            if learner.on_policy and episode % settings.episodes_per_update == 0:
                losses = learner.update(buffer.recent(len(buffer)))
                buffer.clear()
            if run is not None:
                run.log({"episode": episode, "env_steps": env_steps, "return": team_return,
                         **agent_returns(per_agent, env.agents, env.zero_sum), **losses})
            session.step_done(episode - 1, episode, lambda: {
                "learner": learner.state_dict(), "buffer": buffer.state_dict(), "rng": rng_state(rng),
                "episode": episode, "env_steps": env_steps, "returns": returns, "settings": asdict(settings)},
                last=episode >= settings.episodes or env_steps >= budget_steps)
    elapsed = time.perf_counter() - start
    return {"returns": returns, "env_steps": env_steps,
            "steps_per_s": (env_steps - start_steps) / elapsed if elapsed > 0 else float("nan")}


def evaluate(env: JointEnv, learner, episodes: int = 20, seed: int = 0, explore: bool = False,
             coordination: bool = True) -> list[dict]:
    """Run ``episodes`` greedy episodes (``explore=False``) on fixed evaluation layouts.

    Returns one row per episode: ``episode``, ``return`` (team return), the per-agent and
    per-team returns and wins of :func:`~classical.marl.metrics.agent_returns` and, when
    ``coordination``, the :func:`~classical.marl.metrics.episode_coordination` columns.
    """
    rng = np.random.default_rng(seed)
    rows = []
    with torch.no_grad():
        for k in range(episodes):
            obs, _ = env.reset(seed=EVAL_SEED_BASE + seed * 10_007 + k)
            team_return, done, steps, per_agent = 0.0, False, [], np.zeros(env.n_agents)
            while not done:
                obs, _, rewards, terminated, truncated = env.step(
                    learner._act(obs, explore=explore, progress=1.0, rng=rng))
                team_return += float(rewards.sum())
                per_agent += rewards
                done = terminated or truncated
                if coordination:
                    steps.append(step_coordination(*env.positions()))
            row = {"episode": k, "return": team_return, **agent_returns(per_agent, env.agents, env.zero_sum)}
            if coordination:
                row.update(episode_coordination(steps))
            rows.append(row)
    return rows

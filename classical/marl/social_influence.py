"""Social influence as intrinsic reward (Jaques et al., 2019), on MAPPO.

An agent ``k`` *influences* another agent ``j`` when its action changes what ``j`` does
next. Jaques et al. measure it causally, by asking what ``j``'s policy would have been
had ``k`` acted otherwise, and marginalising over ``k``'s counterfactual actions:

    ``c_k(t) = Σ_{j≠k} KL( π_j(· | o_j(t+1), a_k(t))  ‖  Σ_ã π_k(ã | o_k(t)) π_j(· | o_j(t+1), ã) )``

The first argument is ``j``'s policy given the action ``k`` really took; the second is
``j``'s policy averaged over the actions ``k`` could have taken — its *marginal* policy,
as if ``k``'s action were unknown. Only ``k``'s action is replaced: the rest of ``j``'s
observation is held fixed, so the divergence is the counterfactual effect of the action
alone. Agent ``k`` is trained on ``r_k + influence_weight · c_k``.

Here the channel through which ``j`` sees ``k``'s action is the observation:
:class:`PreviousActionsEnv` appends every agent's previous action (one-hot) to each
agent's observation, so ``o_j(t+1)`` carries ``a_k(t)`` and the counterfactual replaces
that block (one step of delay, where the paper's basic variant lets influencees see
the influencers' action of the same step). The learner is
:class:`~classical.marl.mappo.MAPPO` (decentralised actors, centralised critic,
per-agent rewards) unchanged but for the intrinsic term; ``influence_weight: 0`` is
the ablation that sees the same observations.

Counterfactual credit per agent: :func:`counterfactual_credit` asks the simulator what
the team reward would have been had agent ``k`` drawn its action from its own policy
while the others kept theirs (a difference reward with the policy's expectation as the
default action, the quantity COMA's baseline learns with a critic), reported per agent
at evaluation.

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir, load_checkpoint_file, read_checkpoint_config
>>> cfg = Config(env_kwargs={"n_agents": 2, "max_steps": 5}, episodes=8, episodes_per_update=4, eval_episodes=2)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["episodes"], summary["env_steps"], sorted(k for k in summary if k.startswith("influence_"))
(8, 40, ['influence_agent_0', 'influence_agent_1'])
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from classical.common.rundir import RunDir, load_checkpoint_file, read_checkpoint_config
from classical.common.seeding import seed_everything
from classical.marl import mappo
from classical.marl.envs import JointEnv, make_joint_env
from classical.marl.loop import EVAL_SEED_BASE

EPS = 1e-12


class Config(mappo.Config):
    """MAPPO with the social-influence reward; ``configs/marl_particle_influence*.yaml`` are presets."""

    env_id: str = Field("particle", description="'particle' or an mpe2 task with discrete actions")
    env_kwargs: dict[str, Any] = Field(
        default_factory=lambda: {"n_agents": 2, "mode": "cooperative", "max_steps": 5},
        description="keyword arguments of the task")
    influence_weight: float = Field(1.0, ge=0, description="weight of the influence reward c_k added to r_k "
                                                            "(0: plain MAPPO on the same observations)")
    credit_episodes: int = Field(20, ge=0, description="evaluation episodes for the per-agent counterfactual "
                                                       "credit (0: skip it)")


class PreviousActionsEnv(JointEnv):
    """A :class:`JointEnv` whose observations end with every agent's previous action, one-hot.

    Agent ``i``'s observation is ``[own observation (padded), onehot(a_0(t-1)), …, onehot(a_{N-1}(t-1))]``;
    the block of agent ``k`` starts at :meth:`action_block` ``(k)``. At the first step of an
    episode the blocks are zero.

    **Example**

    >>> from classical.marl.envs import ParticleEnv
    >>> env = PreviousActionsEnv(ParticleEnv(n_agents=2, max_steps=3))
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape, float(obs[:, 10:].sum())
    ((2, 20), 0.0)
    >>> obs, *_ = env.step(np.array([3, 1]))
    >>> obs[0, env.action_block(0)].tolist(), obs[1, env.action_block(1)].tolist()
    ([0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, env):
        super().__init__(env)
        if self.continuous:
            raise ValueError("social influence marginalises over an agent's discrete actions; this task has Box "
                             "actions (use its discrete version: continuous_actions: false).")
        self.base_dim = self.obs_dim
        self.obs_dim = self.base_dim + self.n_agents * self.n_actions
        self.previous = np.zeros((self.n_agents, self.n_actions), np.float32)

    def action_block(self, k: int) -> slice:
        """Where agent ``k``'s previous action sits in every observation."""
        start = self.base_dim + k * self.n_actions
        return slice(start, start + self.n_actions)

    def _stack(self, obs: dict) -> np.ndarray:
        out = np.zeros((self.n_agents, self.obs_dim), dtype=np.float32)
        for i, a in enumerate(self.agents):
            if a in obs:
                out[i, : self.obs_dims[i]] = obs[a]
        out[:, self.base_dim:] = self.previous.reshape(-1)
        return out

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        self.previous = np.zeros_like(self.previous)
        return super().reset(seed)

    def step(self, actions: np.ndarray):
        self.previous = np.eye(self.n_actions, dtype=np.float32)[np.asarray(actions, dtype=int)]
        return super().step(actions)


def influence_rewards(probs: Callable[[torch.Tensor], torch.Tensor], obs: torch.Tensor, next_obs: torch.Tensor,
                      has_next: torch.Tensor, blocks: list[slice]) -> torch.Tensor:
    """Each agent's causal influence on the others' next policies, ``c[t, k]`` (module docstring).

    Args:
        probs: the joint policy, observations ``[B, N, D]`` → action probabilities ``[B, N, A]``.
        obs: observations at ``t``, ``[T, N, D]`` (they give ``π_k(· | o_k(t))``).
        next_obs: observations at ``t + 1``, ``[T, N, D]``, holding the actions taken at ``t``.
        has_next: ``[T]``, 0 where the episode ended at ``t`` (no next policy to influence).
        blocks: ``blocks[k]`` is where agent ``k``'s action sits in ``next_obs`` (one-hot, ``A`` wide).

    Returns:
        ``[T, N]``: ``Σ_{j≠k} KL(p(a_j | a_k) ‖ p(a_j))`` in nats.

    **Example**

    >>> table = torch.tensor([[0.9, 0.1], [0.2, 0.8]])      # agent 1 copies agent 0's last action
    >>> probs = lambda o: torch.stack([torch.full((len(o), 2), 0.5), o[:, 1, :2] @ table], dim=1)
    >>> o = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])          # both see that agent 0 took action 0
    >>> c = influence_rewards(probs, o, o, torch.ones(1), [slice(0, 2), slice(2, 2)])
    >>> round(float(c[0, 0]), 4), float(c[0, 1])               # KL([.9, .1] ‖ [.55, .45]); agent 1 has no block
    (0.2928, 0.0)
    """
    t_len, n, _ = next_obs.shape
    with torch.no_grad():
        now = probs(obs)                                                       # [T, N, A]
        actual = probs(next_obs)                                               # [T, N, A]
        out = torch.zeros(t_len, n)
        for k, block in enumerate(blocks):
            width = block.stop - block.start
            if width == 0:
                continue
            cf = next_obs[:, None].repeat(1, width, 1, 1)                      # [T, ã, N, D]
            cf[..., block] = torch.eye(width)[None, :, None, :]
            p_cf = probs(cf.reshape(t_len * width, n, -1)).reshape(t_len, width, n, -1)
            marginal = (now[:, k, :width, None, None] * p_cf).sum(1)           # [T, N, A]
            kl = (actual * (torch.log(actual + EPS) - torch.log(marginal + EPS))).sum(-1)
            kl[:, k] = 0.0
            out[:, k] = kl.clamp(min=0.0).sum(-1) * has_next
    return out


class SocialInfluenceMAPPO(mappo.MAPPO):
    """MAPPO whose agents also earn their social influence on the others (module docstring).

    **Example**

    >>> agent = SocialInfluenceMAPPO(Config(env_kwargs={"n_agents": 2, "max_steps": 5}))
    >>> agent.env.obs_dim, agent.n_params > 0
    (20, True)
    """

    def __init__(self, cfg: Config, env: PreviousActionsEnv | None = None, backend: Any = None):
        super().__init__(cfg, env or make_influence_env(cfg.env_id, cfg.env_kwargs), backend)
        self.blocks = [self.env.action_block(k) for k in range(self.n_agents)]
        self.last_influence = np.zeros(self.n_agents)

    def probs(self, obs: torch.Tensor) -> torch.Tensor:
        """The sampling policy's action probabilities ``[B, N, A]``."""
        return torch.softmax(self.logits(obs), dim=-1)

    def update(self, batch: dict[str, torch.Tensor], agents: list[int] | None = None) -> dict[str, float]:
        """Add ``influence_weight · c`` to the rewards of a batch of whole episodes, then one PPO update."""
        obs = batch["obs"]
        ends = (batch["terminated"] + batch["truncated"]).clamp(max=1.0)
        next_obs = torch.cat([obs[1:], obs[-1:]])         # whole episodes in order: o(t+1) unless t ended one
        c = influence_rewards(self.probs, obs, next_obs, 1.0 - ends, self.blocks)
        self.last_influence = c.mean(0).numpy()
        stats = super().update({**batch, "rewards": batch["rewards"] + self.cfg.influence_weight * c}, agents)
        return {**stats, **{f"influence_{a}": float(v) for a, v in zip(self.env.agents, self.last_influence)}}

    def predict(self, obs: dict, state: np.ndarray | None = None, episode_start: bool | None = None,
                deterministic: bool = True) -> tuple[dict, np.ndarray]:
        """SB3-style with memory: ``state`` is the previous joint action (``None`` at an episode's start).

        Returns ``({agent: action}, state)``; pass ``state`` back with the next observation.
        """
        n, a = self.n_agents, self.n_actions
        self.env.previous = np.zeros((n, a), np.float32) if state is None or episode_start \
            else np.eye(a, dtype=np.float32)[np.asarray(state, dtype=int)]
        with torch.no_grad():
            logits = self.logits(torch.as_tensor(self.env._stack(obs))[None])[0]
        actions = (logits.argmax(-1) if deterministic else torch.distributions.Categorical(logits=logits).sample())
        actions = actions.numpy()
        return {ag: int(actions[i]) for i, ag in enumerate(self.env.agents) if ag in obs}, actions

    @classmethod
    def load(cls, path: str | Path) -> SocialInfluenceMAPPO:
        saved = torch.load(path, weights_only=True)
        agent = cls(Config(**saved["config"]))
        agent.load_state_dict(saved["learner"])
        return agent


def make_influence_env(env_id: str, env_kwargs: dict | None = None) -> PreviousActionsEnv:
    """The task of ``env_id`` with the previous joint action in every observation."""
    return PreviousActionsEnv(make_joint_env(env_id, env_kwargs).env)


def counterfactual_credit(env: PreviousActionsEnv, agent: SocialInfluenceMAPPO, episodes: int,
                          seed: int = 0) -> np.ndarray:
    """Mean per-step counterfactual credit of each agent's greedy action for the team reward.

    At every step of ``episodes`` greedy episodes, agent ``k``'s credit is
    ``R(s, a) − Σ_ã π_k(ã | o_k) R(s, (ã, a_{−k}))``, with ``R`` the team reward (sum over
    agents) of the step, each counterfactual step simulated on a copy of the environment.

    Returns:
        ``[N]``: credit per agent, averaged over all steps.
    """
    credit, steps = np.zeros(env.n_agents), 0
    for e in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED_BASE + seed * 10_007 + e)
        done = False
        while not done:
            with torch.no_grad():
                pi = agent.probs(torch.as_tensor(obs)[None])[0].numpy()
            actions = pi.argmax(-1)
            for k in range(env.n_agents):
                alternatives = []
                for a in range(env.n_actions):
                    sim = copy.deepcopy(env.env)
                    joint = actions.copy()
                    joint[k] = a
                    _, rew, *_ = sim.step({ag: int(joint[i]) for i, ag in enumerate(env.agents) if ag in sim.agents})
                    alternatives.append(sum(rew.values()))
                credit[k] -= float(pi[k] @ np.asarray(alternatives))
            obs, _, rewards, terminated, truncated = env.step(actions)
            credit += float(rewards.sum())
            steps += 1
            done = terminated or truncated
    return credit / max(steps, 1)


def load_agent(run_dir: str | Path, backend: str | None = None) -> SocialInfluenceMAPPO:
    """The trained agent of a run directory (``qrl.load``), optionally with circuits on another backend."""
    settings = read_checkpoint_config(run_dir) or {}
    settings.pop("algo", None)
    agent = SocialInfluenceMAPPO(Config(**{**settings, **({"backend": backend} if backend else {})}))
    agent.load_state_dict(load_checkpoint_file(Path(run_dir) / "checkpoint.pt")["learner"])
    return agent


def run(cfg: Config, run_dir: RunDir) -> dict:
    """Train with the influence reward (MAPPO's loop), evaluate; add per-agent influence and credit."""
    seed_everything(cfg.seed)              # the networks' initial weights
    agent = SocialInfluenceMAPPO(cfg, backend=run_dir.backend)
    summary = mappo.run(cfg, run_dir, agent=agent)
    out = {**summary, **{f"influence_{a}": float(v) for a, v in zip(agent.env.agents, agent.last_influence)}}
    if cfg.credit_episodes:
        credit = counterfactual_credit(agent.env, agent, cfg.credit_episodes, seed=cfg.seed)
        out.update({f"credit_{a}": float(v) for a, v in zip(agent.env.agents, credit)})
    return out

